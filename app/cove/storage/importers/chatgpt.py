"""ChatGPT's data export (``conversations.json``): each conversation's ``mapping`` tree of
message nodes becomes Cove's tree, every branch kept (a regenerated reply, an edited message),
with the branch ChatGPT showed last (``current_node``) shown.

Titles, times and model slugs are kept; images, attachments, tool calls and their output are
skipped and counted; hidden system and context messages are left out (ChatGPT never showed
them), and what followed them follows the message before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cove.core.conversation import Message, Role
from cove.storage.importers.common import (
    ImportResult,
    SourceNode,
    build_tree,
    read_list,
    require,
    seconds,
)
from cove.storage.store import ImportedConversation

WHAT = "ChatGPT export"
_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT}
_HIDDEN_CONTEXT = {"user_editable_context", "model_editable_context"}


def read_chatgpt(path: Path) -> ImportResult:
    return read_list(path, WHAT, "conversation", "mapping", _conversation)


def _conversation(item: dict[str, Any], place: str, result: ImportResult) -> ImportedConversation:
    mapping = require(item.get("mapping"), dict, WHAT, place, "mapping")
    current = require(item.get("current_node"), str, WHAT, place, "current_node")
    default_model = item.get("default_model_slug")
    created = seconds(item.get("create_time"))
    nodes: dict[str, SourceNode] = {}
    for node_id, node in mapping.items():
        node = require(node, dict, WHAT, f"{place}, node {node_id}", "node")
        parent = node.get("parent")
        nodes[node_id] = (parent if isinstance(parent, str) else None,
                          _message(node.get("message"), default_model, created, result))
    messages, leaf = build_tree(nodes, current, WHAT, place)
    title = item.get("title")
    return ImportedConversation(
        messages, title=title if isinstance(title, str) else "", created=created,
        updated=seconds(item.get("update_time")) or max(
            (m.created for m in messages), default=None), leaf=leaf)


def _message(message: object, default_model: object, created: float | None,
             result: ImportResult) -> Message | None:
    if not isinstance(message, dict):
        return None  # the root, which holds no message
    author = message.get("author")
    role_name = author.get("role") if isinstance(author, dict) else None
    metadata = message.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    content = message.get("content")
    content = content if isinstance(content, dict) else {}
    content_type = content.get("content_type")
    if role_name == "tool":
        result.skipped["tool output"] += 1
        return None
    if (role_name not in _ROLES or metadata.get("is_visually_hidden_from_conversation")
            or content_type in _HIDDEN_CONTEXT):
        return None
    if message.get("recipient", "all") != "all":
        result.skipped["tool call"] += 1
        return None
    attachments = metadata.get("attachments")
    if isinstance(attachments, list):
        result.skipped["attachment"] += len(attachments)
    text = _text(content, result)
    if not text.strip():
        return None
    role = _ROLES[role_name]
    model = metadata.get("model_slug") or (default_model if role is Role.ASSISTANT else "")
    when = seconds(message.get("create_time")) or created
    imported = Message(role, text, model=model if isinstance(model, str) else "")
    if when is not None:
        imported.created = when
    return imported


def _text(content: dict[str, Any], result: ImportResult) -> str:
    content_type = content.get("content_type")
    parts = content.get("parts")
    if content_type in ("text", "multimodal_text") and isinstance(parts, list):
        texts = []
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])  # a voice message's transcript
            elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
                result.skipped["image"] += 1
            else:
                result.skipped["attachment"] += 1
        return "\n\n".join(t for t in texts if t)
    result.skipped[f"{content_type or 'unknown'} part"] += 1
    return ""
