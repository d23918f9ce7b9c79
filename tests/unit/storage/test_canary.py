"""What lands on disk: no plaintext ever, and nothing at all of a deleted conversation."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.core.conversation import Message, MessageState, ReplyStats, Role
from cove.paths import app_paths
from cove.storage import conversation_export
from cove.storage.codecs import DamagedMessage
from cove.storage.crypto import KdfParams
from cove.storage.keys import WrongPassphrase
from cove.storage.store import ConversationStore, default_store_path

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")


@pytest.fixture
def canary() -> str:
    # Random per run, so no earlier run or fixture could plant it; non-ASCII to vary encodings.
    return f"canary-{secrets.token_hex(6)}-Ünïcödé"


@pytest.fixture
def log_file(cove_home: Path) -> Iterator[Path]:
    """Cove's loggers write to a file under the home folder at DEBUG, so it gets scanned too."""
    path = app_paths().ensure().log_file
    handler = logging.FileHandler(path, encoding="utf-8")
    cove_logger = logging.getLogger("cove")
    previous = cove_logger.level
    cove_logger.addHandler(handler)
    cove_logger.setLevel(logging.DEBUG)
    yield path
    cove_logger.removeHandler(handler)
    cove_logger.setLevel(previous)
    handler.close()


def files_holding(home: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in sorted(home.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name} holds needle {n}" for n, needle in enumerate(needles)
                      if needle in data]
    return found


def encoded(text: str) -> list[bytes]:
    return [text.encode(encoding) for encoding in ENCODINGS]


def test_no_file_under_home_ever_holds_plaintext(cove_home: Path, canary: str,
                                                 log_file: Path) -> None:
    path = default_store_path()
    stats = ReplyStats(model=canary, tokens=3, seconds=1.0, tokens_per_second=3.0,
                       ttft_seconds=0.1)
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase(f"passphrase {canary}", KdfParams.at_floor())
        conversation = store.create_conversation(f"Title {canary}")
        store.append_message(conversation, Message(Role.USER, f"Question {canary}"))
        reply = Message(Role.ASSISTANT, "", model=canary, state=MessageState.STREAMING)
        store.append_message(conversation, reply)
        reply.text = f"Answer {canary} " * 2000  # spills into overflow pages
        reply.stats = stats
        reply.error = f"error {canary}"
        store.update_message(reply)
        store.rename_conversation(conversation, f"Renamed {canary}")
        conversation_export.as_markdown(store, conversation)
        # While open the WAL holds the latest writes: check it too.
        assert Path(f"{path}-wal").exists()
        assert files_holding(cove_home, encoded(canary)) == []
    assert files_holding(cove_home, encoded(canary)) == []

    # Damage the question, so the damage path gets logged too.
    conn = sqlite3.connect(path)
    with conn:
        (blob,) = conn.execute("SELECT body FROM messages WHERE seq = 0").fetchone()
        conn.execute("UPDATE messages SET body = ? WHERE seq = 0", (blob[:40] + bytes(300),))
    conn.close()
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongPassphrase):
            store.unlock_with_passphrase(canary)
        store.unlock_with_passphrase(f"passphrase {canary}")
        loaded = store.load_messages(conversation)
        assert isinstance(loaded[0], DamagedMessage)
        assert loaded[1].text.startswith(f"Answer {canary}")  # type: ignore[union-attr]
        store.delete_conversation(conversation)
        assert files_holding(cove_home, encoded(canary)) == []
    assert files_holding(cove_home, encoded(canary)) == []
    logged = log_file.read_text(encoding="utf-8")
    assert "damaged message rows: 1" in logged and "wrong passphrase" in logged


def ciphertext_samples(path: Path, conversation_id: str) -> list[bytes]:
    """Slices from every sealed row of a conversation (past the clear version and nonce)."""
    conn = sqlite3.connect(path)
    try:
        blobs = [row[0] for row in conn.execute(
            "SELECT body FROM messages WHERE conversation_id = ? UNION ALL "
            "SELECT body FROM conversations WHERE id = ?", (conversation_id, conversation_id))]
    finally:
        conn.close()
    samples = []
    for blob in blobs:
        for start in (13, len(blob) // 2, len(blob) - 24):
            samples.append(blob[start:start + 24])
    return samples


def test_a_deleted_conversation_leaves_not_even_its_ciphertext(cove_home: Path) -> None:
    path = default_store_path()
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase("a long enough passphrase", KdfParams.at_floor())
        kept = store.create_conversation("Kept")
        doomed = store.create_conversation("Doomed")
        for n in range(40):
            store.append_message(kept, Message(Role.USER, f"kept {n} " * 50))
            store.append_message(doomed, Message(Role.USER, f"doomed {n} " * (50 + 400 * (n % 3))))
        samples = ciphertext_samples(path, doomed)
        assert len(samples) == 41 * 3
        assert files_holding(cove_home, samples), "the test must see the rows before deleting"
        store.delete_conversation(doomed)
        assert files_holding(cove_home, samples) == []
        assert len(store.load_messages(kept)) == 40
    assert files_holding(cove_home, samples) == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["cove.db"]
