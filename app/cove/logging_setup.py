"""Logging to a rotating file: events and errors only, never prompt or reply text."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import cast

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FILE_MODE = 0o600  # the log names models and events: this user's business only


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the live one and each after rotation) are 0600."""

    def _open(self) -> io.TextIOWrapper:
        def private(path: str, flags: int) -> int:
            return os.open(path, flags, FILE_MODE)

        stream = cast(io.TextIOWrapper, open(  # noqa: SIM115  (the handler closes it)
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
            opener=private))
        if os.name == "posix":
            os.fchmod(stream.fileno(), FILE_MODE)  # a log an older Cove left 0644
        return stream

    def handleError(self, record: logging.LogRecord) -> None:
        # logging's own handler prints a traceback for every failed record; a full disk would
        # fill the terminal with them. One line, once.
        if not getattr(self, "_reported", False):
            self._reported = True
            error = sys.exc_info()[1]
            problem = _log_problem(error) if isinstance(error, OSError) else "it failed"
            print(f"cove: cannot write the log file {self.baseFilename} ({problem}); "
                  "later events are not logged.", file=sys.stderr)


def setup_logging(log_file: Path, level: int = logging.INFO) -> bool:
    """Log to `log_file` from now on; False (after one line on stderr) when it cannot be
    written, and Cove runs without a log rather than not at all."""
    root = logging.getLogger()
    root.setLevel(level)
    sys.excepthook = log_uncaught
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = PrivateRotatingFileHandler(
            log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as error:
        print(f"cove: cannot write the log file {log_file} ({_log_problem(error)}); "
              "continuing without a log.", file=sys.stderr)
        return False
    handler.setFormatter(logging.Formatter(FORMAT))
    for old in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    return True


def _log_problem(error: OSError) -> str:
    from cove.core.fsutil import disk_problem

    return {"in the way": "something other than a file stands in its place",
            "read-only": "its folder is read-only or not yours",
            "full": "the disk is full"}.get(disk_problem(error) or "",
                                              error.strerror or type(error).__name__)


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
