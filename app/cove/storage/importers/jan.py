"""Jan's threads: a thread folder (``thread.json`` and ``messages.jsonl``), or the ``threads``
folder holding many. Messages are OpenAI-style (``content`` a list of ``{"type": "text",
"text": {"value": ...}}``), one JSON object a line, read a line at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cove.core.conversation import Message, Role
from cove.storage.importers.common import (
    MAX_BYTES,
    ROLES,
    ImportFailed,
    ImportResult,
    load_json,
    require,
    seconds,
)
from cove.storage.store import ImportedConversation

WHAT = "Jan thread"


def _thread_folders(path: Path) -> list[Path]:
    if path.is_file() and path.name in ("thread.json", "messages.jsonl"):
        return [path.parent]
    if (path / "thread.json").is_file():
        return [path]
    if path.is_dir():
        # The threads folder, or Jan's data folder that holds it.
        found = sorted(p.parent for p in path.glob("*/thread.json")) or sorted(
            p.parent for p in path.glob("threads/*/thread.json"))
        if found:
            return found
    raise ImportFailed(WHAT, str(path), "no thread.json here. Choose Jan's data folder, its "
                       "threads folder, one thread's folder, or its thread.json.")


def read_jan(path: Path) -> ImportResult:
    result = ImportResult(WHAT, path)
    folders = _thread_folders(path)
    total = sum(f.stat().st_size for folder in folders for f in folder.iterdir() if f.is_file())
    if total > MAX_BYTES:
        raise ImportFailed(WHAT, str(path), "the threads are more than Cove reads at once "
                           "(200 MB). Import a few thread folders at a time.")
    for folder in folders:
        thread = require(load_json(folder / "thread.json", WHAT), dict, WHAT,
                         f"{folder.name}/thread.json", "the whole file")
        result.conversations.append(_thread(folder, thread, result))
    return result


def _thread(folder: Path, thread: dict[str, Any], result: ImportResult) -> ImportedConversation:
    assistants = thread.get("assistants")
    model = None
    if isinstance(assistants, list) and assistants and isinstance(assistants[0], dict):
        model_info = assistants[0].get("model")
        model = model_info.get("id") if isinstance(model_info, dict) else None
    messages = []
    file = folder / "messages.jsonl"
    if file.exists():
        with open(file, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                place = f"{folder.name}/messages.jsonl, line {number}"
                try:
                    item = json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise ImportFailed(WHAT, place, "the line is not JSON (cut short or "
                                       "damaged). Export the thread again.") from None
                message = _message(require(item, dict, WHAT, place, "message"), model, place,
                                   result)
                if message is not None:
                    messages.append(message)
    messages.sort(key=lambda m: m.created)
    title = thread.get("title")
    created = seconds(thread.get("created"))
    return ImportedConversation(messages, title=title if isinstance(title, str) else "",
                                created=created, updated=seconds(thread.get("updated")))


def _message(item: dict[str, Any], model: object, place: str,
             result: ImportResult) -> Message | None:
    role = ROLES.get(str(item.get("role")))
    content = require(item.get("content"), list, WHAT, place, "content")
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        result.skipped["attachment"] += len(attachments)
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get("text") if isinstance(part, dict) else None
        if kind == "text" and isinstance(text, dict) and isinstance(text.get("value"), str):
            texts.append(text["value"])
        elif kind == "text" and isinstance(text, str):
            texts.append(text)
        else:
            result.skipped["image" if kind == "image_url" else "attachment"] += 1
    body = "\n\n".join(t for t in texts if t)
    if role is None or not body.strip():
        return None
    metadata = item.get("metadata")
    sender = metadata.get("model") if isinstance(metadata, dict) else None
    name = sender if isinstance(sender, str) else model
    message = Message(role, body, model=name if role is Role.ASSISTANT and isinstance(name, str)
                      else "")
    when = seconds(item.get("created_at")) or seconds(item.get("created"))
    if when is not None:
        message.created = when
    return message
