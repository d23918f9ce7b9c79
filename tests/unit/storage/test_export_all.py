"""Export all: every conversation and note as its own Markdown file, 0600, in a new folder,
never over a file that is there, and nothing left behind when it fails or is cancelled. A
real encrypted store, with a branched conversation, a damaged message and a damaged note."""

from __future__ import annotations

import resource
import signal
import sqlite3
from pathlib import Path

import pytest

from cove.core.conversation import ROOT, Message, Role
from cove.storage.crypto import KdfParams
from cove.storage.export_all import (
    EXPORT_ALL_WARNING,
    ExportFailed,
    export_all,
    file_name,
    new_folder_in,
)
from cove.storage.store import ConversationStore, ImportedConversation


def filled_store(tmp_path: Path) -> ConversationStore:
    store = ConversationStore.open(tmp_path / "cove.db")
    store.setup_with_passphrase("export passphrase", KdfParams.at_floor())
    for _ in range(2):  # the same title twice: two files
        conversation = store.create_conversation("Tent / tarp?")
        store.append_message(conversation, Message(Role.USER, "pack the blue tent"))
        store.append_message(conversation, Message(Role.ASSISTANT, "and the pegs", model="smol"))
    question = Message(Role.USER, "Which river?", parent=ROOT)
    older = Message(Role.ASSISTANT, "The Wye.", parent=question.id)
    newer = Message(Role.ASSISTANT, "The Severn.", parent=question.id)
    (store.import_conversations([ImportedConversation(
        [question, older, newer], title="Rivers", updated=1_700_000_000.0, leaf=older.id)]))
    damaged = store.create_conversation("Damaged one")
    store.append_message(damaged, Message(Role.USER, "a message that will not read"))
    store.append_message(damaged, Message(Role.ASSISTANT, "this one still reads"))
    store.notes.create_note("# Packing list\n\nboots, map")
    bad_note = store.notes.create_note("a note that will not read")
    with sqlite3.connect(store.path) as conn:  # flip a bit in one message and one note
        for table, row_id in (("messages", store.load_messages(damaged)[0].id),
                              ("notes", bad_note.id)):
            body = conn.execute(f"SELECT body FROM {table} WHERE id = ?", (row_id,)).fetchone()[0]
            conn.execute(f"UPDATE {table} SET body = ? WHERE id = ?",
                         (body[:-1] + bytes([body[-1] ^ 1]), row_id))
    store.lock()
    store.unlock_with_passphrase("export passphrase")
    return store


def test_every_conversation_and_note_becomes_a_private_markdown_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "export"
    ticks: list[tuple[int, int]] = []
    with filled_store(tmp_path) as store:
        result = export_all(store, target, lambda done, total: ticks.append((done, total)))
    conversations = sorted(p.name for p in (target / "Conversations").iterdir())
    assert conversations == ["Damaged one.md", "Rivers.md", "Tent tarp (2).md", "Tent tarp.md"]
    assert sorted(p.name for p in (target / "Notes").iterdir()) == ["Packing list.md"]
    assert (result.conversations, result.notes, result.damaged_notes) == (4, 1, 1)
    assert ticks[-1] == (6, 6)
    for path in [target, target / "Conversations", target / "Notes"]:
        assert path.stat().st_mode & 0o777 == 0o700
    for path in result.files:
        assert path.stat().st_mode & 0o777 == 0o600
    rivers = (target / "Conversations" / "Rivers.md").read_text()
    assert "The Wye." in rivers and "The Severn." not in rivers  # the branch shown
    assert (target / "Conversations" / "Rivers.md").stat().st_mtime == 1_700_000_000.0
    damaged = (target / "Conversations" / "Damaged one.md").read_text()
    assert "## Damaged message" in damaged and "this one still reads" in damaged
    assert "will not read" not in damaged
    assert (target / "Notes" / "Packing list.md").read_text() == "# Packing list\n\nboots, map\n"
    summary = result.summary()
    assert summary.startswith(f"Exported 4 conversations and 1 notes as Markdown to {target}.")
    assert "1 damaged notes could not be read" in summary and EXPORT_ALL_WARNING in summary


def test_a_folder_with_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "Rivers.md").write_text("my own file")
    with filled_store(tmp_path) as store, pytest.raises(ExportFailed, match="not an empty"):
        export_all(store, target)
    assert [p.name for p in target.iterdir()] == ["Rivers.md"]
    assert (target / "Rivers.md").read_text() == "my own file"


class Stop(Exception):
    pass


def test_a_cancelled_or_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "export"

    def cancel_at_three(done: int, _total: int) -> None:
        if done == 3:
            raise Stop

    with filled_store(tmp_path) as store:
        with pytest.raises(Stop):
            export_all(store, target, cancel_at_three)
        assert not target.exists()
        target.mkdir()
        # The disk refuses a file mid-way (a file-size limit: EFBIG, as a full disk gives
        # ENOSPC): a sentence, the files so far removed, and the person's empty folder kept.
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, limits[1]))
        try:
            with pytest.raises(ExportFailed, match="could not write the export"):
                export_all(store, target)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limits)
            signal.signal(signal.SIGXFSZ, previous)
        assert list(target.iterdir()) == []


def test_file_names_are_safe_everywhere_and_never_collide() -> None:
    used: set[str] = set()
    assert file_name("a/b\\c:d*e?f\"g<h>i|j\x07", "Untitled", used) == "a b c d e f g h i j.md"
    assert file_name("", "Untitled note", used) == "Untitled note.md"
    assert file_name("...", "Untitled note", used) == "Untitled note (2).md"
    assert file_name("CON", "Untitled note", used) == "CON Untitled note.md"
    assert file_name("A B.md".removesuffix(".md"), "x", used) == "A B.md"
    assert file_name("a b", "x", used) == "a b (2).md"  # macOS and Windows fold case
    assert len(file_name("word " * 40, "x", used)) <= 83


def test_the_window_picks_a_folder_not_taken(tmp_path: Path) -> None:
    first = new_folder_in(tmp_path, when=1_700_000_000.0)
    assert first.name.startswith("Cove export 2023-11-1")
    first.mkdir()
    assert new_folder_in(tmp_path, when=1_700_000_000.0).name == f"{first.name} (2)"
