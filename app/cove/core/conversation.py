"""Conversations and messages as plain data, with no Qt and no storage."""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field


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
        """The OpenAI-style dict llama-cpp-python's chat templates take."""
        return {"role": self.role.value, "content": self.text}


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    title: str = ""
    id: str = field(default_factory=new_id)

    def add(self, message: Message) -> Message:
        self.messages.append(message)
        if not self.title and message.role is Role.USER:
            self.title = title_from(message.text)
        return message

    def history_for_reply(self, system_prompt: str = "") -> list[dict[str, str]]:
        """The messages a new reply should see: finished turns only, system prompt first."""
        chat = [{"role": "system", "content": system_prompt}] if system_prompt else []
        chat.extend(m.as_chat() for m in self.messages if m.belongs_in_history())
        return chat


def title_from(text: str, limit: int = 60) -> str:
    """A one-line title taken from the first words of a message."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"
