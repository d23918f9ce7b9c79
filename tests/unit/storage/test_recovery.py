"""The recovery key: its form, a round trip after the keyring item is lost, a wrong key refused,
regeneration revoking the old key, removal. Real SQLite files and real encryption."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from cove.core.conversation import Message, Role
from cove.storage.crypto import KdfParams
from cove.storage.keys import KeyringSecretMissing, KeySource, WrongKeySource
from cove.storage.recovery import (
    GROUP_CHARS,
    GROUPS,
    META_RECOVERY_RECORD,
    SECRET_BYTES,
    NoRecoveryKey,
    RecoveryKey,
    RecoveryKeyMistyped,
    WrongRecoveryKey,
    confirmation_groups,
    new_recovery_key,
    parse_recovery_key,
)
from cove.storage.store import ConversationStore
from tests.keyrings import MemoryKeyring, using_keyring

PASSPHRASE = "tidal lantern orchard 42"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def texts(store: ConversationStore, conversation: str) -> list[str]:
    return [m.text for m in store.load_messages(conversation) if isinstance(m, Message)]


def keyring_store_with_recovery(path: Path) -> tuple[str, RecoveryKey]:
    key = new_recovery_key()
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        store.set_recovery_key(key)
        conversation = store.create_conversation("Plans")
        store.append_message(conversation, Message(Role.USER, "never one click from gone"))
    return conversation, key


def test_a_recovery_key_has_enough_entropy_and_reads_in_groups() -> None:
    key = new_recovery_key()
    assert SECRET_BYTES * 8 >= 128
    assert len(key.groups) == GROUPS == 8
    assert all(len(group) == GROUP_CHARS for group in key.groups)
    assert key.text == "-".join(key.groups)
    assert set(key.text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567-")
    assert new_recovery_key().secret != key.secret
    assert key.text not in repr(key)


def test_a_recovery_key_is_read_back_forgivingly_and_typos_are_caught() -> None:
    key = new_recovery_key()
    sloppy = " ".join(key.groups).lower().replace("o", "0").replace("i", "1")
    assert parse_recovery_key(sloppy) == key
    first = key.groups[0]
    swapped = ("A" if first[0] != "A" else "B") + first[1:]
    with pytest.raises(RecoveryKeyMistyped, match="typo"):
        parse_recovery_key("-".join([swapped, *key.groups[1:]]))
    with pytest.raises(RecoveryKeyMistyped, match="8 groups of 5"):
        parse_recovery_key(key.text[:-3])
    with pytest.raises(RecoveryKeyMistyped, match="A to Z and the digits 2 to 7"):
        parse_recovery_key("9" + key.text[1:])


def test_two_different_groups_are_asked_back() -> None:
    for _ in range(50):
        first, second = confirmation_groups()
        assert 0 <= first < second < GROUPS


def test_round_trip_lose_the_keyring_item_recover_choose_a_passphrase_reopen(
        tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        conversation, key = keyring_store_with_recovery(path)
        backend.secrets.clear()  # the keyring item was deleted
        with ConversationStore.open(path) as store:
            with pytest.raises(KeyringSecretMissing):
                store.unlock_with_keyring()
            assert store.has_recovery_key()
            store.unlock_with_recovery_key(key.text.lower())
            assert texts(store, conversation) == ["never one click from gone"]
            store.switch_to_passphrase(PASSPHRASE, KdfParams.at_floor())
    with ConversationStore.open(path) as store:
        assert store.key_source is KeySource.PASSPHRASE
        store.unlock_with_passphrase(PASSPHRASE)
        assert texts(store, conversation) == ["never one click from gone"]
    with ConversationStore.open(path) as store:  # the recovery key still opens it
        store.unlock_with_recovery_key(key.text)
        assert texts(store, conversation) == ["never one click from gone"]


def test_after_recovery_the_keyring_can_be_chosen_again(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        conversation, key = keyring_store_with_recovery(path)
        backend.secrets.clear()
        with ConversationStore.open(path) as store:
            store.unlock_with_recovery_key(key.text)
            store.switch_to_keyring()  # a new item, though the record already says keyring
        assert len(backend.secrets) == 1
        with ConversationStore.open(path) as store:
            store.unlock_with_keyring()
            assert texts(store, conversation) == ["never one click from gone"]


def test_a_forgotten_passphrase_is_replaced_through_the_recovery_key(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    key = new_recovery_key()
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase("forgotten by now", KdfParams.at_floor())
        store.set_recovery_key(key)
        conversation = store.create_conversation("Plans")
        store.append_message(conversation, Message(Role.USER, "still here"))
    with ConversationStore.open(path) as store:
        store.unlock_with_recovery_key(key.text)
        store.switch_to_passphrase(PASSPHRASE, KdfParams.at_floor())
    with ConversationStore.open(path) as store:
        store.unlock_with_passphrase(PASSPHRASE)
        assert texts(store, conversation) == ["still here"]


def test_a_wrong_recovery_key_is_refused_in_words_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()):
        keyring_store_with_recovery(path)
    before = digest(path)
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongRecoveryKey) as refused:
            store.unlock_with_recovery_key(new_recovery_key().text)
        assert not store.is_unlocked
    assert str(refused.value).startswith("That recovery key does not open this history.")
    assert digest(path) == before


def test_regenerating_revokes_the_old_key(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()):
        conversation, old = keyring_store_with_recovery(path)
        new = new_recovery_key()
        with ConversationStore.open(path) as store:
            store.unlock_with_keyring()
            store.set_recovery_key(new)
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongRecoveryKey, match="older one"):
            store.unlock_with_recovery_key(old.text)
        store.unlock_with_recovery_key(new.text)
        assert texts(store, conversation) == ["never one click from gone"]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM meta WHERE name = ?",
                            (META_RECOVERY_RECORD,)).fetchone()[0]
    conn.close()
    assert rows == 1


def test_removing_the_recovery_key(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()):
        _conversation, key = keyring_store_with_recovery(path)
        with ConversationStore.open(path) as store:
            with pytest.raises(Exception, match="Unlock the history first"):
                store.remove_recovery_key()
            store.unlock_with_keyring()
            store.remove_recovery_key()
            assert not store.has_recovery_key()
    with ConversationStore.open(path) as store, pytest.raises(NoRecoveryKey):
        store.unlock_with_recovery_key(key.text)


def test_the_recovery_key_survives_a_passphrase_change(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    key = new_recovery_key()
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        store.set_recovery_key(key)
        store.change_passphrase(PASSPHRASE, "another one entirely", KdfParams.at_floor())
    with ConversationStore.open(path) as store:
        store.unlock_with_recovery_key(key.text)
        with pytest.raises(WrongKeySource):
            store.unlock_with_keyring()
