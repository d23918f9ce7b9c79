"""Row codecs: summaries, messages and preferences sealed into row bodies, and opened back.

Each sealed body is bound (as AES-GCM associated data) to its table, conversation id, row id,
sequence number and key id, so a body copied onto another row fails to open. A summary or
message row that fails to open, or opens to something that does not decode, comes back marked
damaged rather than raising: one bad row must not hide the rest of a history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from cove.core.conversation import Message, MessageState, ReplyStats, Role
from cove.storage.crypto import RowCipher
from cove.storage.errors import PreferenceDamaged

log = logging.getLogger(__name__)

# The table names as bound into each row's associated data (the same words as the SQL tables).
CONVERSATIONS = "conversations"
MESSAGES = "messages"
PREFERENCES = "preferences"

_ID_PATTERN = re.compile(r"[0-9a-f]{16,64}\Z")
_PREFERENCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


class ConversationSummary(NamedTuple):
    """What the sidebar shows for one conversation; `damaged` rows have empty fields.

    A NamedTuple rather than a frozen dataclass: 10,000 are built at every unlock, and a tuple
    is built several times faster.
    """

    id: str
    title: str
    pinned: bool
    created: float
    updated: float
    message_count: int
    damaged: bool = False
    leaf: str = ""  # the last message of the branch shown ("": the newest message's)
    settings: str = ""  # the conversation's own settings (ConversationSettings JSON), if any

    def sidebar_order(self) -> tuple[bool, float]:
        """Sort key for lists of conversations: pinned first, then the newest."""
        return (not self.pinned, -self.updated)


@dataclass(frozen=True)
class DamagedMessage:
    """A message row that failed authentication (`missing`: its row is gone). Never text."""

    id: str
    conversation_id: str
    seq: int
    missing: bool = False


def check_id(value: str) -> str:
    """`value`, if it is a random hex id; ValueError otherwise."""
    # Ids are stored in clear, so only random hex ids are accepted: never a title or text.
    if not _ID_PATTERN.match(value):
        raise ValueError("ids must be 16-64 lowercase hex characters from a random source")
    return value


def check_preference_name(name: str) -> str:
    """`name`, if it is a fixed lowercase word (it is stored in clear); ValueError otherwise."""
    if not _PREFERENCE_NAME.match(name):
        raise ValueError("preference names are fixed lowercase words from the code")
    return name


def _encode(value: dict[str, Any]) -> bytes:
    # surrogatepass: a lone surrogate in model output still round-trips instead of failing.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def _decode(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8", "surrogatepass"))
    if not isinstance(value, dict):
        raise ValueError("row body is not an object")
    return value


# ---- messages ------------------------------------------------------------------------------

def message_body(message: Message) -> bytes:
    """The plaintext of a message row (encoded apart from sealing, so callers can do it before
    they take a lock)."""
    return _encode({
        "role": message.role.value,
        "text": message.text,
        "model": message.model,
        "state": message.state.value,
        "stats": dataclasses.asdict(message.stats) if message.stats is not None else None,
        "error": message.error,
        "created": message.created,
        # Which message this one follows (the conversation is a tree: regenerated replies
        # and edited messages are branches). Inside the sealed body: the shape of a
        # conversation is as private as its words.
        **({"parent": message.parent} if message.parent else {}),
    })


def seal_message(cipher: RowCipher, conversation_id: str, message_id: str, seq: int,
                 body: bytes) -> bytes:
    """A message body from ``message_body`` sealed for its place in the conversation."""
    return cipher.seal(MESSAGES, conversation_id, message_id, seq, body)


_STATS_FIELDS = {f.name for f in dataclasses.fields(ReplyStats)}


def _message_from_body(message_id: str, body: dict[str, Any]) -> Message:
    stats = body.get("stats")
    return Message(
        role=Role(body["role"]),
        text=str(body["text"]),
        model=str(body.get("model", "")),
        state=MessageState(body.get("state", MessageState.DONE.value)),
        stats=(ReplyStats(**{k: v for k, v in stats.items() if k in _STATS_FIELDS})
               if isinstance(stats, dict) else None),
        error=str(body.get("error", "")),
        id=message_id,
        created=float(body["created"]),
        parent=str(body.get("parent", "")),
    )


def _message_or_damaged(conversation_id: str, message_id: str, seq: int,
                        body: bytes | None) -> Message | DamagedMessage:
    try:
        if body is None:
            raise ValueError("row failed authentication")
        return _message_from_body(message_id, _decode(body))
    except (ValueError, KeyError, TypeError):
        return DamagedMessage(message_id, conversation_id, seq)


def open_messages(cipher: RowCipher, rows: list[tuple[str, str, int, str, bytes]]
                  ) -> list[Message | DamagedMessage]:
    """(conversation id, message id, seq, key id, blob) rows, opened; failures damaged."""
    opened = [_message_or_damaged(conversation_id, message_id, seq, plaintext)
              for (conversation_id, message_id, seq, _, _), plaintext
              in zip(rows, cipher.open_many(MESSAGES, rows), strict=True)]
    damaged = sum(isinstance(message, DamagedMessage) for message in opened)
    if damaged:
        log.warning("damaged message rows: %d", damaged)
    return opened


# ---- conversation summaries ----------------------------------------------------------------

# Summaries are packed, not JSON: the sidebar decodes 10,000 of them at unlock.
# Layout: format version, pinned, created, updated, message count; from format 2 the chosen
# branch's last message id (a length byte, then ASCII hex); from format 3 the conversation's
# own settings (a 4-byte length, then UTF-8 JSON); then the UTF-8 title. Formats 1 (no
# branch) and 2 (no settings) are still read.
_SUMMARY_HEAD = struct.Struct("<B?ddI")
_SETTINGS_SIZE = struct.Struct("<I")
_SUMMARY_FORMAT = 3


def seal_summary(cipher: RowCipher, summary: ConversationSummary) -> bytes:
    """The sealed body of a conversation's row (bound to its id, sequence 0)."""
    head = _SUMMARY_HEAD.pack(_SUMMARY_FORMAT, summary.pinned, summary.created, summary.updated,
                              summary.message_count)
    leaf = summary.leaf.encode("ascii")
    settings = summary.settings.encode("utf-8", "surrogatepass")
    body = (head + bytes([len(leaf)]) + leaf + _SETTINGS_SIZE.pack(len(settings)) + settings
            + summary.title.encode("utf-8", "surrogatepass"))
    return cipher.seal(CONVERSATIONS, summary.id, summary.id, 0, body)


