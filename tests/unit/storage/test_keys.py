"""Where the key comes from: keyring backends good and bad, passphrases right and wrong."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import keyring.backends.null
import pytest

from cove.core.conversation import Message, Role
from cove.storage import keys
from cove.storage.crypto import KdfParams, WeakKdfParameters
from cove.storage.errors import StoreLocked
from cove.storage.key_choice import Strength, passphrase_strength
from cove.storage.keys import (
    KEYRING_SERVICE,
    KeyringSecretMissing,
    KeyringSecretRejected,
    KeyringTimeout,
    KeyringUnavailable,
    KeySource,
    WrongKeySource,
    WrongPassphrase,
    call_with_timeout,
    keyring_entry_name,
    keyring_is_usable,
    passphrase_from_environment,
)
from cove.storage.store import ConversationStore
from tests.unit.storage import MemoryKeyring, using_keyring

PASSPHRASE = "tidal lantern orchard 42"


class DroppingKeyring(MemoryKeyring):
    """Claims to be a real keyring but forgets what it is given (as some setups do)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class ManglingKeyring(MemoryKeyring):
    """Keeps secrets, but hands back something else (a broken encoding layer)."""

    def get_password(self, service: str, username: str) -> str | None:
        secret = super().get_password(service, username)
        return None if secret is None else secret[:-2] + "=="


class HangingKeyring(MemoryKeyring):
    """A keyring whose unlock prompt nobody answers."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)
        super().set_password(service, username, password)


class AltStyleKeyring(MemoryKeyring):
    """Stands in for keyrings.alt's file backends, which keep the secret beside the data."""


