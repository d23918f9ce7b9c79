"""The smoke mode (`cove --smoke-test PROMPT`): drives the real window, prints the reply."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, TextIO

from PySide6.QtCore import QTimer

from cove import APP_NAME
from cove.core.conversation import ReplyStats
from cove.ui.chat.window import MainWindow

if TYPE_CHECKING:
    from cove.ui.history.session import HistorySession


# Exit codes: the reply printed and saved (or saving not set up); no reply; a reply printed
# that could not be saved as asked (a full disk, a wrong COVE_PASSPHRASE).
REPLIED, FAILED, NOT_SAVED = 0, 1, 2
KEY_LOST_REASON = ("the key to this history is gone from the system keyring: open Cove's "
                   "window to unlock it with your recovery key")


class SmokeTest:
    """Drives the real window: sends the prompt through the composer and prints the reply.

    It waits for the model and for the history (`watch_history`, once start-up has made it).
    A history with no key given (no keyring and no COVE_PASSPHRASE) is reported on stderr and
    the reply is simply not saved; a history that fails to unlock or to save is reported on
    stderr and ends the run with NOT_SAVED, so a script sees that its text was not kept.
    """

    def __init__(self, window: MainWindow, prompt: str, timeout_s: float) -> None:
        self.window = window
        self.prompt = prompt
        self.exit_code = FAILED
        self._save_problems: list[str] = []
        # Duplicates of stdout and stderr, taken now: llama-cpp-python points descriptors 1
        # and 2 at /dev/null for the whole process while a model loads, which would swallow
        # anything said meanwhile.
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
        self._err = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
        self._done = False
        self._model_ready = False
        self._history_ready = False
        controller = window.controller
        controller.sig_model_ready.connect(self._on_model_ready)
        controller.sig_model_failed.connect(self.fail)
        controller.sig_reply_finished.connect(self._finished)
        controller.sig_reply_failed.connect(self.fail)
        self._timer = QTimer(window)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(
            lambda: self.fail(f"No reply within {timeout_s:g} seconds; giving up.")
        )
        self._timer.start(int(timeout_s * 1000))

    def watch_history(self, session: HistorySession) -> None:
        session.sig_state.connect(self._on_history)
        session.sig_error.connect(self._on_save_problem)
        # A locked keyring's prompt: said once; the run waits for it (or its own time-out).
        session.sig_keyring_prompt.connect(lambda text: self._say(f"{APP_NAME} smoke test: {text}"))

    def _on_save_problem(self, message: str) -> None:
        self._save_problems.append(message)
        self._say(f"{APP_NAME} smoke test: {message}")

    def _on_model_ready(self, *_args: object) -> None:
        self._model_ready = True
        self._send()

    def _on_history(self, state: str, message: str) -> None:
        from cove.ui.history.session import HistoryState

        if self._history_ready or state == HistoryState.OPENING:
            return
        if state != HistoryState.UNLOCKED:
            reason = message or ("it needs a passphrase: set COVE_PASSPHRASE"
                                 if state in (HistoryState.SETUP, HistoryState.LOCKED)
                                 else state)
            if state == HistoryState.KEY_LOST:  # the page's words speak of its own buttons
                reason = KEY_LOST_REASON
            if message:  # a key was given or a file found, and it failed: not just absent
                self._save_problems.append(message)
            self._say(f"{APP_NAME} smoke test: the conversation will not be saved ({reason})")
            self.window.show_page(unlock=False)
        self._history_ready = True
        self._send()

    def _send(self) -> None:
        if not (self._model_ready and self._history_ready) or self._done:
            return
        if not self.prompt.strip():
            self.fail("The smoke test needs a prompt that is not empty.")
            return
        self.window.composer.set_text(self.prompt)
        self.window.composer.send_button.click()  # the same path a user's click takes

    def _finished(self, stats: ReplyStats, stopped: bool) -> None:
        reply = self.window.controller.last_reply()
        if stopped or reply is None:
            self.fail("The reply stopped before it was finished.")
            return
        try:
            self._out.write(reply.text + "\n" + json.dumps(stats.as_dict()) + "\n")
            self._out.flush()
        except BrokenPipeError:  # `cove --smoke-test … | head -1`: the reader has gone
            _quiet_from_now_on(self._out)
        if self._save_problems:
            self._say(f"{APP_NAME} smoke test: the reply was not saved.")
            self._end(NOT_SAVED)
        else:
            self._end(REPLIED)

    def fail(self, message: str) -> None:
        self._say(f"{APP_NAME} smoke test failed: {message}")
        self._end(FAILED)

    def _say(self, line: str) -> None:
        try:
            self._err.write(line + "\n")
            self._err.flush()
        except OSError:  # stderr closed too: nothing to tell anyone
            _quiet_from_now_on(self._err)

    def _end(self, code: int) -> None:
        if self._done:
            return
        self._done = True
        self.exit_code = code
        self._timer.stop()
        # Let the current signal finish before the window (and its worker) go away.
        QTimer.singleShot(0, self.window.close)


def _quiet_from_now_on(stream: TextIO) -> None:
    """Point a stream whose reader has gone at /dev/null, so writing (and the flush at exit)
    cannot raise again, and the run ends normally instead of hanging on an error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)
