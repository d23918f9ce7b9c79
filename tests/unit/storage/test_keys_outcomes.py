"""Every keyring outcome told apart: a locked keyring that is unlocked late, a prompt closed,
Cove's own Cancel, an item that is gone, a write that lands after Cove gave up, and the label
a person sees on the item. Real SQLite files and real encryption; the keyrings are fakes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from keyring.backends import SecretService

from cove.core.conversation import Message, Role
from cove.storage.crypto import KdfParams
from cove.storage.keys import (
    KEYRING_APPLICATION,
    KEYRING_LABEL,
    KEYRING_SERVICE,
    KeyringCancelled,
    KeyringLocked,
    KeyringSecretMissing,
    KeyringTimeout,
    KeyringWait,
    NoKeyring,
    keyring_entry_name,
)
from cove.storage.store import ConversationStore
from tests.keyrings import FakeSecretService, PromptingKeyring, using_keyring


@pytest.fixture
def keyring() -> Iterator[PromptingKeyring]:
    """A locked keyring whose unlock prompt waits for an answer."""
    with using_keyring(PromptingKeyring()) as backend:
        assert isinstance(backend, PromptingKeyring)
        yield backend
    backend.unlock()  # a call still waiting on the prompt finishes


@pytest.fixture
def unlocked_keyring() -> Iterator[PromptingKeyring]:
    with using_keyring(PromptingKeyring(locked=False)) as backend:
        assert isinstance(backend, PromptingKeyring)
        yield backend


@pytest.fixture
def secret_service() -> Iterator[FakeSecretService]:
    with using_keyring(FakeSecretService()) as backend:
        assert isinstance(backend, FakeSecretService)
        yield backend


def keyring_store(path: Path, backend: PromptingKeyring) -> str:
    """A history kept by `backend`, set up while it was unlocked; it is locked again after."""
    backend.locked = False
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        conversation = store.create_conversation("Kept")
        store.append_message(conversation, Message(Role.USER, "behind the keyring"))
    backend.locked = True
    return conversation


def answer_when_prompted(backend: PromptingKeyring, answer: str) -> threading.Thread:
    """Like a person at the keyring's prompt: once it opens, unlock or dismiss it."""
    def run() -> None:
        assert backend.prompt_open.wait(10)
        time.sleep(0.3)  # a person takes a moment; Cove must still be waiting
        backend.unlock() if answer == "unlock" else backend.dismiss()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_locked_keyring_unlocked_late_opens_the_history_by_itself(
        tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    conversation = keyring_store(path, keyring)
    prompts: list[float] = []
    wait = KeyringWait(limit_s=None, cancel=threading.Event(), notice_after_s=0.1,
                       on_prompt=lambda: prompts.append(time.monotonic()))
    answer_when_prompted(keyring, "unlock")
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring(wait)
        message = store.load_messages(conversation)[0]
    assert isinstance(message, Message) and message.text == "behind the keyring"
    assert len(prompts) == 1, "told once that a prompt is open, however many calls it spans"


def test_a_closed_prompt_says_the_keyring_is_still_locked(
        tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    keyring_store(path, keyring)
    answer_when_prompted(keyring, "dismiss")
    with ConversationStore.open(path) as store:
        with pytest.raises(KeyringLocked) as refused:
            store.unlock_with_keyring(KeyringWait(limit_s=None, cancel=threading.Event()))
        assert not store.is_unlocked
    assert str(refused.value) == ("Your keyring is still locked: its unlock prompt was closed. "
                                  "Unlock the keyring, then try again.")


def test_coves_own_cancel_stops_the_wait_at_once(tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    keyring_store(path, keyring)
    cancel = threading.Event()
    wait = KeyringWait(limit_s=None, cancel=cancel, notice_after_s=0.05,
                       on_prompt=cancel.set)  # Cancel pressed as soon as it is offered
    started = time.monotonic()
    with ConversationStore.open(path) as store, pytest.raises(KeyringCancelled):
        store.unlock_with_keyring(wait)
    assert time.monotonic() - started < 2
    keyring.unlock()


def test_a_limit_says_what_to_do_not_a_class_name(
        tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    keyring_store(path, keyring)
    with ConversationStore.open(path) as store, pytest.raises(KeyringTimeout) as slow:
        store.unlock_with_keyring(0.2)
    keyring.unlock()
    assert "Unlock it, then try again" in str(slow.value)
    assert "Keyring" not in str(slow.value)


def test_a_missing_item_is_told_apart_from_a_locked_keyring(
        tmp_path: Path, unlocked_keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    keyring_store(path, unlocked_keyring)
    unlocked_keyring.locked = False
    unlocked_keyring.secrets.clear()  # `secret-tool clear service Cove`
    with ConversationStore.open(path) as store, pytest.raises(KeyringSecretMissing) as gone:
        store.unlock_with_keyring()
    assert "gone from the system keyring" in str(gone.value)


def test_no_backend_is_its_own_outcome(tmp_path: Path) -> None:
    with ConversationStore.open(tmp_path / "cove.db") as store, pytest.raises(NoKeyring):
        store.setup_with_keyring()  # tests run with keyring's fail backend


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_write_that_lands_after_cove_gave_up_is_removed(
        tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        with pytest.raises(KeyringTimeout):
            store.setup_with_keyring(0.2)
        assert not store.is_set_up
        keyring.unlock()  # the person finally answers "Choose password for new keyring"
        wait_until(lambda: keyring.writes == 1)
        wait_until(lambda: not keyring.secrets)  # a stray item that opens nothing: gone
        store.setup_with_keyring()  # the keyring is still worth offering, and works
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring()


def test_a_late_write_never_replaces_a_newer_secret(
        tmp_path: Path, keyring: PromptingKeyring) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        cancel = threading.Event()
        with pytest.raises(KeyringCancelled):  # Cancel pressed while the prompt is open
            store.setup_with_keyring(KeyringWait(limit_s=None, cancel=cancel,
                                                 notice_after_s=0.05, on_prompt=cancel.set))
        second = threading.Thread(target=store.setup_with_keyring, args=(30,), daemon=True)
        second.start()  # tried again while the first write still waits on the prompt
        time.sleep(0.3)
        assert keyring.calls_waiting == 1, "the second write waits for the first to land"
        keyring.unlock()
        second.join(10)
        assert store.is_set_up
    assert len(keyring.secrets) == 1
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring()


def test_the_item_has_a_label_a_person_understands(
        tmp_path: Path, secret_service: FakeSecretService) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        name = keyring_entry_name(store.store_id)
    [item] = secret_service.collection.items
    assert item.label == KEYRING_LABEL
    assert "unreadable unless you have the recovery key" in item.label
    assert item.attributes == {"service": KEYRING_SERVICE, "username": name,
                               "application": KEYRING_APPLICATION}
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring()


def old_style_item(backend: FakeSecretService, name: str, secret: str) -> None:
    """An item as the keyring library stores it: its own label and application name."""
    SecretService.Keyring.set_password(backend, KEYRING_SERVICE, name, secret)
    assert any(item.attributes["application"] == "Python keyring library"
               for item in backend.collection.items)


def test_an_item_stored_by_an_older_cove_is_still_found(
        tmp_path: Path, secret_service: FakeSecretService) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        name = keyring_entry_name(store.store_id)
    secret = secret_service.get_password(KEYRING_SERVICE, name)
    assert secret is not None
    secret_service.collection.items.clear()
    old_style_item(secret_service, name, secret)
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring()  # found by service and user name, as before


def test_a_stale_item_is_not_left_beside_the_new_one(
        tmp_path: Path, secret_service: FakeSecretService) -> None:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase("a passphrase for now", KdfParams.at_floor())
        old_style_item(secret_service, keyring_entry_name(store.store_id), "c3RhbGU=")
        store.switch_to_keyring()
    [item] = secret_service.collection.items
    assert item.label == KEYRING_LABEL
    with ConversationStore.open(path) as store:
        store.unlock_with_keyring()
