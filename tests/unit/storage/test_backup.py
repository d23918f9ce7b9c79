"""Encrypted backups: a round trip into a fresh home (notes, preferences, recovery key, damaged
rows), and every kind of broken file refused with the store unchanged, checked by hash. Real
SQLite files, real Argon2id (at the floor) and real AES-GCM."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from cove.core.conversation import ROOT, Message, Role
from cove.paths import app_paths
from cove.storage.backup import (
    CHUNK_BYTES,
    MAC_BYTES,
    SEALED_CHUNK_BYTES,
    BackupDamaged,
    BackupTooNew,
    BackupWriter,
    NotABackup,
    WrongBackupPassphrase,
    check_backup,
    create_backup,
    restore_backup,
)
from cove.storage.crypto import KdfParams
from cove.storage.keys import KeySource
from cove.storage.recovery import new_recovery_key
from cove.storage.store import ConversationStore, ConversationSummary, ImportedConversation
from tests.keyrings import MemoryKeyring, using_keyring

STORE_PASSPHRASE = "store passphrase one"
BACKUP_PASSPHRASE = "backup passphrase two"
FLOOR = KdfParams.at_floor()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill(store: ConversationStore, conversations: int = 3, size: int = 40) -> None:
    for number in range(conversations):
        conversation = store.create_conversation(f"Talk {number}", pinned=number == 0)
        for turn in range(4):
            role = Role.USER if turn % 2 == 0 else Role.ASSISTANT
            store.append_message(conversation, Message(role, f"{number}-{turn} " * size))


def history_of(store: ConversationStore) -> list[tuple[object, ...]]:
    """What a person sees: each conversation's summary and its messages (or damage)."""
    seen: list[tuple[object, ...]] = []
    for summary in store.list_conversations():
        loaded = store.load_messages(summary.id)
        seen.append((summary, [(m.role, m.text, m.parent) if isinstance(m, Message)
                               else ("damaged", m.seq, "") for m in loaded]))
    return seen


def store_summaries(seen: list[tuple[object, ...]]) -> list[ConversationSummary]:
    return [summary for summary, _ in seen if isinstance(summary, ConversationSummary)]


def make_backup(tmp_path: Path, conversations: int = 3, size: int = 40) -> tuple[Path, Path]:
    store_path = tmp_path / "source" / "cove.db"
    store_path.parent.mkdir()
    with ConversationStore.open(store_path) as store:
        store.setup_with_passphrase(STORE_PASSPHRASE, FLOOR)
        fill(store, conversations, size)
        target = tmp_path / "history.covebackup"
        create_backup(store, target, BACKUP_PASSPHRASE, kdf_params=FLOOR)
    return store_path, target


@pytest.fixture
def current_store(cove_home: Path) -> Path:
    """A history that a broken restore must leave exactly as it is."""
    path = app_paths().ensure().data / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase(STORE_PASSPHRASE, FLOOR)
        fill(store, 1)
    return path


def test_round_trip_into_a_fresh_home_keeps_everything_and_damage(tmp_path: Path,
                                                                  cove_home: Path) -> None:
    source = tmp_path / "old-machine"
    old_paths = app_paths(source).ensure()
    old_paths.settings_file.write_text('{"theme": "dark"}')
    (old_paths.data / "models.json").write_text('{"version": 1, "models": []}')
    key = new_recovery_key()
    old_store = old_paths.data / "cove.db"
    with using_keyring(MemoryKeyring()), ConversationStore.open(old_store) as store:
        store.setup_with_keyring()
        fill(store)
        store.set_recovery_key(key)
        note_id = store.notes.create_note("# Plans\nthe lighthouse in May", pinned=True).id
        store.save_preference("system_prompts", {"prompts": {"m": "Be brief."}})
        # A conversation with branches, the older reply shown: its tree and its choice of
        # branch (the summary's leaf) must come back as they were.
        question = Message(Role.USER, "Which river?", parent=ROOT)
        older = Message(Role.ASSISTANT, "The Wye.", parent=question.id)
        newer = Message(Role.ASSISTANT, "The Severn.", parent=question.id)
        store.import_conversations([ImportedConversation([question, older, newer],
                                                         title="Rivers", leaf=older.id)])
        damaged_id = store.load_messages(store.list_conversations()[1].id)[2]
        assert isinstance(damaged_id, Message)
        with sqlite3.connect(store.path) as raw:
            body = raw.execute("SELECT body FROM messages WHERE id = ?",
                               (damaged_id.id,)).fetchone()[0]
            raw.execute("UPDATE messages SET body = ? WHERE id = ?",
                        (body[:-1] + bytes([body[-1] ^ 1]), damaged_id.id))
        before = history_of(store)
        made = create_backup(store, tmp_path / "all.covebackup", BACKUP_PASSPHRASE,
                             paths=old_paths, kdf_params=FLOOR)
    assert made.rows["messages"] == 15 and made.rows["notes"] == 1
    assert [s.leaf for s in store_summaries(before) if s.title == "Rivers"] == [older.id]
    assert made.files == ["settings.json", "models.json"]
    assert sum(isinstance(m, str) and m == "damaged" for _, ms in before for m, _, _ in ms) == 1

    # A new machine: no keyring item, no history, no settings.
    new_paths = app_paths().ensure()
    store_path = new_paths.data / "cove.db"
    result = restore_backup(tmp_path / "all.covebackup", BACKUP_PASSPHRASE, store_path,
                            paths=new_paths, kdf_params=FLOOR)
    assert result.kept is None
    assert new_paths.settings_file.read_text() == '{"theme": "dark"}'
    assert (new_paths.data / "models.json").read_text() == '{"version": 1, "models": []}'
    assert store_path.stat().st_mode & 0o777 == 0o600
    with ConversationStore.open(store_path) as restored:
        assert restored.key_source is KeySource.PASSPHRASE
        restored.unlock_with_passphrase(BACKUP_PASSPHRASE)
        assert history_of(restored) == before
        assert restored.notes.load_note(note_id).text == "# Plans\nthe lighthouse in May"
        assert restored.load_preference("system_prompts") == {"prompts": {"m": "Be brief."}}
        restored.lock()
        restored.unlock_with_recovery_key(key.text)  # the recovery key still opens it
        assert history_of(restored) == before


