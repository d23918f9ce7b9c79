"""Ask my notes: BM25 retrieval over 1,000 generated notes ranks the right passages first and
fits the context budget."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cove.notes import retrieval
from cove.notes.retrieval import (
    _WORD,
    STOPWORDS,
    NotesIndex,
    ask_messages,
    cited,
    fit_passages,
    passages_of,
    term_counts,
    words_of,
)

_FILLER = ("meeting project budget weekly update team plan review notes draft email call "
          "schedule report idea list task garden recipe travel book film music")
FILLER = _FILLER.split()


def generated_notes(count: int, seed: int = 3) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    notes = []
    for n in range(count):
        words = [rng.choice(FILLER) for _ in range(300)]
        notes.append((f"{n:016x}", f"Note {n}", " ".join(words)))
    return notes


def test_passages_break_at_paragraphs_and_size() -> None:
    text = "one two three\n\n" + " ".join(["w"] * 250)
    parts = passages_of(text, size=100)
    # A paragraph that does not fit starts a passage of its own rather than being split.
    assert [len(p.split()) for p in parts] == [3, 100, 100, 50]
    assert parts[0] == "one two three"
    assert sum(len(p.split()) for p in parts) == 253


def test_the_right_passages_rank_first_among_1000_notes() -> None:
    notes = generated_notes(1000)
    # Three notes hold the facts asked about, among 997 on other things.
    notes[17] = (notes[17][0], "Boiler", notes[17][2] + "\n\nThe boiler service is booked "
                 "with Marta on the ninth; the boiler pressure valve leaks.")
    notes[503] = (notes[503][0], "Boiler quote", "Marta quoted 240 euros for the boiler valve.")
    notes[900] = (notes[900][0], "Holiday", "Flights to Porto leave at seven.")
    index = NotesIndex()
    index.add_many(notes)
    hits = index.search("When is the boiler service with Marta?")
    assert {hits[0].note_id, hits[1].note_id} == {notes[17][0], notes[503][0]}
    assert "boiler service is booked" in " ".join(h.text for h in hits[:2])
    assert index.search("Porto flights")[0].note_id == notes[900][0]
    assert index.search("the of and") == []
    index.remove(notes[503][0])
    assert all(h.note_id != notes[503][0] for h in index.search("boiler Marta"))


def test_fitting_keeps_the_best_within_the_budget_and_cites() -> None:
    index = NotesIndex()
    index.add_many(generated_notes(1000))
    hits = index.search("garden recipe travel", limit=20)
    assert len(hits) == 20 and hits[0].score >= hits[-1].score

    def count_tokens(text: str) -> int:
        return len(text.split())

    kept = fit_passages(hits, 500, count_tokens)
    assert 0 < len(kept) < len(hits)
    assert sum(count_tokens(p.text) + 8 for p in kept) <= 500
    assert kept[0] == hits[0]
    messages = ask_messages("What about the garden?", kept)
    assert messages[-1]["content"].startswith("Notes:\n\n[1] ")
    assert messages[-1]["content"].endswith("Question: What about the garden?")
    assert cited("See [2] and [1], also [2] and [99].", kept) == [
        (2, kept[1].note_id), (1, kept[0].note_id)]


def test_words_are_what_the_word_pattern_finds_in_the_lower_cased_text() -> None:
    """The ASCII fast path (one translate and a split) against _WORD.findall(text.lower()),
    on random text of every ASCII character and on text with letters above ASCII."""
    rng = random.Random(7)
    ascii_chars = [chr(code) for code in range(128)]
    wider = ascii_chars + list("éÉßİıǅΣσςЖж中文🌊\u00a0\u2028’—")
    for alphabet in (ascii_chars, wider):
        for _ in range(2000):
            text = "".join(rng.choices(alphabet + list("aB1_ "), k=rng.randint(0, 40)))
            assert words_of(text) == _WORD.findall(text.lower()), repr(text)
            expected = Counter(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)
            assert term_counts(text) == expected, repr(text)
    assert term_counts("The lamp, THE LAMP and the keeper_2") == Counter(
        {"lamp": 2, "keeper_2": 1})


def test_reindexing_a_note_replaces_its_passages() -> None:
    index = NotesIndex()
    index.add("n1", "Lamp", "The keeper repaints the lamp in April.")
    index.add("n2", "Boat", "The boat is blue.")
    index.add("n1", "Lamp", "Now about gardens only.")
    assert len(index) == 2
    assert all("repaints" not in p.text for p in index.search("repaints lamp april"))
    assert [p.note_id for p in index.search("gardens")] == ["n1"]
    index.remove("n1")
    assert [p.note_id for p in index.search("blue boat")] == ["n2"] and len(index) == 1


def test_indexing_a_note_again_counts_only_the_passages_that_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An autosave of a long note re-indexes it; only its changed passages are counted again,
    and the index answers exactly as one built afresh from the same notes."""
    notes = generated_notes(30)
    note_id, title, text = notes[0]
    long_text = "\n\n".join([text] * 8)  # eight passages, all alike
    edited = long_text + "\n\nA new paragraph about the lighthouse keeper."
    index = NotesIndex()
    index.add_many(notes[1:])
    index.add(note_id, title, long_text)
    counted: list[str] = []
    real = retrieval.term_counts

    def counting(text: str) -> Counter[str]:
        counted.append(text)
        return real(text)

    monkeypatch.setattr(retrieval, "term_counts", counting)
    index.add(note_id, title, edited)
    # The last passage took the new paragraph in; the others stayed as they were.
    assert len(counted) == 1 and counted[0].endswith("A new paragraph about the lighthouse keeper.")
    index.add(note_id, "A new title", edited)  # the title is in every passage's terms
    assert len(counted) == 1 + len(set(passages_of(edited)))
    monkeypatch.setattr(retrieval, "term_counts", real)
    fresh = NotesIndex()
    fresh.add_many([*notes[1:], (note_id, "A new title", edited)])
    assert len(index) == len(fresh) == 29 * len(passages_of(text)) + len(passages_of(edited))
    for query in ("lighthouse keeper", "garden recipe", "new title budget", "meeting"):
        assert [(p.note_id, p.text, round(p.score, 9)) for p in index.search(query, 40)] == [
            (p.note_id, p.text, round(p.score, 9)) for p in fresh.search(query, 40)]
    index.remove(note_id)
    assert len(index) == 29 * len(passages_of(text)) and not index.search("lighthouse keeper")
