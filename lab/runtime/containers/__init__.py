"""Containers for gwlab's docker and podman runtimes: the engines (engine, dockerd), the node image
(image, wheels) and node containers (nodes). The runtime backends are built on these."""