def _summary_from_body(conversation_id: str, body: bytes) -> ConversationSummary:
    version, pinned, created, updated, count = _SUMMARY_HEAD.unpack_from(body)
    rest = body[_SUMMARY_HEAD.size:]
    leaf = settings = ""
    if version not in (1, 2, 3):
        raise ValueError("unknown summary format")
    if version >= 2:
        size = rest[0]
        leaf = rest[1:1 + size].decode("ascii")
        rest = rest[1 + size:]
    if version >= 3:
        (size,) = _SETTINGS_SIZE.unpack_from(rest)
        start = _SETTINGS_SIZE.size
        settings = rest[start:start + size].decode("utf-8", "surrogatepass")
        rest = rest[start + size:]
    title = rest.decode("utf-8", "surrogatepass")
    return ConversationSummary(conversation_id, title, pinned, created, updated, count,
                               leaf=leaf, settings=settings)


def _summary_or_damaged(conversation_id: str, body: bytes | None) -> ConversationSummary:
    """The decoded summary, or a damaged one when the row failed authentication (None)."""
    try:
        if body is None:
            raise ValueError("row failed authentication")
        return _summary_from_body(conversation_id, body)
    except (ValueError, IndexError, struct.error):
        return ConversationSummary(conversation_id, "", False, 0.0, 0.0, 0, damaged=True)


def open_summaries(cipher: RowCipher, rows: list[tuple[str, str, bytes]]
                   ) -> dict[str, ConversationSummary]:
    """(id, key id, blob) rows of the conversations table, opened; failures are damaged."""
    bodies = cipher.open_many(CONVERSATIONS, [(cid, cid, 0, key_id, blob)
                                              for cid, key_id, blob in rows])
    summaries = {conversation_id: _summary_or_damaged(conversation_id, body)
                 for (conversation_id, _, _), body in zip(rows, bodies, strict=True)}
    damaged = sum(summary.damaged for summary in summaries.values())
    if damaged:
        log.warning("damaged conversation rows: %d", damaged)
    return summaries


# ---- preferences ---------------------------------------------------------------------------

def seal_preference(cipher: RowCipher, name: str, value: dict[str, Any]) -> bytes:
    """The sealed body of the preference record `name` (bound to its name, sequence 0)."""
    return cipher.seal(PREFERENCES, name, name, 0, _encode(value))


def open_preference(cipher: RowCipher, name: str, key_id: str, blob: bytes) -> dict[str, Any]:
    """The preference record `name`, opened; PreferenceDamaged if it fails to open or decode."""
    plaintext = cipher.open_many(PREFERENCES, [(name, name, 0, key_id, blob)])[0]
    try:
        if plaintext is None:
            raise ValueError("authentication failed")
        return _decode(plaintext)
    except ValueError:
        log.warning("damaged preference row")
        raise PreferenceDamaged("Saved preferences could not be read.") from None