def test_restore_keeps_the_old_history_beside_the_new(tmp_path: Path,
                                                      current_store: Path) -> None:
    _, backup = make_backup(tmp_path, conversations=2)
    old_hash = digest(current_store)
    result = restore_backup(backup, BACKUP_PASSPHRASE, current_store, kdf_params=FLOOR)
    assert result.kept is not None and result.kept.name.startswith("cove.db.before-restore-")
    assert digest(result.kept) == old_hash
    with ConversationStore.open(current_store) as store:
        store.unlock_with_passphrase(BACKUP_PASSPHRASE)
        assert [s.title for s in store.list_conversations()] == ["Talk 0", "Talk 1"]
    assert not [p for p in current_store.parent.iterdir() if ".restoring-" in p.name]


def refused(backup: Path, store: Path, error: type[Exception], passphrase: str = BACKUP_PASSPHRASE
            ) -> str:
    before = digest(store)
    with pytest.raises(error) as raised:
        restore_backup(backup, passphrase, store, kdf_params=FLOOR)
    assert digest(store) == before
    assert sorted(p.name for p in store.parent.iterdir() if p.name.startswith("cove.db")) == [
        "cove.db"]
    return str(raised.value)


def test_wrong_passphrase_is_refused_and_nothing_changes(tmp_path: Path,
                                                         current_store: Path) -> None:
    _, backup = make_backup(tmp_path)
    message = refused(backup, current_store, WrongBackupPassphrase, "not the passphrase")
    assert "does not open this backup" in message and "Nothing was changed" in message


@pytest.mark.parametrize("keep", ["header", "one chunk", "mid chunk", "all but a byte"])
def test_a_truncated_backup_is_refused(tmp_path: Path, current_store: Path, keep: str) -> None:
    _, backup = make_backup(tmp_path, conversations=40)
    data = backup.read_bytes()
    start = len(chunks_of(data)[0])
    assert len(data) > start + 2 * SEALED_CHUNK_BYTES  # several chunks
    cut = {"header": start - 5, "one chunk": start + SEALED_CHUNK_BYTES,
           "mid chunk": start + SEALED_CHUNK_BYTES + 1000, "all but a byte": len(data) - 1}[keep]
    backup.write_bytes(data[:cut])
    message = refused(backup, current_store, BackupDamaged)
    assert "cut short" in message


def chunks_of(data: bytes) -> tuple[bytes, list[bytes]]:
    start = 11 + int.from_bytes(data[9:11], "big") + MAC_BYTES  # magic, version, length
    body = data[start:]
    return data[:start], [body[i:i + SEALED_CHUNK_BYTES]
                          for i in range(0, len(body), SEALED_CHUNK_BYTES)]


def test_reordered_swapped_or_extra_chunks_are_refused(tmp_path: Path,
                                                       current_store: Path) -> None:
    _, backup = make_backup(tmp_path, conversations=40)
    head, chunks = chunks_of(backup.read_bytes())
    assert len(chunks) >= 3
    (tmp_path / "other").mkdir()
    _, other = make_backup(tmp_path / "other", conversations=40)
    _, foreign = chunks_of(other.read_bytes())
    variants = {
        "reordered": head + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "last moved up": head + chunks[0] + chunks[-1] + b"".join(chunks[1:-1]),
        "dropped": head + chunks[0] + b"".join(chunks[2:]),
        "repeated": head + b"".join(chunks[:2]) + chunks[1] + b"".join(chunks[2:]),
        "from another backup": head + foreign[0] + b"".join(chunks[1:]),
        "appended": head + b"".join(chunks) + chunks[-1],
        "a bit flipped": head + chunks[0][:-1] + bytes([chunks[0][-1] ^ 1])
                         + b"".join(chunks[1:]),
    }
    for name, data in variants.items():
        backup.write_bytes(data)
        message = refused(backup, current_store, BackupDamaged)
        assert "Nothing was changed" in message, name


