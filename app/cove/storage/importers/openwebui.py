"""Open WebUI's chat export (Settings > Chats > Export, or one chat's Download > Export chat
(.json)): a list of chats, each with a ``chat.history`` of messages linked by ``parentId``,
which becomes Cove's tree: every branch kept, the one shown last (``currentId``) shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cove.core.conversation import Message, Role
from cove.storage.importers.common import (
    ROLES,
    ImportResult,
    SourceNode,
    build_tree,
    read_list,
    require,
    seconds,
)
from cove.storage.store import ImportedConversation

WHAT = "Open WebUI export"


def read_openwebui(path: Path) -> ImportResult:
    return read_list(path, WHAT, "chat", "chat", _chat)


def _chat(entry: dict[str, Any], place: str, result: ImportResult) -> ImportedConversation:
    chat = require(entry.get("chat"), dict, WHAT, place, "chat")
    history = require(chat.get("history"), dict, WHAT, place, "chat.history")
    found = require(history.get("messages"), dict, WHAT, place, "chat.history.messages")
    nodes: dict[str, SourceNode] = {}
    for node_id, node in found.items():
        where = f"{place}, message {node_id}"
        node = require(node, dict, WHAT, where, "message")
        parent = node.get("parentId")
        nodes[node_id] = (parent if isinstance(parent, str) else None,
                          _message(node, where, result))
    current = (require(history.get("currentId"), str, WHAT, place, "chat.history.currentId")
               if nodes else None)
    messages, leaf = build_tree(nodes, current, WHAT, place)
    title = entry.get("title") or chat.get("title")
    created = seconds(entry.get("created_at")) or seconds(chat.get("timestamp"))
    return ImportedConversation(messages, title=title if isinstance(title, str) else "",
                                created=created, updated=seconds(entry.get("updated_at")),
                                leaf=leaf)


def _message(node: dict[str, Any], place: str, result: ImportResult) -> Message | None:
    role = ROLES.get(str(node.get("role")))
    content = require(node.get("content", ""), str, WHAT, place, "content")
    files = node.get("files")
    if isinstance(files, list):
        for item in files:
            kind = item.get("type") if isinstance(item, dict) else None
            result.skipped["image" if kind == "image" else "attachment"] += 1
    if role is None or not content.strip():
        return None
    model = node.get("model") if role is Role.ASSISTANT else ""
    message = Message(role, content, model=model if isinstance(model, str) else "")
    when = seconds(node.get("timestamp"))
    if when is not None:
        message.created = when
    return message
