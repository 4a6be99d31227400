"""Benchmarks: what a lab costs to bring up and take down, against its size and against munet.

`python -m bench` (or `make bench`) writes docs/benchmarks.md and bench/results.json; see
`python -m bench --help` for the run count and the quick mode.
"""
