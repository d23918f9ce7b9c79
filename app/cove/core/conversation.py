"""Conversations and messages as plain data, with no Qt and no storage."""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field

from cove.core.presets import ConversationSettings
from cove.core.thinking import answer_only


def new_id() -> str:
    """16 random hex digits, as `secrets.token_hex(8)` makes them; `secrets` itself is not
    imported because it loads OpenSSL (through hmac) before the window can show."""
    return os.urandom(8).hex()


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class MessageState(enum.StrEnum):
    DONE = "done"
    STREAMING = "streaming"
    STOPPED = "stopped"  # the user stopped it; the text so far is kept
    INTERRUPTED = "interrupted"  # Cove closed (or crashed) while it was being written
    FAILED = "failed"
    DAMAGED = "damaged"  # its stored row failed authentication; it has no text to show
    DELETED = "deleted"  # the person deleted it: its text is gone, its place in the tree kept


@dataclass
class ReplyStats:
    """How one reply was generated, as shown in the status bar and the smoke mode."""

    model: str
    tokens: int
    seconds: float
    tokens_per_second: float
    ttft_seconds: float
    prompt_tokens: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 4),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "ttft_seconds": round(self.ttft_seconds, 4),
        }


@dataclass
class Message:
    role: Role
    text: str
    model: str = ""  # which model wrote it (assistant messages only)
    state: MessageState = MessageState.DONE
    stats: ReplyStats | None = None
    error: str = ""
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)
    # The message this one follows: ROOT for a conversation's first, "" for the one stored
    # just before it (messages saved before conversations could branch).
    parent: str = ""

    def belongs_in_history(self) -> bool:
        """Whether later replies should see this message: a failed or empty reply has no
        useful text; a stopped one is kept, since it is what the user saw."""
        if self.state is MessageState.DAMAGED:
            return False
        if self.role is not Role.ASSISTANT or self.state is MessageState.DONE:
            return True
        return self.state in (MessageState.STOPPED, MessageState.INTERRUPTED) and bool(
            self.text)

    def as_chat(self) -> dict[str, str]:
        """The OpenAI-style dict llama-cpp-python's chat templates take. A reasoning model's
        thinking stays out: its templates drop it from later turns too."""
        text = answer_only(self.text) if self.role is Role.ASSISTANT else self.text
        return {"role": self.role.value, "content": text}


ROOT = "root"  # the parent of a conversation's first message(s)
DELETED_PARENT = "deleted"  # where deleted messages hang: on no path


