"""The smoke mode (`cove --smoke-test PROMPT`): drives the real window, prints the reply."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from cove import APP_NAME
from cove.core.conversation import ReplyStats
from cove.ui.chat.window import MainWindow

if TYPE_CHECKING:
    from cove.ui.history.session import HistorySession


class SmokeTest:
    """Drives the real window: sends the prompt through the composer and prints the reply.

    It waits for the model and for the history (`watch_history`, once start-up has made it);
    a history it cannot unlock (no keyring and no COVE_PASSPHRASE) is reported on stderr and
    the reply is simply not saved.
    """

    def __init__(self, window: MainWindow, prompt: str, timeout_s: float) -> None:
        self.window = window
        self.prompt = prompt
        self.exit_code = 1
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
            print(f"{APP_NAME} smoke test: the conversation will not be saved ({reason})",
                  file=sys.stderr, flush=True)
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
        print(reply.text, flush=True)
        print(json.dumps(stats.as_dict()), flush=True)
        self._end(0)

    def fail(self, message: str) -> None:
        print(f"{APP_NAME} smoke test failed: {message}", file=sys.stderr, flush=True)
        self._end(1)

    def _end(self, code: int) -> None:
        if self._done:
            return
        self._done = True
        self.exit_code = code
        self._timer.stop()
        # Let the current signal finish before the window (and its worker) go away.
        QTimer.singleShot(0, self.window.close)
