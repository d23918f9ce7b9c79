"""Keyring backends for tests: one that keeps secrets in memory, one whose unlock prompt waits
for an answer, keyring's Secret Service backend over an in-memory collection; and a way to
install one."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import SecretService


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps secrets in a dict, like a working OS keyring would."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.secrets[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such secret") from None


@contextmanager
def using_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Install `backend` as the active keyring for the block, then restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


class PromptingKeyring(MemoryKeyring):
    """A locked keyring: every call waits on its unlock prompt until the person answers it
    (`unlock()`) or closes it (`dismiss()`, after which calls fail as keyring's do)."""

    def __init__(self, locked: bool = True) -> None:
        super().__init__()
        self.locked = locked
        self.prompt_open = threading.Event()
        self._answered = threading.Event()
        self._dismissed = False
        self.calls_waiting = 0
        self.writes = 0  # secrets that landed

    def unlock(self) -> None:
        self.locked = False
        self._answered.set()

    def dismiss(self) -> None:
        self._dismissed = True
        self._answered.set()

    def _prompt(self) -> None:
        if not self.locked:
            return
        self.prompt_open.set()
        self.calls_waiting += 1
        self._answered.wait(60)
        if self._dismissed:
            raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._prompt()
        super().set_password(service, username, password)
        self.writes += 1

    def get_password(self, service: str, username: str) -> str | None:
        self._prompt()
        return super().get_password(service, username)

    def delete_password(self, service: str, username: str) -> None:
        self._prompt()
        super().delete_password(service, username)


class FakeSecretItem:
    """One Secret Service item, as secretstorage's Item presents it."""

    def __init__(self, collection: FakeSecretCollection, path: str, label: str,
                 attributes: dict[str, str], secret: bytes) -> None:
        self.collection = collection
        self.item_path = path
        self.label = label
        self.attributes = attributes
        self.secret = secret

    def is_locked(self) -> bool:
        return False

    def get_secret(self) -> bytes:
        return self.secret

    def get_attributes(self) -> dict[str, str]:
        return dict(self.attributes)

    def delete(self) -> None:
        self.collection.items.remove(self)


class FakeSecretCollection:
    """The default collection of a Secret Service (GNOME Keyring), in memory."""

    def __init__(self) -> None:
        self.items: list[FakeSecretItem] = []
        self.connection = _FakeConnection()
        self._next = 0

    def search_items(self, query: dict[str, str]) -> list[FakeSecretItem]:
        return [item for item in self.items
                if all(item.attributes.get(k) == v for k, v in query.items())]

    def create_item(self, label: str, attributes: dict[str, str], secret: str | bytes,
                    replace: bool = False) -> FakeSecretItem:
        value = secret.encode() if isinstance(secret, str) else secret
        if replace:
            for item in [i for i in self.items if i.attributes == attributes]:
                item.delete()
        self._next += 1
        item = FakeSecretItem(self, f"/org/freedesktop/secrets/collection/login/{self._next}",
                              label, dict(attributes), value)
        self.items.append(item)
        return item


class _FakeConnection:
    def close(self) -> None:
        pass


class FakeSecretService(SecretService.Keyring):
    """keyring's own Secret Service backend, talking to an in-memory collection instead of
    D-Bus: its lookups, labels and attributes are keyring's real code."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.collection = FakeSecretCollection()

    def get_preferred_collection(self) -> FakeSecretCollection:  # type: ignore[override]
        return self.collection


class FileKeyring(KeyringBackend):
    """A keyring that child processes share: secrets in the JSON file named by
    COVE_TEST_KEYRING_FILE (a stand-in for the desktop's keyring daemon in end-to-end tests;
    choose it with PYTHON_KEYRING_BACKEND=tests.keyrings.FileKeyring)."""

    priority = 1  # type: ignore[assignment]

    @staticmethod
    def _path() -> Path:
        return Path(os.environ["COVE_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def _save(self, secrets: dict[str, str]) -> None:
        self._path().write_text(json.dumps(secrets))
        os.chmod(self._path(), 0o600)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._save({**self._load(), f"{service}/{username}": password})

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def delete_password(self, service: str, username: str) -> None:
        secrets = self._load()
        if secrets.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("no such secret")
        self._save(secrets)
