"""NoteStore on a real SQLite file with real encryption: round trips, order, damage, locking,
and the canary: nothing typed into a note reaches any file under COVE_HOME in plaintext."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cove.notes.note import WORD_RULE, Note
from cove.storage.crypto import KdfParams
from cove.storage.errors import NotFound, StoreLocked
from cove.storage.notes import BODY_FORMAT, NOTES, NoteDamaged, seal_note
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


def sealed_body(store: ConversationStore, note_id: str) -> bytes:
    """The note's stored body, opened (its plaintext)."""
    with store._db() as conn:
        blob = conn.execute("SELECT body FROM notes WHERE id = ?", (note_id,)).fetchone()[0]
    return store._require_cipher().open(NOTES, note_id, note_id, 0, blob)


def replace_body(store: ConversationStore, note_id: str, body: bytes) -> None:
    cipher = store._require_cipher()
    with store._transaction() as conn:
        conn.execute("UPDATE notes SET body = ? WHERE id = ?",
                     (cipher.seal(NOTES, note_id, note_id, 0, body), note_id))


def test_a_format_1_body_is_read_and_rewritten_in_format_2_when_it_changes(
        tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        note = store.notes.create_note("placeholder")
        assert sealed_body(store, note.id)[0] == BODY_FORMAT
        replace_body(store, note.id, json.dumps(
            {"text": "Three old words", "pinned": False, "created": 5.0, "updated": 6.0,
             "project": "abc"}).encode())
    with open_store(path) as store:
        [summary] = store.notes.list_notes()
        assert (summary.title, summary.words, summary.updated) == ("Three old words", 3, 6.0)
        store.notes.set_pinned(note.id, True)
        body = sealed_body(store, note.id)
        assert body[0] == BODY_FORMAT and b"Three old words" in body
    with open_store(path) as store:
        loaded = store.notes.load_note(note.id)
        assert (loaded.text, loaded.pinned, loaded.created, loaded.project) == (
            "Three old words", True, 5.0, "abc")


def test_the_stored_word_count_is_what_the_list_shows_unless_counted_by_other_rules(
        tmp_path: Path) -> None:
    """Unlocking reads each note's count from its body; one counted under another rule
    (an older word_count) is counted again."""
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        stored = store.notes.create_note("one two three")
        stale = store.notes.create_note("four five")
        cipher = store._require_cipher()
        with store._transaction() as conn:
            for note, words in ((stored, 99), (stale, 77)):
                conn.execute("UPDATE notes SET body = ? WHERE id = ?",
                             (seal_note(cipher, note, words), note.id))
        body = bytearray(sealed_body(store, stale.id))
        body[1] = WORD_RULE + 1
        replace_body(store, stale.id, bytes(body))
    with open_store(path) as store:
        words = {s.id: s.words for s in store.notes.list_notes()}
        assert words == {stored.id: 99, stale.id: 2}
        store.notes.save_text(stored.id, "now four words here")
        assert {s.id: s.words for s in store.notes.list_notes()}[stored.id] == 4


@pytest.mark.parametrize("text", ["", "plain", "line\nbreaks\r\n\ttabs", "emoji 🌊 and 中文",
                                  "ends in U+0080 \x80", "nul \x00 inside\x00",
                                  "lone surrogate \ud800 kept", "€" * 3000])
def test_any_text_round_trips_in_format_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        note = store.notes.create_note(text, pinned=True)
        store.notes.set_project(note.id, "Projekt-ü")
    with open_store(path) as store:
        loaded = store.notes.load_note(note.id)
        assert (loaded.text, loaded.pinned, loaded.project) == (text, True, "Projekt-ü")
        assert store.notes.list_notes()[0].words == len(text.split())


@pytest.mark.parametrize("damage", [
    lambda body: body[:10],  # cut inside the header
    lambda body: bytes([9]) + body[1:],  # a format this Cove does not know
    lambda body: body[:-1] + b"\xff",  # text that is not UTF-8
    # The project id's length, the header's last two bytes: longer than the body
    lambda body: body[:23] + b"\xff\xff" + body[25:],
], ids=["short", "format", "utf-8", "project"])
def test_a_malformed_format_2_body_shows_as_damaged(
        tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "cove.db"
    with open_store(path) as store:
        good = store.notes.create_note("fine")
        bad = store.notes.create_note("will be damaged")
        replace_body(store, bad.id, damage(sealed_body(store, bad.id)))
    with open_store(path) as store:
        listed = {s.id: s for s in store.notes.list_notes()}
        assert listed[bad.id].damaged and not listed[good.id].damaged
        with pytest.raises(NoteDamaged):
            store.notes.load_note(bad.id)
