"""NoteStore: the notes kept in the history file, sealed like conversations, under its key.

Each note is one row of the `notes` table: a random id and the key id in clear, and the sealed
body (text, pinned, created, updated, project, word count) bound to its table and id, so a body
copied onto another row fails to open and shows as damaged. The store's one connection, lock and
cipher are used (``ConversationStore.notes`` makes this object); notes decrypted once are kept in
memory until the store locks, which calls ``forget``. Plain Python, no Qt: the GUI calls it on
its storage lane.

The body (format 2, schema version 4 on): a fixed header (_HEADER: the format, the word rule,
pinned, created, updated, the word count, the project id's length), the project id, then the
text's UTF-8 as written. At unlock every note is opened for the list; with 5,000 notes of 500
words, parsing the texts out of JSON (format 1) and counting their words took about 250 of the
460 ms to the list on the slower project machine, where reading a header and decoding the text
takes about 5 us a note. Format 1 bodies (a JSON object: text, pinned, created, updated,
project) are still read, and rewritten in format 2 when the note next changes.
"""

from __future__ import annotations

import json
import logging
import secrets
import struct
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from cove.notes.note import WORD_RULE, Note, NoteSummary, word_count
from cove.storage.codecs import check_id
from cove.storage.crypto import RowCipher
from cove.storage.errors import NotFound, StoreError

if TYPE_CHECKING:
    from cove.storage.store import ConversationStore

log = logging.getLogger(__name__)

NOTES = "notes"  # the table's name, as bound into each row's associated data


class NoteDamaged(StoreError):
    """A note whose stored row failed authentication: it cannot be shown or changed."""


BODY_FORMAT = 2
# format, word rule, pinned, created, updated, words, the project id's length in bytes
_HEADER = struct.Struct("<BB?ddIH")
_JSON_BODY = b"{"  # how a format 1 body begins


def _note_body(note: Note, words: int) -> bytes:
    project = note.project.encode("utf-8")
    return (_HEADER.pack(BODY_FORMAT, WORD_RULE, note.pinned, note.created, note.updated, words,
                         len(project))
            + project + note.text.encode("utf-8", "surrogatepass"))


def seal_note(cipher: RowCipher, note: Note, words: int) -> bytes:
    """The note's row body; `words`: word_count(note.text), stored so unlocking needs no count."""
    return cipher.seal(NOTES, note.id, note.id, 0, _note_body(note, words))


def _note_from_body(note_id: str, body: bytes) -> tuple[Note, int | None]:
    """The note, and its stored word count (None where it must be counted: format 1, or
    counted under another WORD_RULE)."""
    if body[:1] == _JSON_BODY:
        return _note_from_json(note_id, body), None
    if len(body) < _HEADER.size or body[0] != BODY_FORMAT:
        raise ValueError("not a note")
    _, rule, pinned, created, updated, words, project_size = _HEADER.unpack_from(body)
    start = _HEADER.size + project_size
    if len(body) < start:
        raise ValueError("not a note")
    project = body[_HEADER.size:start].decode("utf-8")
    text = body[start:].decode("utf-8", "surrogatepass")
    note = Note(text, pinned, note_id, created, updated, project)
    return note, words if rule == WORD_RULE else None


def _note_from_json(note_id: str, body: bytes) -> Note:
    value: Any = json.loads(body.decode("utf-8", "surrogatepass"))
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise ValueError("not a note")
    project = value.get("project", "")  # absent in notes written before projects
    return Note(text=value["text"], pinned=bool(value.get("pinned", False)), id=note_id,
                created=float(value["created"]), updated=float(value["updated"]),
                project=project if isinstance(project, str) else "")


class Opened(NamedTuple):
    """The notes table, opened: each note by id (None: damaged) and the word counts known."""

    notes: dict[str, Note | None]
    words: dict[str, int]


def open_notes(cipher: RowCipher, rows: list[tuple[str, str, bytes]]) -> Opened:
    """(id, key id, blob) rows of the notes table, opened; None for each damaged one."""
    bodies = cipher.open_many(NOTES, [(nid, nid, 0, key_id, blob) for nid, key_id, blob in rows])
    opened = Opened({}, {})
    for (note_id, _, _), body in zip(rows, bodies, strict=True):
        try:
            if body is None:
                raise ValueError("row failed authentication")
            note, words = _note_from_body(note_id, body)
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            opened.notes[note_id] = None
            continue
        opened.notes[note_id] = note
        if words is not None:
            opened.words[note_id] = words
    damaged = sum(note is None for note in opened.notes.values())
    if damaged:
        log.warning("damaged note rows: %d", damaged)
    return opened


def _copy(note: Note) -> Note:
    return Note(note.text, note.pinned, note.id, note.created, note.updated, note.project)


