"""One module per link kind (containerlab-style): veth pairs, bridges, VXLAN tunnels."""
