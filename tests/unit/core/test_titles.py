"""What the model writes as a title is checked; junk leaves the first words."""

from __future__ import annotations

import pytest

from cove.core.titles import clean_title, title_prompt


@pytest.mark.parametrize(("written", "title"), [
    ("Trip to Lisbon", "Trip to Lisbon"),
    ('"Planning a Lisbon trip."', "Planning a Lisbon trip"),
    ("Title: packing for rain\nHere is why...", "Packing for rain"),
    ("<think>They want a title.</think>Weekend recipes", "Weekend recipes"),
    ("", ""),
    ("...", ""),
    ("Sure! Here is a long answer that repeats the whole question instead of a title", ""),
    ("Title", ""),
])
def test_a_written_title_is_tidied_or_refused(written: str, title: str) -> None:
    assert clean_title(written) == title


def test_the_prompt_carries_only_the_start_of_the_exchange() -> None:
    prompt = title_prompt("q" * 5000, "a" * 5000)
    assert len(prompt[-1]["content"]) < 1000 and "title" in prompt[-1]["content"]