AltStyleKeyring.__module__ = "keyrings.alt.file"


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_record(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE name = 'key_record'").fetchone()
    return {} if row is None else dict(json.loads(row[0]))


def message_blobs(path: Path) -> list[bytes]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT body FROM messages ORDER BY seq")]


def make_passphrase_store(path: Path, texts: tuple[str, ...] = ("first", "second")) -> str:
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        conversation = store.create_conversation("Plans")
        for text in texts:
            store.append_message(conversation, Message(Role.USER, text))
    return conversation


# ---- call_with_timeout -------------------------------------------------------------------

def test_call_with_timeout_returns_the_result_and_passes_errors_on() -> None:
    assert call_with_timeout(lambda: 41 + 1, 1.0) == 42

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        call_with_timeout(fails, 1.0)


def test_call_with_timeout_gives_up_on_a_call_that_hangs() -> None:
    release = threading.Event()
    started = time.perf_counter()
    with pytest.raises(KeyringTimeout):
        call_with_timeout(lambda: release.wait(30), 0.2)
    assert time.perf_counter() - started < 1.0
    release.set()


# ---- which keyrings count ----------------------------------------------------------------

def test_fail_null_and_alt_backends_are_not_usable_but_a_real_one_is() -> None:
    assert not keyring_is_usable(keyring.backends.fail.Keyring())
    assert not keyring_is_usable(keyring.backends.null.Keyring())
    assert not keyring_is_usable(AltStyleKeyring())
    assert keyring_is_usable(MemoryKeyring())


@pytest.mark.parametrize(
    "backend_type",
    [keyring.backends.fail.Keyring, keyring.backends.null.Keyring, AltStyleKeyring,
     DroppingKeyring, ManglingKeyring],
    ids=["fail", "null", "keyrings.alt", "drops secrets", "mangles secrets"],
)
def test_an_unusable_keyring_writes_nothing_and_a_passphrase_takes_over(
        tmp_path: Path, backend_type: type) -> None:
    path = tmp_path / "cove.db"
    backend = backend_type()
    with using_keyring(backend), ConversationStore.open(path) as store:
        with pytest.raises(KeyringUnavailable):
            store.setup_with_keyring(timeout_s=2)
        assert not store.is_set_up
        assert stored_record(path) == {}
        if isinstance(backend, MemoryKeyring):
            assert backend.secrets == {}  # no useless secret left behind
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        store.create_conversation("Fallback")
    with ConversationStore.open(path) as store:
        assert store.key_source is KeySource.PASSPHRASE
        store.unlock_with_passphrase(PASSPHRASE)
        assert [c.title for c in store.list_conversations()] == ["Fallback"]


def test_a_hanging_keyring_times_out_in_time(tmp_path: Path) -> None:
    backend = HangingKeyring()
    with using_keyring(backend), ConversationStore.open(tmp_path / "cove.db") as store:
        started = time.perf_counter()
        with pytest.raises(KeyringTimeout):
            store.setup_with_keyring(timeout_s=0.3)
        assert time.perf_counter() - started < 1.5
        assert not store.is_set_up
    backend.release.set()


def test_a_working_keyring_keeps_the_key_across_restarts(
        tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        conversation = store.create_conversation("Kept")
        store.append_message(conversation, Message(Role.USER, "remember me"))
        store_id = store.store_id
    assert list(memory_keyring.secrets) == [(KEYRING_SERVICE, keyring_entry_name(store_id))]
    assert store_id in keyring_entry_name(store_id)
    with ConversationStore.open(path) as store:
        assert store.key_source is KeySource.KEYRING
        store.unlock_with_keyring()
        message = store.load_messages(conversation)[0]
        assert isinstance(message, Message)
        assert message.text == "remember me"


def test_two_homes_use_separate_keyring_entries(
        tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    for home in ("one", "two"):
        with ConversationStore.open(tmp_path / home / "cove.db") as store:
            store.setup_with_keyring()
    assert len(memory_keyring.secrets) == 2
    for home in ("one", "two"):
        with ConversationStore.open(tmp_path / home / "cove.db") as store:
            store.unlock_with_keyring()


def test_a_missing_or_replaced_keyring_secret_is_reported(
        tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
    entry = next(iter(memory_keyring.secrets))
    secret = memory_keyring.secrets.pop(entry)
    with ConversationStore.open(path) as store, pytest.raises(KeyringSecretMissing):
        store.unlock_with_keyring()
    memory_keyring.secrets[entry] = "A" * len(secret)  # another valid-looking key
    with ConversationStore.open(path) as store:
        with pytest.raises(KeyringSecretRejected):
            store.unlock_with_keyring()
        assert not store.is_unlocked


# ---- passphrases -------------------------------------------------------------------------

def test_five_wrong_passphrases_change_nothing_then_the_right_one_opens(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    conversation = make_passphrase_store(path)
    before = file_digest(path)
    for attempt in range(5):
        with ConversationStore.open(path) as store:
            with pytest.raises(WrongPassphrase, match="does not open"):
                store.unlock_with_passphrase(f"wrong guess {attempt}")
            assert not store.is_unlocked
            with pytest.raises(StoreLocked):
                store.list_conversations()
            with pytest.raises(StoreLocked):
                store.load_messages(conversation)
    assert file_digest(path) == before
    with ConversationStore.open(path) as store:
        store.unlock_with_passphrase(PASSPHRASE)
        texts = [m.text for m in store.load_messages(conversation) if isinstance(m, Message)]
        assert texts == ["first", "second"]


def test_changing_the_passphrase_rewraps_only_and_the_old_one_stops_working(
        tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    conversation = make_passphrase_store(path)
    blobs_before = message_blobs(path)
    key_id_before = stored_record(path)["key_id"]
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongPassphrase):
            store.change_passphrase("not it", "new passphrase here", KdfParams.at_floor())
        store.change_passphrase(PASSPHRASE, "new passphrase here", KdfParams.at_floor())
    assert message_blobs(path) == blobs_before
    assert stored_record(path)["key_id"] == key_id_before
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongPassphrase):
            store.unlock_with_passphrase(PASSPHRASE)
        store.unlock_with_passphrase("new passphrase here")
        assert len(store.load_messages(conversation)) == 2


def test_switching_between_keyring_and_passphrase_keeps_the_data(
        tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    path = tmp_path / "cove.db"
    conversation = make_passphrase_store(path)
    blobs_before = message_blobs(path)
    with ConversationStore.open(path) as store:
        with pytest.raises(StoreLocked):
            store.switch_to_keyring()
        store.unlock_with_passphrase(PASSPHRASE)
        store.switch_to_keyring()
    assert len(memory_keyring.secrets) == 1
    with ConversationStore.open(path) as store:
        with pytest.raises(WrongKeySource):
            store.unlock_with_passphrase(PASSPHRASE)
        store.unlock_with_keyring()
        secret_before = dict(memory_keyring.secrets)
        store.switch_to_keyring()  # already there: the live secret must not be replaced
        assert memory_keyring.secrets == secret_before
        store.switch_to_passphrase("another passphrase", KdfParams.at_floor())
    assert memory_keyring.secrets == {}
    assert message_blobs(path) == blobs_before
    with ConversationStore.open(path) as store:
        assert store.key_source is KeySource.PASSPHRASE
        with pytest.raises(WrongKeySource):
            store.unlock_with_keyring()
        store.unlock_with_passphrase("another passphrase")
        assert len(store.load_messages(conversation)) == 2


def test_stored_parameters_under_the_floor_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    make_passphrase_store(path)
    record = stored_record(path)
    kdf = dict(record["kdf"])  # type: ignore[call-overload]
    weakened = {**record, "kdf": {**kdf, "iterations": 1, "memory_kib": 8}}
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'key_record'",
                     (json.dumps(weakened),))
    conn.close()
    with ConversationStore.open(path) as store:
        with pytest.raises(WeakKdfParameters):
            store.unlock_with_passphrase(PASSPHRASE)
        assert not store.is_unlocked


def test_edited_but_valid_parameters_do_not_open_the_key(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    make_passphrase_store(path)
    record = stored_record(path)
    kdf = dict(record["kdf"])  # type: ignore[call-overload]
    edited = {**record, "kdf": {**kdf, "iterations": int(kdf["iterations"]) + 1}}
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'key_record'", (json.dumps(edited),))
    conn.close()
    with ConversationStore.open(path) as store, pytest.raises(WrongPassphrase):
        store.unlock_with_passphrase(PASSPHRASE)


def test_an_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with ConversationStore.open(tmp_path / "cove.db") as store:
        with pytest.raises(ValueError):
            store.setup_with_passphrase("", KdfParams.at_floor())
        assert not store.is_set_up


def test_passphrase_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSPHRASE_ENV, raising=False)
    assert passphrase_from_environment() is None
    monkeypatch.setenv(keys.PASSPHRASE_ENV, "")
    assert passphrase_from_environment() is None
    monkeypatch.setenv(keys.PASSPHRASE_ENV, PASSPHRASE)
    assert passphrase_from_environment() == PASSPHRASE


@pytest.mark.parametrize(
    ("passphrase", "level"),
    [
        ("", Strength.WEAK),
        ("abc", Strength.WEAK),
        ("aaaaaaaaaaaaaaaaaaaa", Strength.WEAK),
        ("sunflower", Strength.WEAK),
        ("Sunflower7!", Strength.FAIR),
        ("sunflowerriver", Strength.FAIR),
        ("Sunflower river 7", Strength.STRONG),
        ("tidal lantern orchard", Strength.STRONG),
    ],
)
def test_passphrase_strength(passphrase: str, level: Strength) -> None:
    strength = passphrase_strength(passphrase)
    assert strength.level is level
    assert strength.hint.endswith(".")


# ---- refused records say why, in words -----------------------------------------------------

def _edit_kdf(path: Path, **changes: object) -> None:
    record = stored_record(path)
    kdf = dict(record["kdf"])  # type: ignore[call-overload]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'key_record'",
                     (json.dumps({**record, "kdf": {**kdf, **changes}}),))
    conn.close()


def test_a_weakened_record_is_refused_with_a_sentence_a_person_can_read(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    make_passphrase_store(path)
    _edit_kdf(path, iterations=1, memory_kib=8)
    with ConversationStore.open(path) as store, pytest.raises(keys.KeyAccessError) as refused:
        store.unlock_with_passphrase(PASSPHRASE)
    assert str(refused.value) == ("The key record asks for weaker protection than Cove allows; "
                                  "it may have been tampered with.")
    assert isinstance(refused.value, WeakKdfParameters)


def test_a_record_edited_to_stall_the_unlock_is_refused_without_deriving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cove.db"
    make_passphrase_store(path)
    _edit_kdf(path, memory_kib=4 * 1024 * 1024, iterations=64)

    def no_derivation(*_args: object) -> bytes:
        raise AssertionError("a 4 GiB, 64-pass derivation was started")

    monkeypatch.setattr(keys, "derive_kek", no_derivation)
    with ConversationStore.open(path) as store:
        with pytest.raises(keys.KeyAccessError) as refused:
            store.unlock_with_passphrase(PASSPHRASE)
        assert not store.is_unlocked
    message = str(refused.value)
    assert message.startswith("The key record asks for more work to unlock than Cove allows")
    assert "4096 MiB of memory" in message
    assert message.endswith("it may have been tampered with to stall the unlock.")


# ---- a passphrase that is not text -----------------------------------------------------------

def test_a_passphrase_with_bytes_that_are_not_utf8_is_refused_in_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cove.db"
    make_passphrase_store(path)
    not_utf8 = "caf\udce9"  # what os.environ holds on Linux for the Latin-1 bytes b"caf\xe9"
    monkeypatch.setenv("COVE_PASSPHRASE", not_utf8)
    assert keys.environment_passphrase_problem() is not None
    assert "COVE_PASSPHRASE is not valid UTF-8" in str(keys.environment_passphrase_problem())
    with ConversationStore.open(path) as store, pytest.raises(keys.PassphraseNotText,
                                                              match="not valid UTF-8"):
        store.unlock_with_passphrase(not_utf8)
    with ConversationStore.open(tmp_path / "new.db") as store, pytest.raises(
            keys.PassphraseNotText):
        store.setup_with_passphrase(not_utf8, KdfParams.at_floor())
    monkeypatch.setenv("COVE_PASSPHRASE", "café")
    assert keys.environment_passphrase_problem() is None


# ---- the keyring backend is chosen without probing every platform's -------------------------

_BACKEND_PROBE = """
import subprocess, sys
spawned = []
real_init = subprocess.Popen.__init__
def spy(self, *args, **kwargs):
    spawned.append(str(args[0] if args else kwargs.get("args")))
    real_init(self, *args, **kwargs)
subprocess.Popen.__init__ = spy
from cove.storage import keys
usable = keys.keyring_is_usable()
import keyring
backend = type(keyring.get_keyring()).__module__
print(repr(spawned), "keyring.backends.macOS" in sys.modules, backend)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probing happens on Linux")
def test_finding_the_keyring_on_linux_starts_no_process(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON_KEYRING", "DBUS_SESSION"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-c", _BACKEND_PROBE], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    spawned, mac_loaded, backend = result.stdout.split()
    assert spawned == "[]"  # ldconfig, gcc and ld ran here before (macOS backend's probing)
    assert mac_loaded == "False"
    assert backend.startswith("keyring.backends.")


def test_a_keyring_set_by_the_caller_is_kept(memory_keyring: MemoryKeyring) -> None:
    assert keys._active_backend() is memory_keyring
