"""Entry point for `python -m cove`."""

from cove.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
