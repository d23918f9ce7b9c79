"""Ask my notes: an in-memory BM25 index of note passages, and the prompt that cites them.

Notes are cut into passages of about PASSAGE_WORDS words (at paragraph breaks where possible);
each query ranks passages with Okapi BM25 over an inverted index held in memory only. The best
passages that fit the model's context budget go into the prompt, numbered, so the answer can
cite [1], [2]… and the window can turn those into links to the notes.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PASSAGE_WORDS = 120
K1 = 1.2
B = 0.75
_WORD = re.compile(r"\w+")
# Words too common to tell passages apart; BM25's idf would weigh them near zero anyway, but
# leaving them out keeps postings short, and so queries fast on thousands of notes.
_COMMON = (
    "a an and are as at be but by for from has have i in is it its me my of on or our so that "
    "the their them there these they this to was we were what when where which who why will "
    "with you your do does did not no")
STOPWORDS = frozenset(_COMMON.split())
# For ASCII text (most notes): each character as it stands in a word, lower-cased, or a space
# where \w does not match, so that split() finds the words _WORD.findall(text.lower()) finds
# in a fraction of the time (indexing thousands of notes cuts millions of words).
_ASCII_WORD_CHARS = "".join(
    chr(code).lower() if chr(code).isalnum() or chr(code) == "_" else " " for code in range(128))
ASK_SYSTEM = ("You answer questions using only the numbered notes given. Cite the notes you "
              "use like [1]. If the notes do not hold the answer, say so.")


def words_of(text: str) -> list[str]:
    """The words of `text` (runs of \\w), lower-cased: _WORD.findall(text.lower())."""
    if text.isascii():
        return text.translate(_ASCII_WORD_CHARS).split()
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    return [w for w in words_of(text) if w not in STOPWORDS]


def term_counts(text: str) -> Counter[str]:
    """How often each of `text`'s terms occurs (what terms() lists, counted)."""
    counts = Counter(words_of(text))
    for word in STOPWORDS.intersection(counts):
        del counts[word]
    return counts


def passages_of(text: str, size: int = PASSAGE_WORDS) -> list[str]:
    """`text` cut into passages of about `size` words, at paragraph breaks where it can."""
    result: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in re.split(r"\n\s*\n", text):
        words = paragraph.split()
        while words:
            room = size - count
            if count and len(words) > room:
                result.append("\n\n".join(current))
                current, count = [], 0
                continue
            taken, words = words[:size], words[size:]
            current.append(" ".join(taken))
            count += len(taken)
    if current:
        result.append("\n\n".join(current))
    return [p for p in result if p.strip()]


@dataclass(frozen=True)
class Passage:
    note_id: str
    title: str
    text: str
    score: float


