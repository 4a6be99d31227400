"""The `gwlab` command line: one module per command, registered on the app in `lab.cli.app`."""