class NoteStore:
    """The notes of one ConversationStore (get it as ``store.notes``)."""

    def __init__(self, store: ConversationStore) -> None:
        # The store's private connection helpers are shared on purpose: one file, one lock,
        # one key, and this module keeps the notes' rows out of store.py.
        self._store = store
        self._notes: dict[str, Note | None] | None = None
        self._words: dict[str, int] = {}  # each note's word count, where known

    def forget(self) -> None:
        """Drop every decrypted note (the store locked)."""
        self._notes = None
        self._words = {}

    def _all(self) -> dict[str, Note | None]:
        """Every note, decrypted once per unlock; call with the store's lock held."""
        if self._notes is None:
            cipher = self._store._require_cipher()
            with self._store._db() as conn:
                rows = conn.execute("SELECT id, key_id, body FROM notes").fetchall()
            self._notes, self._words = open_notes(cipher, rows)
        return self._notes

    def list_notes(self) -> list[NoteSummary]:
        """Every note for the list: pinned first, then the most recently changed."""
        with self._store._lock:
            notes = dict(self._all())
            words = dict(self._words)
        summaries = [note.summary(words.get(note_id)) if note is not None
                     else NoteSummary(note_id, "", False, 0.0, 0.0, 0, 0, damaged=True)
                     for note_id, note in notes.items()]
        summaries.sort(key=NoteSummary.list_order)
        return summaries

    def summary_of(self, note: Note) -> NoteSummary:
        """`note`'s list entry with the word count stored for it (counted when it was saved,
        so not again here; counted now where none is known)."""
        with self._store._lock:
            words = self._words.get(note.id)
        return note.summary(words)

    def all_notes(self) -> list[Note]:
        """Copies of every readable note (for the search and Ask-my-notes indexes)."""
        with self._store._lock:
            return [_copy(note) for note in self._all().values() if note is not None]

    def load_note(self, note_id: str) -> Note:
        """A copy of the note; NotFound or NoteDamaged."""
        with self._store._lock:
            notes = self._all()
            if note_id not in notes:
                raise NotFound("No such note.")
            note = notes[note_id]
        if note is None:
            raise NoteDamaged("This note is damaged: its stored copy was changed or corrupted, "
                              "so Cove will not show it.")
        return _copy(note)

    def create_note(self, text: str = "", pinned: bool = False,
                    note_id: str | None = None) -> Note:
        """A new note, stored (durable on return)."""
        note = Note(text, pinned, check_id(note_id or secrets.token_hex(8)))
        self.import_notes([note])
        return _copy(note)

    def import_notes(self, notes: Iterable[Note]) -> list[str]:
        """Store many new notes in one transaction (file imports, benchmarks); returns ids."""
        cipher = self._store._require_cipher()
        kept = [_copy(note) for note in notes]
        words = [word_count(note.text) for note in kept]
        rows = [(check_id(note.id), cipher.key_id, seal_note(cipher, note, count))
                for note, count in zip(kept, words, strict=True)]
        with self._store._lock:
            self._all()
            with self._store._transaction() as conn:
                conn.executemany("INSERT INTO notes (id, key_id, body) VALUES (?, ?, ?)", rows)
            assert self._notes is not None
            self._notes.update((note.id, note) for note in kept)
            self._words.update((note.id, count) for note, count in zip(kept, words, strict=True))
        return [note.id for note in kept]

    def _change(self, note_id: str, **changes: Any) -> Note:
        cipher = self._store._require_cipher()
        with self._store._lock:
            current = self.load_note(note_id)
            for name, value in changes.items():
                setattr(current, name, value)
            current.updated = time.time()
            words = word_count(current.text)
            blob = seal_note(cipher, current, words)
            with self._store._transaction() as conn:
                conn.execute("UPDATE notes SET key_id = ?, body = ? WHERE id = ?",
                             (cipher.key_id, blob, note_id))
            self._all()[note_id] = current
            self._words[note_id] = words
        return _copy(current)

    def save_text(self, note_id: str, text: str) -> Note:
        """Replace the note's text (an autosave); durable (fsynced) on return."""
        return self._change(note_id, text=text)

    def set_pinned(self, note_id: str, pinned: bool) -> Note:
        return self._change(note_id, pinned=pinned)

    def set_project(self, note_id: str, project_id: str) -> Note:
        """Move the note into the project with this id ("": out of any)."""
        return self._change(note_id, project=project_id)

    def delete_note(self, note_id: str) -> None:
        """Remove the note so no trace stays in the file or its WAL (as conversations are)."""
        store = self._store
        with store._lock:
            with store._transaction() as conn:
                deleted = conn.execute("DELETE FROM notes WHERE id = ?", (note_id,)).rowcount
            if self._notes is not None:
                self._notes.pop(note_id, None)
            self._words.pop(note_id, None)
            if not deleted:
                raise NotFound("No such note.")
            with store._db() as conn:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            store._wipe_pending = store._wipe_pending or bool(busy)
        log.info("note deleted")