@dataclass
class Conversation:
    """A conversation is a tree: regenerating a reply or editing a message starts a branch
    beside the old one, which is kept. `messages` is the path shown (and what the model sees
    next); `tree` holds every message loaded, in the order they were stored."""

    messages: list[Message] = field(default_factory=list)
    title: str = ""
    id: str = field(default_factory=new_id)
    tree: list[Message] = field(default_factory=list)
    settings: ConversationSettings = field(default_factory=ConversationSettings)

    def __post_init__(self) -> None:
        if not self.tree:
            self.tree = list(self.messages)

    @classmethod
    def from_stored(cls, messages: list[Message], title: str = "", id: str = "",
                    leaf: str = "",
                    settings: ConversationSettings | None = None) -> Conversation:
        """A conversation from stored messages (every branch), showing the branch chosen
        last: through `leaf` to its newest continuation (empty or unknown: the newest
        message's). Only a choice of branch is stored; messages added later follow it."""
        conversation = cls([], title=title, id=id or new_id(), tree=list(messages),
                           settings=settings or ConversationSettings())
        chosen = next((m for m in conversation.tree if m.id == leaf), None)
        conversation.messages = (conversation.path_to(conversation.newest_leaf_under(chosen).id)
                                 if chosen is not None else conversation.path_to())
        return conversation

    # The tree ------------------------------------------------------------------------------

    def parent_of(self, message: Message) -> str:
        """The id of the message `message` follows (ROOT for none loaded)."""
        if message.parent:
            return message.parent
        position = next((n for n, m in enumerate(self.tree) if m is message), -1)
        return self.tree[position - 1].id if position > 0 else ROOT

    def _parents(self) -> dict[str, str]:
        # Painting asks for every row's versions: kept until the tree changes.
        key = (len(self.tree), id(self.tree[0]) if self.tree else 0,
               id(self.tree[-1]) if self.tree else 0, id(self.tree))
        cached = self.__dict__.get("_parents_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        parents = self._compute_parents()
        self.__dict__["_parents_cache"] = (key, parents)
        return parents

    def _compute_parents(self) -> dict[str, str]:
        ids = {m.id for m in self.tree}
        parents: dict[str, str] = {}
        previous = ROOT
        for message in self.tree:
            parent = message.parent or previous
            parents[message.id] = parent if parent in ids else ROOT  # older page: a root
            previous = message.id
        # A deleted message leaves the tree; what followed it follows its parent.
        deleted = {m.id for m in self.tree if m.state is MessageState.DELETED}
        for message_id, parent in parents.items():
            seen = 0
            while parent in deleted and seen <= len(deleted):
                parent, seen = parents[parent], seen + 1
            parents[message_id] = parent
        for message_id in deleted:
            parents[message_id] = DELETED_PARENT
        return parents

    def children(self, parent_id: str) -> list[Message]:
        parents = self._parents()
        return [m for m in self.tree if parents[m.id] == parent_id]

    def alternatives(self, message: Message) -> list[Message]:
        """The versions of this turn: `message` and its siblings (same parent, same role),
        oldest first. A regenerated reply or an edited message is one more."""
        parent = self._parents().get(message.id, ROOT)
        return [m for m in self.children(parent) if m.role is message.role]

    def path_to(self, leaf: str = "") -> list[Message]:
        """The messages from the first to `leaf` (empty or unknown: the newest stored)."""
        parents = self._parents()
        by_id = {m.id: m for m in self.tree if parents[m.id] != DELETED_PARENT}
        if leaf not in by_id:
            live = [m for m in self.tree if m.id in by_id]
            leaf = live[-1].id if live else ""
        path: list[Message] = []
        seen: set[str] = set()
        while leaf in by_id and leaf not in seen:
            seen.add(leaf)
            path.append(by_id[leaf])
            leaf = parents[leaf]
        path.reverse()
        return path

    def newest_leaf_under(self, message: Message) -> Message:
        """Following the newest child each time, the last message below `message`."""
        parents = self._parents()
        node = message
        while True:
            below = [m for m in self.tree if parents[m.id] == node.id]
            if not below:
                return node
            node = below[-1]

    def choose(self, message: Message) -> None:
        """Show the branch through `message` (its newest continuation)."""
        self.messages = self.path_to(self.newest_leaf_under(message).id)

    def branch_before(self, message: Message) -> None:
        """Show the path up to (not including) `message`: the next message added becomes
        another version of it (a regenerated reply, an edited message)."""
        index = next((n for n, m in enumerate(self.messages) if m is message), None)
        if index is not None:
            self.messages = self.messages[:index]

    @property
    def leaf(self) -> str:
        """The id of the last message shown ("" for none): which branch is chosen."""
        return self.messages[-1].id if self.messages else ""

    @property
    def branched(self) -> bool:
        return len(self.tree) != len(self.messages)

    def delete(self, message: Message) -> list[Message]:
        """Delete a message (and, for the person's message, the reply to it): its text goes,
        what followed it now follows its parent. Returns the messages deleted."""
        gone = [message]
        if message.role is Role.USER and message in self.messages:
            after = self.messages.index(message) + 1
            if after < len(self.messages) and self.messages[after].role is Role.ASSISTANT:
                gone.append(self.messages[after])
        leaf = self.leaf if self.messages and self.messages[-1] not in gone else ""
        parent = self._parents().get(message.id, ROOT)
        for item in gone:
            item.state, item.text, item.stats, item.error = MessageState.DELETED, "", None, ""
        self.tree = list(self.tree)  # a new tree: what was worked out about it is stale
        if not leaf:  # the shown branch ended in what was deleted: show its parent's newest
            below = self.children(parent)
            leaf = self.newest_leaf_under(below[-1]).id if below else parent
        self.messages = self.path_to(leaf)
        return gone

    def add(self, message: Message) -> Message:
        message.parent = self.messages[-1].id if self.messages else ROOT
        self.messages.append(message)
        self.tree.append(message)
        if not self.title and message.role is Role.USER:
            self.title = title_from(message.text)
        return message

    def remove(self, messages: list[Message]) -> None:
        """Forget messages (the newest ones, which the model never read)."""
        gone = {id(m) for m in messages}
        self.messages = [m for m in self.messages if id(m) not in gone]
        self.tree = [m for m in self.tree if id(m) not in gone]

    def prepend(self, older: list[Message]) -> None:
        """Older stored messages, loaded later: the same branch stays shown."""
        leaf = self.leaf
        self.tree = older + self.tree
        self.messages = self.path_to(leaf)

    def history_for_reply(self, system_prompt: str = "") -> list[dict[str, str]]:
        """The messages a new reply should see: finished turns only, system prompt first."""
        chat = [{"role": "system", "content": system_prompt}] if system_prompt else []
        chat.extend(m.as_chat() for m in self.messages if m.belongs_in_history())
        return chat


def title_from(text: str, limit: int = 48) -> str:
    """A short title from a message's first line, cut at a whole word ("Plan a trip to…")."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    line = " ".join(first.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:  # a whole word fits: end there, not mid-word
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"
