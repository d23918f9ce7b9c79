"""Entry point for `python -m cove`."""

from cove.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
