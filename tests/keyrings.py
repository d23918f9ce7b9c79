"""Keyring backends for tests: one that keeps secrets in memory, and a way to install one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
import keyring.errors
from keyring.backend import KeyringBackend


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
