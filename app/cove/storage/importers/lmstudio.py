"""LM Studio's conversation files (``~/.lmstudio/conversations/*.conversation.json``): a file,
or the folder of them. Each message has ``versions`` (regenerations) and the one shown,
``currentlySelected``, which become branches side by side in Cove, the selected one shown; an
assistant version is single-step or multi-step (content blocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cove.core.conversation import Message, Role
from cove.storage.importers.common import (
    ROLES,
    ImportFailed,
    ImportResult,
    SourceNode,
    build_tree,
    export_files,
    load_json,
    require,
    seconds,
)
from cove.storage.store import ImportedConversation

WHAT = "LM Studio conversation"


def read_lmstudio(path: Path) -> ImportResult:
    result = ImportResult(WHAT, path)
    for file in export_files(path, WHAT, "*.conversation.json"):
        data = require(load_json(file, WHAT), dict, WHAT, file.name, "the whole file")
        result.conversations.append(_conversation(data, file.name, result))
    return result


def _conversation(data: dict[str, Any], place: str, result: ImportResult
                  ) -> ImportedConversation:
    entries = require(data.get("messages"), list, WHAT, place, "messages")
    model_info = data.get("lastUsedModel")
    model = model_info.get("identifier") if isinstance(model_info, dict) else None
    created = seconds(data.get("createdAt"))
    # Each turn's versions are branches side by side; the turns after it follow the version
    # shown (LM Studio keeps no continuation for the others).
    nodes: dict[str, SourceNode] = {}
    shown: str | None = None
    for number, entry in enumerate(entries, 1):
        where = f"{place}, message {number}"
        entry = require(entry, dict, WHAT, where, "message")
        versions = require(entry.get("versions"), list, WHAT, where, "versions")
        chosen = entry.get("currentlySelected", 0)
        if not isinstance(chosen, int) or not 0 <= chosen < len(versions):
            raise ImportFailed(WHAT, where, "its 'currentlySelected' names no version. The "
                               "file was edited or damaged.")
        for index, version in enumerate(versions):
            message = _message(require(version, dict, WHAT, where, "version"), model, result)
            if message is not None and created is not None:
                message.created = created
            nodes[f"{number}.{index}"] = (shown, message)
        shown = f"{number}.{chosen}"
    messages, leaf = build_tree(nodes, shown, WHAT, place)
    name = data.get("name")
    return ImportedConversation(messages, title=name if isinstance(name, str) else "",
                                pinned=data.get("pinned") is True, created=created, leaf=leaf)


def _message(version: dict[str, Any], model: object, result: ImportResult) -> Message | None:
    role = ROLES.get(str(version.get("role")))
    if role is None:
        return None
    if version.get("type") == "multiStep":
        texts = []
        for step in version.get("steps") or []:
            if isinstance(step, dict) and step.get("type") == "contentBlock":
                texts.append(_text(step.get("content"), result))
            elif isinstance(step, dict) and step.get("type") != "debugInfoBlock":
                result.skipped["tool output"] += 1
        text = "\n\n".join(t for t in texts if t)
    else:
        text = _text(version.get("content"), result)
    if not text.strip():
        return None
    sender = version.get("senderInfo")
    name = sender.get("senderName") if isinstance(sender, dict) else None
    name = name if isinstance(name, str) else model
    return Message(role, text, model=name if role is Role.ASSISTANT and isinstance(name, str)
                   else "")


def _text(content: object, result: ImportResult) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(
                part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and part.get("fileType") == "image":
            result.skipped["image"] += 1
        else:
            result.skipped["attachment"] += 1
    return "\n".join(texts)
