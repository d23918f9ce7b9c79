"""NoteStore on a real SQLite file with real encryption: round trips, order, damage, locking,
and the canary: nothing typed into a note reaches any file under COVE_HOME in plaintext."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from cove.notes.note import Note
from cove.storage.crypto import KdfParams
from cove.storage.errors import NotFound, StoreLocked
from cove.storage.notes import NOTES, NoteDamaged
from cove.storage.store import ConversationStore, default_store_path
from tests.unit.storage.test_canary import encoded, files_holding, log_file  # noqa: F401

PASSPHRASE = "a long enough passphrase"


def open_store(path: Path) -> ConversationStore:
    store = ConversationStore.open(path)
    if store.is_set_up:
        store.unlock_with_passphrase(PASSPHRASE)
    else:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
    return store


def test_notes_round_trip_and_list_pinned_first_then_newest(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        first = store.notes.create_note("# Groceries\n- milk")
        second = store.notes.create_note("Letter to Ana")
        third = store.notes.create_note("Ideas")
        store.notes.set_pinned(first.id, True)
        store.notes.save_text(third.id, "Ideas, more of them")
    with open_store(path) as store:
        listed = store.notes.list_notes()
        assert [s.title for s in listed] == ["Groceries", "Ideas, more of them",
                                             "Letter to Ana"]
        assert listed[0].pinned and listed[0].words == 4
        assert store.notes.load_note(second.id).text == "Letter to Ana"
        store.notes.delete_note(second.id)
        with pytest.raises(NotFound):
            store.notes.load_note(second.id)
        with pytest.raises(NotFound):
            store.notes.delete_note(second.id)
        assert len(store.notes.all_notes()) == 2


def test_locking_forgets_notes_and_refuses_reads(tmp_path: Path) -> None:
    with open_store(tmp_path / "cove.db") as store:
        note = store.notes.create_note("secret plans")
        store.lock()
        with pytest.raises(StoreLocked):
            store.notes.list_notes()
        store.unlock_with_passphrase(PASSPHRASE)
        assert store.notes.load_note(note.id).text == "secret plans"


def test_a_body_copied_onto_another_note_shows_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        a = store.notes.create_note("note a")
        b = store.notes.create_note("note b")
    conn = sqlite3.connect(path)
    body = conn.execute("SELECT body FROM notes WHERE id = ?", (a.id,)).fetchone()[0]
    conn.execute("UPDATE notes SET body = ? WHERE id = ?", (body, b.id))
    conn.commit()
    conn.close()
    with open_store(path) as store:
        listed = {s.id: s for s in store.notes.list_notes()}
        assert listed[b.id].damaged and listed[b.id].title == ""
        assert not listed[a.id].damaged
        with pytest.raises(NoteDamaged, match="damaged"):
            store.notes.load_note(b.id)
        with pytest.raises(NoteDamaged):
            store.notes.save_text(b.id, "overwrite")
        store.notes.delete_note(b.id)  # a damaged note can still be removed


def test_import_many_keeps_times(tmp_path: Path) -> None:
    with open_store(tmp_path / "cove.db") as store:
        ids = store.notes.import_notes(
            Note(f"note {n}", created=1000.0 + n) for n in range(50))
        assert len(ids) == 50
        listed = store.notes.list_notes()
        assert listed[0].title == "note 49" and listed[0].updated == 1049.0


def test_a_note_canary_is_never_on_disk_before_or_after_delete(
        cove_home: Path, log_file: Path) -> None:  # noqa: F811
    canary = f"canary-{secrets.token_hex(6)}-Ünïcödé"
    path = default_store_path()
    with open_store(path) as store:
        note = store.notes.create_note(f"# Diary {canary}\n")
        for n in range(30):  # autosaves as it is typed
            store.notes.save_text(note.id, f"# Diary {canary}\n" + f"more {canary} " * n * 40)
        store.notes.set_pinned(note.id, True)
        assert files_holding(cove_home, encoded(canary)) == []
        store.notes.delete_note(note.id)
        assert files_holding(cove_home, encoded(canary)) == []
    assert files_holding(cove_home, encoded(canary)) == []
    assert log_file.exists()


def test_a_body_written_before_projects_loads_in_no_project(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        note = store.notes.create_note("Old note")
        cipher = store._require_cipher()
        old = json.dumps({"text": "Old note", "pinned": True, "created": 1.0,
                          "updated": 2.0}).encode()
        with store._transaction() as conn:
            conn.execute("UPDATE notes SET body = ? WHERE id = ?",
                         (cipher.seal(NOTES, note.id, note.id, 0, old), note.id))
    with open_store(path) as store:
        loaded = store.notes.load_note(note.id)
        assert (loaded.text, loaded.pinned, loaded.project) == ("Old note", True, "")
        moved = store.notes.set_project(note.id, "p" * 16)
        assert store.notes.list_notes()[0].project == moved.project == "p" * 16
