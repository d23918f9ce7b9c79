"""Reading other apps' chat exports into ImportedConversations for the encrypted store.

Each format's reader (``chatgpt``, ``openwebui``, ``jan``, ``lmstudio``, ``cove_markdown``)
turns the app's real export file into
``ImportedConversation``s and counts what it could not bring (images, attachments, tool
output); nothing is written anywhere but the store (``import_file``), and nothing is logged
but counts. Malformed input raises ``ImportFailed`` naming the format and the place, never a
traceback; a file over ``MAX_BYTES`` is refused before it is read.

Public API: ``FORMATS`` (name -> description), ``read_export(format, path) -> ImportResult``,
``import_file(store, format, path, progress=None) -> ImportResult``, ``ImportResult``,
``ImportFailed``. Readers share ``common``: the size check, JSON loading with positions, and
``build_tree``, which makes a source's message tree (ChatGPT's mapping, Open WebUI's history,
LM Studio's versions) into Cove's, every branch kept (a cycle is an error, not a hang).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cove.storage.importers.common import MAX_BYTES, ImportFailed, ImportResult

if TYPE_CHECKING:
    from cove.storage.store import ConversationStore, ImportedConversation

__all__ = ["FORMATS", "MAX_BYTES", "ImportFailed", "ImportResult", "import_file", "read_export"]

FORMATS = {
    "chatgpt": "ChatGPT data export (conversations.json)",
    "openwebui": "Open WebUI chat export (JSON)",
    "jan": "Jan threads (a thread folder, or the threads folder)",
    "lmstudio": "LM Studio conversations (a .conversation.json, or their folder)",
    "cove": "Markdown exported by Cove (a .md file, or a folder of them)",
}


def read_export(format_name: str, path: Path) -> ImportResult:
    """The conversations in `path`, read as `format_name` (a key of FORMATS)."""
    if format_name == "chatgpt":
        from cove.storage.importers.chatgpt import read_chatgpt

        return read_chatgpt(path)
    if format_name == "openwebui":
        from cove.storage.importers.openwebui import read_openwebui

        return read_openwebui(path)
    if format_name == "jan":
        from cove.storage.importers.jan import read_jan

        return read_jan(path)
    if format_name == "lmstudio":
        from cove.storage.importers.lmstudio import read_lmstudio

        return read_lmstudio(path)
    if format_name == "cove":
        from cove.storage.importers.cove_markdown import read_cove_markdown

        return read_cove_markdown(path)
    raise ImportFailed(format_name, "", f"Cove cannot import {format_name!r}; it reads: "
                       + ", ".join(FORMATS) + ".")


def import_file(store: ConversationStore, format_name: str, path: Path,
                progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Read `path` and store its conversations (the store unlocked), all in one transaction.
    `progress(done, total)` is told as they are sealed, each whole percent; it may raise to
    stop, and then nothing is stored (the transaction has not begun)."""
    result = read_export(format_name, path)
    total = len(result.conversations)

    def sealing() -> Iterator[ImportedConversation]:
        reported = -1
        for done, conversation in enumerate(result.conversations, 1):
            yield conversation
            if progress is not None and done * 100 // total != reported:
                reported = done * 100 // total
                progress(done, total)

    result.ids = store.import_conversations(sealing())
    return result