def test_a_backup_from_a_newer_cove_is_refused(tmp_path: Path, current_store: Path) -> None:
    _, backup = make_backup(tmp_path)
    data = bytearray(backup.read_bytes())
    data[8] = 2  # the format version byte
    backup.write_bytes(bytes(data))
    assert "newer version of Cove" in refused(backup, current_store, BackupTooNew)

    newer = tmp_path / "newer.covebackup"
    with open(newer, "wb") as out:
        writer = BackupWriter(out, BACKUP_PASSPHRASE, FLOOR)
        writer.write(json.dumps({"t": "begin", "format": 1, "schema_version": 99}).encode()
                     + b"\n" + b'{"t":"end","rows":{},"files":[]}\n')
        writer.close()
    refused(newer, current_store, BackupTooNew)


def test_other_files_are_not_backups(tmp_path: Path, current_store: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("just some text, long enough to have a header's length" * 3)
    assert refused(other, current_store, NotABackup) == "This file is not a Cove backup."
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    refused(empty, current_store, NotABackup)


def test_check_reads_the_whole_file_and_changes_nothing(tmp_path: Path) -> None:
    _, backup = make_backup(tmp_path, conversations=5)
    seen: list[tuple[int, int]] = []
    summary = check_backup(backup, BACKUP_PASSPHRASE, lambda done, total: seen.append(
        (done, total)))
    assert summary.rows["conversations"] == 5 and summary.rows["messages"] == 20
    assert seen and seen[-1][0] == backup.stat().st_size


def test_the_backup_holds_no_plaintext_and_is_private(tmp_path: Path) -> None:
    canary = f"canary-{secrets.token_hex(6)}"
    store_path = tmp_path / "cove.db"
    with ConversationStore.open(store_path) as store:
        store.setup_with_passphrase(STORE_PASSPHRASE, FLOOR)
        conversation = store.create_conversation(canary)
        store.append_message(conversation, Message(Role.USER, canary))
        store.notes.create_note(canary)
        create_backup(store, tmp_path / "b.covebackup", BACKUP_PASSPHRASE, kdf_params=FLOOR)
    data = (tmp_path / "b.covebackup").read_bytes()
    assert canary.encode() not in data
    assert (tmp_path / "b.covebackup").stat().st_mode & 0o777 == 0o600


def test_memory_stays_bounded_by_one_chunk_and_one_row(tmp_path: Path) -> None:
    """Buffers hold at most a chunk plus one record, however large the history (the flat-memory
    rule; benchmarks/backup_scale.py measures the process)."""
    size = 400
    store_path, backup = make_backup(tmp_path, conversations=150, size=size)
    assert backup.stat().st_size > 20 * CHUNK_BYTES
    with ConversationStore.open(store_path) as store:
        store.unlock_with_passphrase(STORE_PASSPHRASE)
        made = create_backup(store, tmp_path / "again", BACKUP_PASSPHRASE, kdf_params=FLOOR)
    largest_record = 4 * size * 8  # a sealed, padded, base64-encoded row, generously
    assert made.peak_buffered <= CHUNK_BYTES + largest_record
    checked = check_backup(backup, BACKUP_PASSPHRASE)
    assert checked.peak_buffered <= CHUNK_BYTES + largest_record


def test_the_writer_seals_a_full_last_chunk_as_last(tmp_path: Path) -> None:
    out = io.BytesIO()
    writer = BackupWriter(out, BACKUP_PASSPHRASE, FLOOR)
    writer.write(b"x" * CHUNK_BYTES)  # exactly one chunk: it must be the last, not followed
    writer.close()
    _, chunks = chunks_of(out.getvalue())
    assert len(chunks) == 1 and len(chunks[0]) == SEALED_CHUNK_BYTES


@pytest.mark.parametrize("payload, words", [
    (b'{"t":"begin","format":1}\n{"t":"end","rows":{},"files":[]}\n', "cannot read"),
    (b'{"t":"table","name":"x","columns":[]}\n', "out of order"),
    (b'{"t":"begin","format":1,"schema_version":3}\n', "cut short"),
    (b'{"t":"begin","format":1,"schema_version":3}\n{"t":"end","rows":{"x":1},"files":[]}\n',
     "counts do not match"),
    (b'not json\n', "cannot read"),
])
def test_records_out_of_shape_are_refused_in_words(tmp_path: Path, current_store: Path,
                                                   payload: bytes, words: str) -> None:
    backup = tmp_path / "odd.covebackup"
    with open(backup, "wb") as out:
        writer = BackupWriter(out, BACKUP_PASSPHRASE, FLOOR)
        writer.write(payload)
        writer.close()
    assert words in refused(backup, current_store, BackupDamaged)
