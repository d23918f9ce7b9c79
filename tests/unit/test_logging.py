from __future__ import annotations

import errno
import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path

import pytest

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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_the_log_is_private_even_when_an_older_one_was_not(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "cove.log"
    log_file.parent.mkdir()
    log_file.write_text("from an older Cove\n")
    os.chmod(log_file, 0o644)
    previous = sys.excepthook
    try:
        assert setup_logging(log_file)
        assert log_file.stat().st_mode & 0o777 == 0o600
        handler = next(h for h in logging.getLogger().handlers
                       if isinstance(h, logging.handlers.RotatingFileHandler))
        handler.doRollover()  # the new file after a rotation is private too
        assert log_file.stat().st_mode & 0o777 == 0o600
    finally:
        sys.excepthook = previous
        _remove_file_handlers()


def test_a_log_that_cannot_be_written_is_one_line_and_cove_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "logs" / "cove.log"
    log_file.mkdir(parents=True)  # a folder where the file should be
    previous = sys.excepthook
    try:
        assert not setup_logging(log_file)
    finally:
        sys.excepthook = previous
    err = capsys.readouterr().err
    assert err == (f"cove: cannot write the log file {log_file} (something other than a file "
                   "stands in its place); continuing without a log.\n")


def test_a_full_disk_while_logging_is_one_line_not_a_traceback_per_event(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "logs" / "cove.log"
    previous = sys.excepthook
    try:
        setup_logging(log_file)
        handler = next(h for h in logging.getLogger().handlers
                       if isinstance(h, logging.handlers.RotatingFileHandler))

        class FullDisk(io.StringIO):
            def write(self, _text: str) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

        handler.stream = FullDisk()  # type: ignore[assignment]
        for _ in range(3):
            logging.getLogger("cove").warning("an event")
    finally:
        sys.excepthook = previous
        _remove_file_handlers()
    err = capsys.readouterr().err
    assert err == (f"cove: cannot write the log file {log_file} (the disk is full); "
                   "later events are not logged.\n")


def _remove_file_handlers() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers
                    if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(handler)
        handler.close()
