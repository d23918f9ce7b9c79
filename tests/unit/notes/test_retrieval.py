"""Ask my notes: BM25 retrieval over 1,000 generated notes ranks the right passages first and
fits the context budget."""

from __future__ import annotations

import random

from cove.notes.retrieval import NotesIndex, ask_messages, cited, fit_passages, passages_of

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
