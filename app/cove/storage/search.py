"""An in-memory full-text index over decrypted messages; it never touches the disk.

Matching is case-insensitive substring search (like find-in-page), every query word must occur
in the message, and hits come newest first (in the order messages were added). Messages are
kept in chunks of a few thousand, each searched as one folded string with ``str.find``: that
scans a few hundred megabytes a second and needs no tokenizer, so it works for any script.
Chunks are grouped by the widest character they hold, so one emoji does not make a chunk of
plain ASCII take four bytes a character.

Public API (``SearchIndex``; thread-safe, build it on a background thread):

- ``add(conversation_id, message_id, text)``: index a message (re-adding replaces it).
- ``add_many(items)``: the same for an iterable of ``(conversation_id, message_id, text)``.
- ``remove(message_id)`` / ``remove_conversation(conversation_id)``.
- ``search(query, limit=100, context=60) -> list[SearchHit]``: newest first.
- ``len(index)``: messages indexed.

``SearchHit(conversation_id, message_id, snippet, matches)``: `matches` are ``(start, end)``
offsets into `snippet` for highlighting. ``fold(text)`` is the length-preserving case fold used.
"""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

CHUNK_SIZE = 2048
_SEPARATOR = "\x00"
_ELLIPSIS = "…"


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    message_id: str
    snippet: str
    matches: tuple[tuple[int, int], ...]


def fold(text: str) -> str:
    """Lower case with the same length as `text`, so offsets found in it fit the original."""
    lowered = text.lower()
    if len(lowered) == len(text):
        # lower() never shrinks a character, so equal length means one for one.
        return lowered
    return "".join(char.lower()[0] for char in text)


def _width(text: str) -> int:
    """The bytes a character CPython needs to store `text` (1, 2 or 4)."""
    if not text or text.isascii():
        return 1
    widest = ord(max(text))
    return 1 if widest < 0x100 else 2 if widest < 0x10000 else 4