class NotesIndex:
    """Passages of every note, for Ask my notes. Thread-safe; nothing is written out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._postings: dict[str, dict[int, int]] = {}
        self._passages: dict[int, tuple[str, str, str, int]] = {}  # id: note, title, text, len
        self._by_note: dict[str, list[int]] = {}
        self._next = 0
        self._total_length = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._passages)

    def add(self, note_id: str, title: str, text: str) -> None:
        self.add_many([(note_id, title, text)])

    def add_many(self, notes: Iterable[tuple[str, str, str]]) -> None:
        """Index each (note id, title, text), replacing what the note had. A note indexed
        again (each autosave) keeps the passages that did not change: typing into a long
        note changes one passage of hundreds, and counting them all again cost a
        20,000-word note 70 ms a save."""
        for note_id, title, text in notes:
            texts = passages_of(text)
            with self._lock:
                known = {self._passages[pid][2] for pid in self._by_note.get(note_id, ())
                         if self._passages[pid][1] == title}
            counted = {passage: term_counts(f"{title} {passage}")
                       for passage in set(texts) - known}
            with self._lock:
                self._replace_locked(note_id, title, texts, counted)

    def remove(self, note_id: str) -> None:
        with self._lock:
            for pid in self._by_note.pop(note_id, ()):
                self._remove_passage_locked(pid)

    def _replace_locked(self, note_id: str, title: str, texts: list[str],
                        counted: dict[str, Counter[str]]) -> None:
        """The note's passages become `texts`, in order; one it has already (the same text
        under the same title) stays as it is."""
        unchanged: dict[str, list[int]] = {}
        for pid in self._by_note.pop(note_id, ()):
            _, old_title, passage, _ = self._passages[pid]
            if old_title == title:
                unchanged.setdefault(passage, []).append(pid)
            else:
                self._remove_passage_locked(pid)
        ids = self._by_note[note_id] = []
        for passage in texts:
            same = unchanged.get(passage)
            if same:
                ids.append(same.pop())
                continue
            counts = (counted[passage] if passage in counted
                      else term_counts(f"{title} {passage}"))  # it was known, then went
            ids.append(self._add_passage_locked(note_id, title, passage, counts))
        for pids in unchanged.values():
            for pid in pids:
                self._remove_passage_locked(pid)

    def _add_passage_locked(self, note_id: str, title: str, passage: str,
                            counts: Counter[str]) -> int:
        pid = self._next
        self._next += 1
        length = sum(counts.values())
        self._passages[pid] = (note_id, title, passage, length)
        self._total_length += length
        postings = self._postings
        for term, count in counts.items():
            posting = postings.get(term)
            if posting is None:
                postings[term] = {pid: count}
            else:
                posting[pid] = count
        return pid

    def _remove_passage_locked(self, pid: int) -> None:
        _, title, passage, length = self._passages.pop(pid)
        self._total_length -= length
        for term in set(terms(f"{title} {passage}")):
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(pid, None)
                if not posting:
                    del self._postings[term]

    def search(self, query: str, limit: int = 8) -> list[Passage]:
        """The passages that best answer `query`, best first (BM25)."""
        wanted = set(terms(query))
        with self._lock:
            count = len(self._passages)
            if not wanted or not count:
                return []
            average = self._total_length / count
            scores: dict[int, float] = {}
            for term in wanted:
                posting = self._postings.get(term)
                if not posting:
                    continue
                idf = math.log(1 + (count - len(posting) + 0.5) / (len(posting) + 0.5))
                passages = self._passages
                for pid, tf in posting.items():
                    norm = K1 * (1 - B + B * passages[pid][3] / average)
                    scores[pid] = scores.get(pid, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
            best = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:limit]
            return [Passage(*self._passages[pid][:3], score) for pid, score in best]


def fit_passages(passages: list[Passage], budget_tokens: int,
                 count_tokens: Callable[[str], int]) -> list[Passage]:
    """The best passages, in order, whose text fits `budget_tokens` together."""
    kept: list[Passage] = []
    used = 0
    for passage in passages:
        cost = count_tokens(passage.text) + 8  # its number, title and line breaks
        if used + cost > budget_tokens:
            continue
        kept.append(passage)
        used += cost
    return kept


def ask_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    """The prompt for Ask my notes: the passages numbered [1]… with their notes' titles."""
    sources = "\n\n".join(f"[{n}] {p.title}\n{p.text}" for n, p in enumerate(passages, 1))
    return [{"role": "system", "content": ASK_SYSTEM},
            {"role": "user", "content": f"Notes:\n\n{sources}\n\nQuestion: {question.strip()}"}]


def cited(answer: str, passages: list[Passage]) -> list[tuple[int, str]]:
    """(number, note id) for each [n] the answer cites that names a given passage."""
    seen: list[tuple[int, str]] = []
    for match in re.finditer(r"\[(\d{1,3})\]", answer):
        number = int(match.group(1))
        if 1 <= number <= len(passages) and all(n != number for n, _ in seen):
            seen.append((number, passages[number - 1].note_id))
    return seen
