"""Logging to a rotating file: events and errors only, never prompt or reply text."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path, level: int = logging.INFO) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(level)
    for old in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    sys.excepthook = log_uncaught


def redacted_traceback(
    kind: type[BaseException], tb: TracebackType | None
) -> str:
    """A traceback with the exception's message left out: messages can quote user text."""
    frames = "".join(traceback.format_tb(tb))
    return f"Traceback (most recent call last):\n{frames}{kind.__name__} (message withheld)"


def log_uncaught(kind: type[BaseException], error: BaseException,
                 tb: TracebackType | None) -> None:
    """Record an unexpected error without its message; Qt keeps the app running."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("cove").error("uncaught error\n%s", redacted_traceback(kind, tb))
    print(f"Cove hit an unexpected error ({kind.__name__}); details are in the log.",
          file=sys.stderr)
