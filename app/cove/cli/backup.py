"""`cove backup create FILE` and `cove backup restore FILE`: the whole history in one encrypted
file and back (``storage.backup``), with COVE_BACKUP_PASSPHRASE for automation; and
`cove backup export-all FOLDER`: every conversation and note as plaintext Markdown files
(``storage.export_all``), only when asked."""

from __future__ import annotations

import getpass
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cove.cli.history import _EXIT_INTERRUPTED, _fail, _Interrupted, _unlock
from cove.paths import AppPaths
from cove.storage import keys
from cove.storage.backup import (
    PASSPHRASE_ENV,
    BackupError,
    backup_passphrase_from_environment,
    create_backup,
    restore_backup,
)
from cove.storage.keys import KeyAccessError, WrongPassphrase
from cove.storage.schema import unavailable_reason
from cove.storage.store import ConversationStore, NotFound, StoreError, default_store_path

USAGE = ("usage: cove backup create FILE | cove backup restore FILE | "
         "cove backup export-all FOLDER")
T = TypeVar("T")


def _ask(prompt: str) -> str:
    try:
        return getpass.getpass(prompt)
    except EOFError:
        print(file=sys.stderr)
        raise BackupError("No passphrase was typed.") from None
    except KeyboardInterrupt:
        print(file=sys.stderr)
        raise _Interrupted() from None


def backup_passphrase(confirm: bool) -> str:
    """COVE_BACKUP_PASSPHRASE, else typed at the terminal (twice for a new backup)."""
    passphrase = backup_passphrase_from_environment()
    if passphrase is not None:
        return passphrase
    if not sys.stdin.isatty():
        raise BackupError(f"A backup needs its passphrase: run this in a terminal, or set "
                          f"{PASSPHRASE_ENV} for automation.")
    passphrase = _ask("Backup passphrase: ")
    if not passphrase:
        raise BackupError("A backup needs a passphrase; nothing was written.")
    if confirm and _ask("Type it again: ") != passphrase:
        raise BackupError("The two passphrases differ; nothing was written.")
    return passphrase


def with_unlocked_store(paths: AppPaths, work: Callable[[ConversationStore], T],
                        create: bool = False, *, nothing: str = "There is no saved history yet.",
                        not_found: str = "", what: str = "the history") -> T | int:
    """work(store) on the unlocked history, or an exit status after saying what went wrong.
    `create`: a history with no key yet is set up with COVE_PASSPHRASE (an import).
    `nothing`, `not_found` and `what` word the messages for the command (notes: "notes")."""
    problem = keys.environment_passphrase_problem()
    if problem is not None:
        return _fail(problem)
    path = default_store_path(paths)
    if not path.exists() and not create:
        return _fail(nothing)
    try:
        with ConversationStore.open(path) as store:
            if not store.is_set_up:
                passphrase = keys.passphrase_from_environment()
                if not create or passphrase is None:
                    return _fail(f"{nothing} Open Cove once to choose how your history is "
                                 "protected, or set COVE_PASSPHRASE.")
                store.setup_with_passphrase(passphrase)
            else:
                _unlock(store)
            return work(store)
    except _Interrupted:
        return _fail("Stopped; the history stays locked.", _EXIT_INTERRUPTED)
    except WrongPassphrase:
        return _fail("That passphrase is not right.")
    except NotFound as error:
        return _fail(not_found or str(error))
    except (StoreError, KeyAccessError, BackupError) as error:
        return _fail(str(error))
    except (OSError, sqlite3.Error) as error:
        reason = unavailable_reason(error) or type(error).__name__
        return _fail(f"Cannot use {what} ({reason}).")


def run_backup(command: Sequence[str], paths: AppPaths) -> int:
    if len(command) != 2 or command[0] not in ("create", "restore", "export-all"):
        return _fail(USAGE, 2)
    target = Path(command[1]).expanduser()
    if command[0] == "create":
        return _create(target, paths)
    if command[0] == "export-all":
        return _export_all(target, paths)
    return _restore(target, paths)


def _export_all(folder: Path, paths: AppPaths) -> int:
    """Every conversation and note as Markdown files in `folder` (new or empty), 0600."""
    from cove.storage.export_all import export_all

    def export(store: ConversationStore) -> int:
        result = export_all(store, folder)
        print(result.summary())
        return 0

    return int(with_unlocked_store(paths, export))


def _create(target: Path, paths: AppPaths) -> int:
    def create(store: ConversationStore) -> int:
        summary = create_backup(store, target, backup_passphrase(confirm=True), paths=paths)
        print(f"Backed up {summary.count('conversations')} conversations "
              f"({summary.count('messages')} messages) and {summary.count('notes')} notes "
              f"to {target}. Keep its passphrase: without it the backup cannot be opened.")
        return 0

    return int(with_unlocked_store(paths, create))


def cove_is_running(paths: AppPaths) -> bool:
    """Whether a Cove window holds this store (its single-instance lock, ``cove.instance``):
    a restore under it would be undone, since that window keeps writing to the old file."""
    if sys.platform == "win32":
        return False
    import fcntl
    import os

    from cove.instance import InstanceUnavailable, instance_name, runtime_folder

    try:
        lock = runtime_folder() / f"{instance_name(paths.data)}.lock"
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except (InstanceUnavailable, OSError):
        return False  # no lock file: no Cove has run here since boot
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock, if this took it
    return False


def _restore(source: Path, paths: AppPaths) -> int:
    if cove_is_running(paths):
        return _fail("Cove is open on this history. Close it first, or use File > Restore "
                     "from Backup… in its window. Nothing was changed.")
    try:
        passphrase = backup_passphrase(confirm=False)
        result = restore_backup(source, passphrase, default_store_path(paths), paths=paths)
    except _Interrupted:
        return _fail("Stopped; nothing was changed.", _EXIT_INTERRUPTED)
    except (BackupError, StoreError, KeyAccessError) as error:
        return _fail(str(error))
    except (OSError, sqlite3.Error) as error:
        reason = unavailable_reason(error) or type(error).__name__
        return _fail(f"Cannot restore ({reason}). Nothing was changed.")
    summary = result.summary
    text = (f"Restored {summary.count('conversations')} conversations "
            f"({summary.count('messages')} messages) and {summary.count('notes')} notes. "
            "Your history now opens with the backup's passphrase.")
    if result.kept is not None:
        text += f" The history it replaced is kept as {result.kept}."
    print(text)
    return 0
