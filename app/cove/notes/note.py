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


# The characters above ASCII that str.split() splits at (str.isspace); a test checks the list
# against every code point.
WIDE_SPACES = ("\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
               "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# Each byte of UTF-8 text as b" " (an ASCII space: what str.split() splits at) or b"x".
_SPACE_OR_NOT = bytes(32 if chr(byte).isspace() and byte < 128 else 120 for byte in range(256))
# Which rules word_count counts by. A count stored with a note (cove.storage.notes) under
# another rule is counted again; change this whenever word_count would count differently.
WORD_RULE = 1


def word_count(text: str) -> int:
    """Words as a plain editor counts them: runs of characters between spaces, as
    len(text.split()) counts them, without making a string per word: every note is counted at
    each unlock, and splitting 5,000 notes of 500 words took a third of a second on the slower
    of the project's machines, three to four times as long as this count. Text with a space
    above ASCII is split as before."""
    if not text.isascii() and any(space in text for space in WIDE_SPACES):
        return len(text.split())
    # Bytes of characters above ASCII are all 0x80 or more, so all "x", as those characters
    # are words' letters here.
    marks = text.encode("utf-8", "surrogatepass").translate(_SPACE_OR_NOT)
    return marks.count(b" x") + marks.startswith(b"x")


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

    def summary(self, words: int | None = None) -> NoteSummary:
        """What the list shows; `words`: the text's word_count where it is known already."""
        return NoteSummary(self.id, self.title, self.pinned, self.created, self.updated,
                           word_count(self.text) if words is None else words, len(self.text),
                           project=self.project)


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
