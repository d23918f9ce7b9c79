"""A window with a real encrypted history, the notes workspace in it, and a fake model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from cove.ui.notes.presenter import NotesPresenter
from cove.ui.notes.session import NotesSession
from tests.apphelpers import Opened, Opener, set_up_with_passphrase


@dataclass
class NotesApp:
    app: Opened
    notes: NotesSession
    presenter: NotesPresenter

    @property
    def workspace(self):  # type: ignore[no-untyped-def]
        return self.presenter.workspace


@pytest.fixture
def notes_app(qtbot: QtBot, open_app: Opener) -> Iterator[Callable[..., NotesApp]]:
    def make(**engine: Any) -> NotesApp:
        app = open_app(**engine)
        notes = NotesSession(app.session, app.window)
        presenter = NotesPresenter(app.window, notes)
        with qtbot.waitSignal(notes.sig_listed, timeout=10_000):
            set_up_with_passphrase(qtbot, app)
        return NotesApp(app, notes, presenter)

    yield make
