"""One conversation out of the store as text: Markdown as the window shows it, or JSON with
every branch. Plaintext leaves only when the person asks (the window's Export and `cove
history export` warn first); these functions only build the text.

- ``as_markdown(store, conversation_id) -> str``: the branch shown, damaged parts named.
- ``as_json(store, conversation_id) -> str``: every branch, each message with its parent,
  and which branch is shown (``leaf``), so nothing is lost; deleted messages left out.
"""

from __future__ import annotations

import json

from cove.core.conversation import ROOT, Conversation, Message, MessageState
from cove.core.export import conversation_markdown
from cove.storage.store import ConversationStore


def as_markdown(store: ConversationStore, conversation_id: str) -> str:
    """The conversation as Markdown (``core.export``); damaged parts are named, never shown."""
    summary = store.conversation_summary(conversation_id)
    messages = store.load_messages(conversation_id)
    if any(isinstance(m, Message) and m.parent for m in messages):
        # A conversation with branches: the path shown in the window, as it reads there.
        readable = [m for m in messages if isinstance(m, Message)]
        shown = Conversation.from_stored(readable, leaf=summary.leaf).messages
        return conversation_markdown(summary, shown)
    return conversation_markdown(
        summary, [m if isinstance(m, Message) else None for m in messages
                  if not (isinstance(m, Message) and m.state is MessageState.DELETED)])


def as_json(store: ConversationStore, conversation_id: str) -> str:
    """The whole conversation as JSON: every branch, each message with its parent, and which
    branch is shown (`leaf`), so nothing is lost. Deleted messages are left out."""
    summary = store.conversation_summary(conversation_id)
    items: list[dict[str, object]] = []
    previous = ROOT
    for message in store.load_messages(conversation_id):
        if not isinstance(message, Message):
            items.append({"id": message.id, "damaged": True})
            continue
        parent, previous = message.parent or previous, message.id
        if message.state is MessageState.DELETED:
            continue
        items.append({
            "id": message.id, "parent": parent, "role": message.role.value,
            "text": message.text, "model": message.model, "state": message.state.value,
            "created": message.created,
            "stats": message.stats.as_dict() if message.stats is not None else None,
        })
    return json.dumps({"id": summary.id, "title": summary.title, "pinned": summary.pinned,
                       "created": summary.created, "updated": summary.updated,
                       "leaf": summary.leaf, "messages": items},
                      ensure_ascii=False, indent=2) + "\n"
