"""Writing actions: the prompts as built, the tidying of replies, and each action run on the
real starter model (a reply that ignores its task is a prompt bug)."""

from __future__ import annotations

import re

import pytest

from cove.inference.engine import Engine, GenerationParams
from cove.notes.actions import (
    BUILT_IN,
    ActionError,
    Outcome,
    apply_outcome,
    build_messages,
    clean_result,
    custom_action,
    find_action,
)
from cove.notes.diff import changes, diff_blocks

MEETING = ("our team meeting is moved to thursday because the room was booked. please bring "
           "the budget numbers and the list of open issues, we will decide which features "
           "ship in march.")
ISSUE_NAMES = ("continue", "rewrite", "shorter", "longer", "formal", "friendlier",
               "fix-grammar", "summarize", "outline", "bullets", "title", "instruction")


def test_every_action_of_the_issue_exists_by_kebab_name() -> None:
    assert tuple(a.name for a in BUILT_IN) == ISSUE_NAMES
    assert find_action("Fix_Grammar").name == "fix-grammar"
    assert find_action("continue-writing").name == "continue"
    with pytest.raises(ActionError, match="Choose one of: continue"):
        find_action("translate")


def test_prompt_holds_one_task_an_example_and_the_text() -> None:
    messages = build_messages(find_action("bullets"), "  eggs, milk  ", note="eggs, milk")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"].endswith("\n\neggs, milk")
    assert messages[2]["content"].startswith("- ")
    title = build_messages(find_action("title"), "", note="The whole note {not a field}")
    assert title[-1]["content"].endswith("The whole note {not a field}")


def test_prompt_refuses_empty_text_and_missing_instruction() -> None:
    with pytest.raises(ActionError, match="no text"):
        build_messages(find_action("shorter"), "   ")
    with pytest.raises(ActionError, match="Type an instruction"):
        build_messages(find_action("instruction"), "hello", instruction=" ")
    free = build_messages(find_action("instruction"), "hello", instruction="Make it rhyme.")
    assert "Rewrite this text as follows: Make it rhyme." in free[-1]["content"]


def test_custom_actions_fill_placeholders_and_need_one() -> None:
    mine = custom_action("  Pirate  voice ", "Say {selection} like a pirate. Note: {title}")
    assert (mine.name, mine.label, mine.builtin) == ("my-pirate-voice", "Pirate voice", False)
    messages = build_messages(mine, "hi {title}", title="Greetings")
    assert messages[-1]["content"] == "Say hi {title} like a pirate. Note: Greetings"
    with pytest.raises(ActionError, match="must contain"):
        custom_action("Broken", "Do something")
    with pytest.raises(ActionError, match="name"):
        custom_action("  ", "{selection}")


def test_clean_result_drops_preambles_explanations_and_quotes() -> None:
    rewrite = find_action("rewrite")
    reply = ("Here's a rewritten version of the text with improved clarity and readability:\n\n"
             "\"The meeting moves.\"\n\nI made some minor changes to improve clarity.")
    assert clean_result(rewrite, reply) == "The meeting moves."
    title = find_action("title")
    assert clean_result(title, "## \"Budget meeting.\"\nmore") == "Budget meeting"
    long_title = clean_result(title, " ".join(["word"] * 20))
    assert long_title == " ".join(["word"] * 10) + "…"


def test_outcomes_place_the_result() -> None:
    assert apply_outcome(find_action("continue"), "One.", "Two.") == "One. Two."
    assert apply_outcome(find_action("title"), "\nBody", "Plan") == "# Plan\n\nBody"
    assert apply_outcome(find_action("shorter"), "Long text", "Short") == "Short"
    assert apply_outcome(find_action("shorter"), "\n Long text\n\n", " Short ") == \
        "\n Short\n\n"


def _run(engine: Engine, name: str, text: str, instruction: str = "") -> str:
    action = find_action(name)
    stream = engine.stream_chat(build_messages(action, text, text, "", instruction),
                                GenerationParams(temperature=0.2, max_tokens=160, seed=7))
    return clean_result(action, "".join(stream))


@pytest.mark.real_model
def test_list_actions_give_lists_with_the_starter_model(real_engine: Engine) -> None:
    for name in ("bullets", "outline"):
        result = _run(real_engine, name, MEETING)
        lines = [line for line in result.splitlines() if line.strip()]
        assert len(lines) >= 2, (name, result)
        assert all(re.match(r"\s*([-*+]|\d+\.)\s", line) for line in lines), (name, result)


@pytest.mark.real_model
def test_title_and_summary_are_short_with_the_starter_model(real_engine: Engine) -> None:
    title = _run(real_engine, "title", MEETING)
    assert 0 < len(title.split()) <= 10 and "\n" not in title, title
    summary = _run(real_engine, "summarize", MEETING)
    assert 0 < len(summary) < len(MEETING), summary


@pytest.mark.real_model
def test_rewrites_stay_on_the_text_with_the_starter_model(real_engine: Engine) -> None:
    source_words = set(re.findall(r"\w+", MEETING.lower()))
    for name in ("rewrite", "fix-grammar", "formal", "friendlier", "longer", "shorter"):
        result = _run(real_engine, name, MEETING)
        words = set(re.findall(r"\w+", result.lower()))
        assert result and not result.lower().startswith(("here", "sure")), (name, result)
        # A reply about something else shares few words with the text it was given.
        assert len(words & source_words) >= 4, (name, result)
        blocks = diff_blocks(MEETING, result)
        assert changes(blocks), (name, result)


@pytest.mark.real_model
def test_continue_adds_new_text_and_instruction_is_followed(real_engine: Engine) -> None:
    more = _run(real_engine, "continue", "The garden was quiet in the early morning.")
    assert more and more != "The garden was quiet in the early morning.", more
    declined = _run(real_engine, "instruction",
                    "Would you like to come to my birthday party on Saturday?",
                    "Make this a polite reply declining the invitation")
    assert re.search(r"sorry|unfortunately|sadly|can(no|')t|unable|regret", declined, re.I), \
        declined
    assert apply_outcome(find_action("continue"), "A.", more).startswith("A. ")
    assert Outcome.APPEND is find_action("continue").outcome
