"""charon processes and tunnel-endpoint namespaces (ipsec.md §1-2): one charon per tunnel end."""
