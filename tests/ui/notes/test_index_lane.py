"""The notes' in-memory indexes are built, updated and asked on their own lane: never on the
GUI thread, never in the way of the storage lane, and a lock stops a build under way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import pytest
from pytestqt.qtbot import QtBot

from cove.notes.retrieval import NotesIndex
from cove.ui.notes.session import INDEX_PAUSE_MS
from cove.ui.tasks import Lane
from tests.ui.notes.conftest import NotesApp
from tests.ui.notes.test_workspace import new_note, type_and_save

Maker = Callable[..., NotesApp]


def index_idle(na: NotesApp) -> Callable[[], bool]:
    """No update waits for a pause in saving, and the index lane has run what it was given."""
    return lambda: not na.notes.index_waiting and not na.notes.tasks.busy(Lane.INDEX)


def write_notes(qtbot: QtBot, na: NotesApp, count: int) -> list[str]:
    na.presenter.toggle()
    ids = []
    for n in range(count):
        ids.append(new_note(qtbot, na))
        type_and_save(qtbot, na, f"Note {n}\nabout lighthouses and lamps")
    qtbot.waitUntil(index_idle(na), timeout=10_000)
    return ids


def test_the_build_and_each_saved_note_are_indexed_on_the_index_lane(
        qtbot: QtBot, notes_app: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    add_many = NotesIndex.add_many

    def recording(self: NotesIndex, notes: Iterable[tuple[str, str, str]]) -> None:
        threads.append(threading.current_thread().name)
        add_many(self, notes)

    monkeypatch.setattr(NotesIndex, "add_many", recording)
    na = notes_app()
    write_notes(qtbot, na, 2)  # each save re-indexes its note
    saves = len(threads)
    na.notes.refresh()  # as after unlocking: the whole build
    found: list[object] = []
    na.notes.retrieve("lighthouses", found.extend)  # asked at once: answered after the build
    qtbot.waitUntil(lambda: len(found) == 2, timeout=10_000)
    assert saves >= 2 and len(threads) == saves + 2
    assert all(name.startswith("cove-index") for name in threads), threads


def test_a_long_index_build_holds_up_neither_opening_nor_saving_a_note(
        qtbot: QtBot, notes_app: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    first, second = write_notes(qtbot, na, 2)
    release = threading.Event()
    add = NotesIndex.add

    def slow(self: NotesIndex, note_id: str, title: str, text: str) -> None:
        release.wait(20)  # a build of thousands of long notes
        add(self, note_id, title, text)

    monkeypatch.setattr(NotesIndex, "add", slow)
    try:
        na.notes.refresh()
        qtbot.waitUntil(lambda: na.notes.tasks.busy(Lane.INDEX), timeout=5_000)
        with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
            na.notes.open_note(first)
        with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
            na.notes.save_text(second, "Saved while the index was being built")
        assert na.notes.tasks.busy(Lane.INDEX)  # the build is still under way
    finally:
        release.set()
    qtbot.waitUntil(index_idle(na), timeout=10_000)


def test_locking_stops_an_index_build_under_way(qtbot: QtBot, notes_app: Maker,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    write_notes(qtbot, na, 5)
    added: list[str] = []
    add = NotesIndex.add

    def slow(self: NotesIndex, note_id: str, title: str, text: str) -> None:
        added.append(note_id)
        time.sleep(0.3)
        add(self, note_id, title, text)

    monkeypatch.setattr(NotesIndex, "add", slow)
    na.notes.refresh()
    qtbot.waitUntil(lambda: bool(added), timeout=5_000)
    with qtbot.waitSignal(na.notes.sig_locked, timeout=5_000):
        na.app.session.lock()
    qtbot.waitUntil(index_idle(na), timeout=10_000)
    assert len(added) < 5
    assert na.notes.passages is None and na.notes.search_index is None


def test_a_note_saved_while_typing_is_indexed_once_saving_pauses(
        qtbot: QtBot, notes_app: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    (note_id,) = write_notes(qtbot, na, 1)
    indexed: list[str] = []
    add = NotesIndex.add

    def recording(self: NotesIndex, note_id: str, title: str, text: str) -> None:
        indexed.append(text)
        add(self, note_id, title, text)

    monkeypatch.setattr(NotesIndex, "add", recording)
    for n in range(3):  # saves a typist's autosave makes, closer together than the pause
        with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
            na.notes.save_text(note_id, f"Note 0\nrevision {n} about beacons")
        qtbot.wait(INDEX_PAUSE_MS // 4)
        assert na.notes.index_waiting and indexed == []
    qtbot.waitUntil(index_idle(na), timeout=10_000)
    assert indexed == ["Note 0\nrevision 2 about beacons"]  # once, the last text


def test_a_search_right_after_a_save_sees_the_saved_text(qtbot: QtBot,
                                                          notes_app: Maker) -> None:
    na = notes_app()
    (note_id,) = write_notes(qtbot, na, 1)
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.notes.save_text(note_id, "Note 0\nnow about semaphores")
    assert na.notes.index_waiting
    hits: list[object] = []
    passages: list[object] = []
    na.notes.search("semaphores", hits.extend)
    na.notes.retrieve("semaphores", passages.extend)
    qtbot.waitUntil(lambda: len(hits) == 1 and len(passages) == 1, timeout=5_000)
    assert not na.notes.index_waiting


def test_a_note_deleted_or_locked_away_while_waiting_is_not_indexed_again(
        qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    first, second = write_notes(qtbot, na, 2)
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.notes.save_text(first, "Note 0\nabout foghorns")
    with qtbot.waitSignal(na.notes.sig_removed, timeout=5_000):
        na.notes.delete(first)
    assert not na.notes.index_waiting
    qtbot.wait(INDEX_PAUSE_MS + 200)
    hits: list[object] = []
    na.notes.search("foghorns", hits.extend)
    qtbot.waitUntil(index_idle(na), timeout=5_000)
    assert hits == []
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.notes.save_text(second, "Note 1\nabout buoys")
    with qtbot.waitSignal(na.notes.sig_locked, timeout=5_000):
        na.app.session.lock()
    assert not na.notes.index_waiting


def test_a_pause_that_ends_after_the_history_closed_indexes_nothing(
        qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    (note_id,) = write_notes(qtbot, na, 1)
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.notes.save_text(note_id, "Note 0\nabout lanterns")
    na.app.session.close()  # as the window closing does: the task manager shuts down
    assert na.notes.index_waiting
    na.notes.flush_index()  # the pause ending now raises nothing
    assert not na.notes.index_waiting
