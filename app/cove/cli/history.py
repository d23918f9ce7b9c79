"""`cove history list|export ID`: the encrypted history from a terminal, through the same store."""

from __future__ import annotations

import getpass
import re
import sqlite3
import sys
from collections.abc import Sequence

from cove.paths import AppPaths
from cove.storage import conversation_export, keys
from cove.storage.keys import (
    KEYRING_TIMEOUT_S,
    LOCKED_PROMPT_TEXT,
    KeyAccessError,
    KeyringSecretMissing,
    KeyringSecretRejected,
    KeyringWait,
    KeySource,
    WrongPassphrase,
)
from cove.storage.schema import unavailable_reason
from cove.storage.store import ConversationStore, NotFound, StoreError, default_store_path

USAGE = "usage: cove history list | cove history export ID [--format markdown|json]"
# Linux's terminal line discipline keeps at most 4,095 characters of a line being typed and
# drops the rest, so a longer passphrase arrives cut short and simply fails to open.
TERMINAL_LINE_MAX = 4095
_EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C

# C0 controls but newline and tab, DEL, and C1 controls: what a terminal acts on rather than
# prints (ESC starts colour changes, title changes, screen clears; BEL rings).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Interrupted(Exception):
    """The person pressed Ctrl-C at the passphrase prompt."""


def _fail(message: str, code: int = 1) -> int:
    print(f"cove: {message}", file=sys.stderr)
    return code


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def terminal_safe(text: str) -> str:
    """`text` with every control character but newline and tab shown as ``\\xNN``, so stored
    text (a model's reply can hold anything) cannot retitle, clear or recolour the terminal."""
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))


def _write(text: str) -> None:
    """Print stored text: escaped for a terminal, byte for byte to a file or pipe."""
    if sys.stdout.isatty():
        text = terminal_safe(text)
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        # A lone surrogate from a model's output (stored as it came) has no UTF-8 form.
        encoding = sys.stdout.encoding or "utf-8"
        sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))


def _typed_passphrase() -> str:
    try:
        passphrase = getpass.getpass("Cove passphrase: ")
    except EOFError:
        # Ctrl-D: getpass leaves the cursor after the prompt.
        print(file=sys.stderr)
        raise KeyAccessError("No passphrase was typed, so the history stays locked.") from None
    except KeyboardInterrupt:
        print(file=sys.stderr)
        raise _Interrupted() from None
    if len(passphrase) >= TERMINAL_LINE_MAX:
        raise KeyAccessError(
            f"A terminal prompt keeps at most {TERMINAL_LINE_MAX:,} characters, so a longer "
            "passphrase cannot be typed here: set COVE_PASSPHRASE, or unlock in the window.")
    return passphrase


def _unlock(store: ConversationStore) -> None:
    if store.key_source is KeySource.KEYRING:
        # A locked keyring opens its prompt on the desktop: say so once, then wait for it.
        store.unlock_with_keyring(KeyringWait(
            limit_s=KEYRING_TIMEOUT_S,
            on_prompt=lambda: print(f"cove: {LOCKED_PROMPT_TEXT}", file=sys.stderr)))
        return
    passphrase = keys.passphrase_from_environment()
    if passphrase is None:
        if not sys.stdin.isatty():
            raise KeyAccessError("The history needs its passphrase: run this in a terminal, "
                                 "or set COVE_PASSPHRASE for automation.")
        passphrase = _typed_passphrase()
    store.unlock_with_passphrase(passphrase)


def run_history(command: Sequence[str], paths: AppPaths, fmt: str = "markdown") -> int:
    if not command or command[0] not in ("list", "export") or (
            command[0] == "export" and len(command) != 2) or (
            command[0] == "list" and len(command) != 1):
        return _fail(USAGE, 2)
    problem = keys.environment_passphrase_problem()
    if problem is not None:
        return _fail(problem)  # before any file is opened: it could never unlock
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
                    _write(f"{summary.id}\t{summary.message_count}\t{title}\n")
            else:
                _write(conversation_export.as_json(store, command[1]) if fmt == "json"
                       else conversation_export.as_markdown(store, command[1]))
    except (_Interrupted, KeyboardInterrupt):  # at the passphrase or the keyring's prompt
        return _fail("Stopped; the history stays locked.", _EXIT_INTERRUPTED)
    except WrongPassphrase:
        return _fail("That passphrase is not right.")
    except (KeyringSecretMissing, KeyringSecretRejected) as error:
        return _fail(f"{error} Open Cove's window to unlock with your recovery key.")
    except NotFound:
        return _fail(f"No conversation has the id {command[1]!r}. "
                     "`cove history list` shows the ids.")
    except (StoreError, KeyAccessError) as error:
        return _fail(str(error))
    except (OSError, sqlite3.Error) as error:
        reason = unavailable_reason(error) or type(error).__name__
        return _fail(f"Cannot read the history ({reason}).")
    return 0
