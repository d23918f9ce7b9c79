"""Tests of the encrypted storage layer: real SQLite files, real encryption, no Qt."""

from tests.keyrings import MemoryKeyring, using_keyring

__all__ = ["MemoryKeyring", "using_keyring"]
