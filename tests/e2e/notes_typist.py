"""A child process for test_notes_autosave: the real window, notes workspace and encrypted
store (fake model), typing into a new note one key every TYPE_MS until it is killed. After each
key it prints "typed N T" (N characters so far, T = time.monotonic()) to stdout, a pipe."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cove.storage.crypto import KdfParams
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.session import HistorySession
from cove.ui.notes.presenter import NotesPresenter
from cove.ui.notes.session import NotesSession
from tests.fakes import fake_factory

TYPE_MS = 20


def main(store_path: Path) -> None:
    app = QApplication([])
    window = MainWindow(ChatController(fake_factory()))
    history = HistorySession(store_path, parent=window, kdf_params=KdfParams.at_floor())
    HistoryPresenter(window, history)
    notes = NotesSession(history, window)
    presenter = NotesPresenter(window, notes)
    typed = 0

    def key() -> None:
        nonlocal typed
        QTest.keyClick(presenter.workspace.editor, Qt.Key.Key_A)
        typed += 1
        print(f"typed {typed} {time.monotonic():.4f}", flush=True)

    timer = QTimer()
    timer.setInterval(TYPE_MS)
    timer.timeout.connect(key)

    def listed(_summaries: object) -> None:
        presenter.toggle()
        notes.create_note("")

    notes.sig_listed.connect(listed)
    notes.sig_opened.connect(lambda note: (print(f"note {note.id}", flush=True),
                                           timer.start()))
    window.show()
    history.open()
    app.exec()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
