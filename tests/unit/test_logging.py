from __future__ import annotations

import logging
import sys
from pathlib import Path

from cove.logging_setup import log_uncaught, setup_logging


def test_uncaught_error_is_logged_without_its_message(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "cove.log"
    previous = sys.excepthook
    try:
        setup_logging(log_file)
        secret = "".join(["secret prompt ", "text 7f3a"])  # not on one source line
        try:
            raise ValueError(secret)
        except ValueError as error:
            log_uncaught(type(error), error, error.__traceback__)
    finally:
        sys.excepthook = previous
        for handler in logging.getLogger().handlers:
            handler.flush()
    written = log_file.read_text()
    assert "ValueError (message withheld)" in written
    assert "test_uncaught_error_is_logged_without_its_message" in written
    assert "secret prompt text" not in written
