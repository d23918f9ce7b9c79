"""`cove history list|export ID`: the encrypted history from a terminal, through the same store."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence

from cove.paths import AppPaths
from cove.storage import keys
from cove.storage.keys import KeyAccessError, KeySource, WrongPassphrase
from cove.storage.store import ConversationStore, NotFound, StoreError, default_store_path

USAGE = "usage: cove history list | cove history export ID"


def _fail(message: str, code: int = 1) -> int:
    print(f"cove: {message}", file=sys.stderr)
    return code


def _unlock(store: ConversationStore) -> None:
    if store.key_source is KeySource.KEYRING:
        store.unlock_with_keyring()
        return
    passphrase = keys.passphrase_from_environment()
    if passphrase is None:
        if not sys.stdin.isatty():
            raise KeyAccessError("The history needs its passphrase: run this in a terminal, "
                                 "or set COVE_PASSPHRASE for automation.")
        passphrase = getpass.getpass("Cove passphrase: ")
    store.unlock_with_passphrase(passphrase)


def run_history(command: Sequence[str], paths: AppPaths) -> int:
    if not command or command[0] not in ("list", "export") or (
            command[0] == "export" and len(command) != 2) or (
            command[0] == "list" and len(command) != 1):
        return _fail(USAGE, 2)
    path = default_store_path(paths)
    if not path.exists():
        if command[0] == "list":
            return 0  # no history yet: nothing to list
        return _fail("There is no saved history yet.")
    try:
        with ConversationStore.open(path) as store:
            if not store.is_set_up:
                return 0 if command[0] == "list" else _fail("There is no saved history yet.")
            _unlock(store)
            if command[0] == "list":
                for summary in store.list_conversations():
                    title = "(damaged)" if summary.damaged else summary.title
                    print(f"{summary.id}\t{summary.message_count}\t{title}")
            else:
                sys.stdout.write(store.export_markdown(command[1]))
    except WrongPassphrase:
        return _fail("That passphrase is not right.")
    except NotFound:
        return _fail(f"No conversation has the id {command[1]!r}. "
                     "`cove history list` shows the ids.")
    except (StoreError, KeyAccessError) as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"Cannot read the history ({error.strerror or type(error).__name__}).")
    return 0
