"""Runtimes that bring a resolved topology to life, behind one interface (base.Runtime).

backends.py names them: `netns` (netns.py, the default; needs no container engine), `docker` and
`podman` (containers/). links/ has one module per link kind, configure.py a node's addresses, routes
and sysctls, daemons.py FRR and ExaBGP; all work on any backend through the node's network
namespace. lifecycle.py builds, starts and removes labs; it never waits for convergence, which is the
controller's (controller.converge): nothing in lab/ imports controller/.
"""
