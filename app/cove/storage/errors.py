"""Errors a history file raises; their messages are safe to show and never quote stored text.

Key errors (``WrongPassphrase``, ``KeyringUnavailable``, ...) come from ``cove.storage.keys``.
"""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """Something the user may need to act on; the message never quotes stored text."""


class StoreDamaged(StoreError):
    """The file is truncated, garbage or not Cove's; it is left exactly as found."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"The history file {path} is damaged: {reason}.")
        self.path = path
        self.reason = reason


class StoreUnavailable(StoreError):
    """The file or its folder cannot be opened or written: read-only, not a folder, disk full.

    Nothing is wrong with the history itself; the message says what to fix.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"Cove cannot open the history file {path}: {reason}.")
        self.path = path
        self.reason = reason


class StoreTooNew(StoreError):
    """Written by a newer Cove; opening it here could lose what that version stored."""


class StoreLocked(StoreError):
    """The data key is not loaded: unlock first."""


class StoreNotSetUp(StoreError):
    """No data key exists yet: run one of the setup methods."""


class AlreadySetUp(StoreError):
    """Setup was asked for a store that already has a data key."""


class NotFound(StoreError, LookupError):
    """No conversation or message with that id."""


class DuplicateId(StoreError, ValueError):
    """A conversation or message with that id is already stored."""


class ConversationDamaged(StoreError):
    """The conversation's summary row failed authentication, so it cannot be changed."""


class PreferenceDamaged(StoreError):
    """A sealed preference record failed authentication; it was left as it is."""
