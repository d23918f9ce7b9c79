"""A conversation rendered as Markdown for export; damaged parts are named, never shown.

Pure and Qt-free: it takes what the store decrypted and returns the text to write. Times are
the computer's local time, as the person saw them in the window.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from cove.core.conversation import Message, MessageState, Role

_ROLE_HEADINGS = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}


class ExportedSummary(Protocol):
    """What the export needs of a conversation's summary (the store's ``ConversationSummary``)."""

    @property
    def title(self) -> str: ...

    @property
    def created(self) -> float: ...

    @property
    def damaged(self) -> bool: ...


# One wording for a reply cut short by Cove closing, in the window and in exports.
INTERRUPTED_TEXT = "Interrupted: Cove closed before this reply finished"

def _local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def conversation_markdown(summary: ExportedSummary, messages: Iterable[Message | None]) -> str:
    """The conversation as Markdown, ending in one newline.

    `messages` in order; None (or a message in state DAMAGED) stands for one that could not be
    read, whether its row is damaged or missing: only that it was there is written.
    """
    lines = [f"# {summary.title or 'Untitled conversation'}", ""]
    if summary.damaged:
        lines += ["_The title and dates of this conversation are damaged and could not be "
                  "read._", ""]
    else:
        lines += [f"_Started {_local_time(summary.created)}_", ""]
    for message in messages:
        if message is None or message.state is MessageState.DAMAGED:
            lines += ["## Damaged message", "",
                      "> This message could not be read: it is damaged or missing.", ""]
            continue
        heading = _ROLE_HEADINGS[message.role]
        if message.model:
            heading += f" ({message.model})"
        lines += [f"## {heading} · {_local_time(message.created)}", "", message.text, ""]
        if message.state is MessageState.STOPPED:
            lines += ["_Stopped before the end._", ""]
        elif message.state is MessageState.FAILED:
            lines += [f"_Failed: {message.error}_" if message.error else "_Failed._", ""]
        elif message.state in (MessageState.STREAMING, MessageState.INTERRUPTED):
            # Stored while it was being written, and never finished: Cove closed first.
            lines += [f"_{INTERRUPTED_TEXT}._", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
