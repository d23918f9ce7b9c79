"""Markdown exported by Cove itself (``core.export``): ``# title``, then a ``## You · TIME`` or
``## Assistant (model) · TIME`` heading before each message. A file, or a folder of them."""

from __future__ import annotations

import re
import time
from pathlib import Path

from cove.core.conversation import Message, MessageState, Role
from cove.core.export import INTERRUPTED_TEXT
from cove.storage.importers.common import MAX_BYTES, ImportFailed, ImportResult, export_files
from cove.storage.store import ImportedConversation

WHAT = "Cove Markdown export"
_HEADING = re.compile(r"## (You|Assistant|System)(?: \((.*)\))? · (\d{4}-\d\d-\d\d \d\d:\d\d)\Z")
_ROLES = {"You": Role.USER, "Assistant": Role.ASSISTANT, "System": Role.SYSTEM}
_STARTED = re.compile(r"_Started (\d{4}-\d\d-\d\d \d\d:\d\d)_\Z")
_ENDINGS = {"_Stopped before the end._": MessageState.STOPPED,
            f"_{INTERRUPTED_TEXT}._": MessageState.INTERRUPTED}


def _local(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%d %H:%M"))


def read_cove_markdown(path: Path) -> ImportResult:
    result = ImportResult(WHAT, path)
    for file in export_files(path, WHAT, "*.md"):
        if file.stat().st_size > MAX_BYTES:
            raise ImportFailed(WHAT, file.name, "the file is more than Cove reads at once "
                               "(200 MB).")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ImportFailed(WHAT, file.name, "the file is not UTF-8 text.") from None
        result.conversations.append(_conversation(text, file.name, result))
    return result


def _conversation(text: str, place: str, result: ImportResult) -> ImportedConversation:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ImportFailed(WHAT, f"{place}, line 1", "a Cove export starts with '# ' and the "
                           "conversation's title. Is this a Cove export?")
    title = lines[0][2:].strip()
    created = None
    messages: list[Message] = []
    body: list[str] | None = None
    for number, line in enumerate(lines[1:], 2):
        heading = _HEADING.match(line)
        if heading or line == "## Damaged message":
            _finish(messages, body)
            body = None
            if heading:
                role = _ROLES[heading.group(1)]
                messages.append(Message(role, "", model=heading.group(2) or "",
                                        created=_local(heading.group(3))))
                body = []
            else:
                result.skipped["damaged message"] += 1
        elif body is not None:
            body.append(line)
        elif (started := _STARTED.match(line)) and created is None:
            created = _local(started.group(1))
        elif line.strip() and not messages and not line.startswith("_"):
            raise ImportFailed(WHAT, f"{place}, line {number}", "text before the first "
                               "message heading. Is this a Cove export?")
    _finish(messages, body)
    if title == "Untitled conversation":
        title = ""
    return ImportedConversation([m for m in messages if m.text], title=title, created=created)


def _finish(messages: list[Message], body: list[str] | None) -> None:
    """Give the last message its text: the lines after its heading, less the blank line the
    export adds and any ending it wrote (stopped, interrupted)."""
    if body is None or not messages:
        return
    while body and not body[-1].strip():
        body.pop()
    if body and body[-1] in _ENDINGS:
        messages[-1].state = _ENDINGS[body.pop()]
        while body and not body[-1].strip():
            body.pop()
    while body and not body[0].strip():
        body.pop(0)
    messages[-1].text = "\n".join(body)