class _Chunk:
    """Up to CHUNK_SIZE messages of one character width, searched as one joined string."""

    __slots__ = ("_joined", "_starts", "conversation_ids", "dead", "message_ids", "seqs",
                 "texts", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.conversation_ids: list[str] = []
        self.message_ids: list[str | None] = []  # None: removed
        self.texts: list[str] = []
        self.seqs: list[int] = []
        self.dead = 0
        self._joined: str | None = None
        self._starts: list[int] = []

    @property
    def newest(self) -> int:
        return self.seqs[-1] if self.seqs else -1

    def append(self, conversation_id: str, message_id: str, text: str, seq: int) -> int:
        self.conversation_ids.append(conversation_id)
        self.message_ids.append(message_id)
        self.texts.append(text)
        self.seqs.append(seq)
        self._joined = None
        return len(self.texts) - 1

    def kill(self, slot: int) -> None:
        # The joined string keeps the text until compaction; the slot is skipped meanwhile.
        self.message_ids[slot] = None
        self.texts[slot] = ""
        self.dead += 1

    def joined(self) -> tuple[str, list[int]]:
        if self._joined is None:
            starts: list[int] = []
            position = 0
            for text in self.texts:
                starts.append(position)
                position += len(text) + 1
            self._joined = _SEPARATOR.join(fold(text) for text in self.texts)
            self._starts = starts
        return self._joined, self._starts

    def live_slots(self) -> list[int]:
        return [slot for slot, mid in enumerate(self.message_ids) if mid is not None]


class SearchIndex:
    """Decrypted message text in memory, for the search box. Nothing here is written out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[_Chunk] = []
        self._open: dict[int, _Chunk] = {}
        self._where: dict[str, tuple[_Chunk, int]] = {}
        self._by_conversation: dict[str, set[str]] = {}
        self._next_seq = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._where)

    def add(self, conversation_id: str, message_id: str, text: str) -> None:
        self.add_many([(conversation_id, message_id, text)])

    def add_many(self, items: Iterable[tuple[str, str, str]]) -> None:
        with self._lock:
            for conversation_id, message_id, text in items:
                self._remove_locked(message_id)
                width = _width(text)
                chunk = self._open.get(width)
                if chunk is None or len(chunk.texts) >= CHUNK_SIZE:
                    if chunk is not None:
                        chunk.joined()  # fold a full chunk now (on the builder's thread), once
                    chunk = self._open[width] = _Chunk(width)
                    self._chunks.append(chunk)
                slot = chunk.append(conversation_id, message_id, text, self._next_seq)
                self._next_seq += 1
                self._where[message_id] = (chunk, slot)
                self._by_conversation.setdefault(conversation_id, set()).add(message_id)

    def remove(self, message_id: str) -> None:
        with self._lock:
            self._remove_locked(message_id)

    def remove_conversation(self, conversation_id: str) -> None:
        with self._lock:
            for message_id in list(self._by_conversation.get(conversation_id, ())):
                self._remove_locked(message_id)

    def _remove_locked(self, message_id: str) -> None:
        found = self._where.pop(message_id, None)
        if found is None:
            return
        chunk, slot = found
        conversation_id = chunk.conversation_ids[slot]
        members = self._by_conversation.get(conversation_id)
        if members is not None:
            members.discard(message_id)
            if not members:
                del self._by_conversation[conversation_id]
        chunk.kill(slot)
        if chunk.dead * 2 > len(chunk.texts) and chunk is not self._open.get(chunk.width):
            self._compact(chunk)

    def _compact(self, chunk: _Chunk) -> None:
        """Rebuild a mostly-removed chunk from its live messages (drops the removed text)."""
        self._chunks.remove(chunk)
        live = chunk.live_slots()
        if not live:
            return
        fresh = _Chunk(chunk.width)
        for slot in live:
            message_id = chunk.message_ids[slot]
            assert message_id is not None
            new_slot = fresh.append(chunk.conversation_ids[slot], message_id, chunk.texts[slot],
                                    chunk.seqs[slot])
            self._where[message_id] = (fresh, new_slot)
        self._chunks.append(fresh)

    def search(self, query: str, limit: int = 100, context: int = 60) -> list[SearchHit]:
        """Messages holding every word of `query` (case-insensitive), newest first."""
        terms = sorted(set(fold(query).replace(_SEPARATOR, " ").split()), key=len, reverse=True)
        if not terms or limit <= 0:
            return []
        # The longest word is scanned for (likely the rarest); the others are checked per hit.
        lead, others = terms[0], terms[1:]
        best: list[tuple[int, _Chunk, int]] = []  # (seq, chunk, slot), newest first
        with self._lock:
            for chunk in sorted(self._chunks, key=lambda c: c.newest, reverse=True):
                if len(best) >= limit and chunk.newest < best[-1][0]:
                    break  # every later chunk holds only older messages
                found = self._scan(chunk, lead, others, limit)
                if found:
                    best = heapq.nlargest(limit, best + found, key=lambda hit: hit[0])
            return [self._hit(chunk, slot, terms, context) for _, chunk, slot in best]

    @staticmethod
    def _scan(chunk: _Chunk, lead: str, others: list[str],
              limit: int) -> list[tuple[int, _Chunk, int]]:
        """Up to `limit` matching slots of `chunk`, newest first (it scans backwards)."""
        joined, starts = chunk.joined()
        found: list[tuple[int, _Chunk, int]] = []
        end = len(joined)
        while len(found) < limit:
            position = joined.rfind(lead, 0, end)
            if position < 0:
                break
            slot = bisect_right(starts, position) - 1
            start = starts[slot]
            if chunk.message_ids[slot] is not None:
                if others:
                    document = joined[start:start + len(chunk.texts[slot])]
                    matched = all(term in document for term in others)
                else:
                    matched = True
                if matched:
                    found.append((chunk.seqs[slot], chunk, slot))
            # A separator sits before `start`, and no term contains one, so this skips the doc.
            end = start
        return found

    @staticmethod
    def _hit(chunk: _Chunk, slot: int, terms: list[str], context: int) -> SearchHit:
        text = chunk.texts[slot]
        folded = fold(text)
        first = folded.find(terms[0])
        begin = max(0, first - context)
        finish = min(len(text), first + len(terms[0]) + context)
        if begin > 0:  # start on a word boundary when one is near
            space = text.find(" ", begin, first)
            begin = space + 1 if space >= 0 else begin
        if finish < len(text):
            space = text.rfind(" ", first + len(terms[0]), finish)
            finish = space if space >= 0 else finish
        prefix = _ELLIPSIS if begin > 0 else ""
        suffix = _ELLIPSIS if finish < len(text) else ""
        # Line breaks become spaces (same length, so offsets hold) to keep the snippet one line.
        body = text[begin:finish].replace("\r", " ").replace("\n", " ").replace(_SEPARATOR, " ")
        window = folded[begin:finish]
        spans: list[tuple[int, int]] = []
        for term in terms:
            position = window.find(term)
            while position >= 0:
                spans.append((position + len(prefix), position + len(prefix) + len(term)))
                position = window.find(term, position + len(term))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        message_id = chunk.message_ids[slot]
        assert message_id is not None
        return SearchHit(chunk.conversation_ids[slot], message_id, prefix + body + suffix,
                         tuple(merged))
