"""`cove import FORMAT FILE`: another app's chat export straight into the encrypted store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cove.cli.backup import with_unlocked_store
from cove.cli.history import _fail
from cove.paths import AppPaths
from cove.storage.importers import FORMATS, ImportFailed, read_export
from cove.storage.store import ConversationStore

USAGE = "usage: cove import FORMAT FILE, where FORMAT is one of: " + ", ".join(
    f"{name} ({description})" for name, description in FORMATS.items())


def run_import(command: Sequence[str], paths: AppPaths) -> int:
    if len(command) != 2:
        return _fail(USAGE, 2)
    format_name, source = command[0], Path(command[1]).expanduser()
    try:
        result = read_export(format_name, source)  # refused before the history opens
    except ImportFailed as error:
        return _fail(str(error))

    def store_it(store: ConversationStore) -> int:
        result.ids = store.import_conversations(result.conversations)
        print(result.summary())
        return 0

    return int(with_unlocked_store(paths, store_it, create=True))
