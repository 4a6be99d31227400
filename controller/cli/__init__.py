"""The `gwlab` command line: one module per command, registered on the app in `controller.cli.app`.

It sits above everything else: it may import the controller and the lab; nothing in `lab/` or in the
rest of `controller/` imports it (tests/test_layering.py checks).
"""
