"""The command line: `cove` (the window, the smoke mode) and `cove history …`."""
