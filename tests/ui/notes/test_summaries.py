"""A saved note's list entry carries the word count the store made as it sealed the note:
the GUI thread counts no words when a note is created, saved, pinned, imported or opened."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import cove.notes.note as note_module
from tests.ui.notes.conftest import NotesApp
from tests.ui.notes.test_index_lane import Maker


def test_summaries_come_with_the_stored_word_count_and_no_count_on_the_gui_thread(
        qtbot: QtBot, notes_app: Maker, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    na: NotesApp = notes_app()
    counted_on: list[str] = []
    count = note_module.word_count

    def recording(text: str) -> int:
        counted_on.append(threading.current_thread().name)
        return count(text)

    monkeypatch.setattr(note_module, "word_count", recording)
    summaries: list[object] = []
    na.notes.sig_summary.connect(summaries.append)
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000) as opened:
        na.notes.create_note("Harbour lights\none two three")
    note_id = opened.args[0].id
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.notes.save_text(note_id, "Harbour lights\none two three four five")
    with qtbot.waitSignal(na.notes.sig_summary, timeout=5_000):
        na.notes.set_pinned(note_id, True)
    imported = tmp_path / "tides.md"
    imported.write_text("Tides\nhigh and low", encoding="utf-8")
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
        na.notes.import_file(imported)
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
        na.notes.open_note(note_id)
    assert [(s.title, s.words) for s in summaries] == [  # type: ignore[attr-defined]
        ("Harbour lights", 5), ("Harbour lights", 7), ("Harbour lights", 7), ("Tides", 4),
        ("Harbour lights", 7)]
    assert threading.main_thread().name not in counted_on
