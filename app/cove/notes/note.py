"""A note as plain data: its text, when it was written, whether it is pinned, its project, and
its counts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from cove.core.conversation import new_id

TITLE_LIMIT = 80
UNTITLED = "Untitled note"
_HEADING_MARK = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|>\s*)")


def word_count(text: str) -> int:
    """Words as a plain editor counts them: runs of characters between spaces."""
    return len(text.split())  # str.split runs in C: 5,000 notes are counted at every unlock


def _lines(text: str) -> Iterator[str]:
    """The lines of `text`, found one at a time (a title needs only the first few)."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def title_of(text: str, limit: int = TITLE_LIMIT) -> str:
    """The note's title: its first line that has words, without a heading or list mark."""
    for line in _lines(text):
        line = _HEADING_MARK.sub("", line).strip().strip("#").strip()
        if line:
            line = " ".join(line.split())
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return UNTITLED


@dataclass
class Note:
    """One note. Its title is not stored apart: it is the first line of its text."""

    text: str = ""
    pinned: bool = False
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    project: str = ""  # the project's id (cove.core.projects); "": in none

    def __post_init__(self) -> None:
        if not self.updated:
            self.updated = self.created

    @property
    def title(self) -> str:
        return title_of(self.text)

    def summary(self) -> NoteSummary:
        return NoteSummary(self.id, self.title, self.pinned, self.created, self.updated,
                           word_count(self.text), len(self.text), project=self.project)


class NoteSummary(NamedTuple):
    """What the notes list shows for one note; a `damaged` one has empty fields."""

    id: str
    title: str
    pinned: bool
    created: float
    updated: float
    words: int
    chars: int
    damaged: bool = False
    project: str = ""

    def list_order(self) -> tuple[bool, float]:
        """Sort key for the notes list: pinned first, then the newest."""
        return (not self.pinned, -self.updated)
