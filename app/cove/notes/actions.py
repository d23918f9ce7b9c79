"""Writing actions: the built-in ones and a person's own, as short prompts for small models.

Each prompt asks for one task, says to reply with the result only, and gives an example where
a small model otherwise drifts (a list, a title). The model's reply is tidied by
``clean_result`` (a preamble such as "Here is the text:" and wrapping quotes come off), and
``Outcome`` says where the result lands: in place of the text, after it, or as a heading.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

SYSTEM_PROMPT = ("You are a careful writing assistant. You do exactly one task on the text "
                 "you are given and reply with the result only: no introduction, no notes.")
PLACEHOLDERS = ("{selection}", "{note}", "{title}")
TITLE_WORDS = 10
DRAFT_TEMPERATURE = 0.2  # an edit should follow the text, not wander: low, but not greedy


class Outcome(enum.StrEnum):
    REPLACE = "replace"  # the result takes the place of the text
    APPEND = "append"  # the result goes after the text (continue writing)
    HEADING = "heading"  # the result goes above the text as its title


@dataclass(frozen=True)
class WritingAction:
    """One action. `name` is its kebab-case name on the command line; `task` is the one-line
    request, followed by the text; `example` is a worked (text, result) pair shown to the model
    as an earlier turn, which small models follow far better than a description. A person's own
    action has a `task` with {selection}, {note} and {title} placeholders, and no example."""

    name: str
    label: str
    task: str
    example: tuple[str, str] | None = None
    outcome: Outcome = Outcome.REPLACE
    builtin: bool = True

    @property
    def needs_instruction(self) -> bool:
        return "{instruction}" in self.task


_MEETING = ("the team meeting moves to friday because the room is booked, bring the budget "
            "numbers.")
BUILT_IN: tuple[WritingAction, ...] = (
    WritingAction("continue", "Continue writing",
                  "Continue this text with one or two new sentences.",
                  ("The garden was quiet in the early morning.",
                   "Dew covered the grass, and a blackbird sang from the old apple tree."),
                  Outcome.APPEND),
    WritingAction("rewrite", "Rewrite clearer",
                  "Rewrite this text so it is clearer. Keep its meaning.",
                  ("The thing with the report is that it is late because of the data which "
                   "we did not get.", "The report is late because we did not get the data.")),
    WritingAction("shorter", "Shorter", "Rewrite this text in fewer words.",
                  ("I wanted to let you know that I will unfortunately not be able to attend "
                   "the meeting that is planned for tomorrow morning.",
                   "I can't attend tomorrow morning's meeting.")),
    WritingAction("longer", "Longer", "Rewrite this text with more detail.",
                  ("The trip was fun.", "The trip was great fun: we hiked along the coast, "
                   "swam in a cold lake and cooked dinner over a fire.")),
    WritingAction("formal", "More formal", "Rewrite this text in a formal tone.",
                  ("hey, can't make it tomorrow, sorry!", "I regret that I will be unable to "
                   "attend tomorrow. Please accept my apologies.")),
    WritingAction("friendlier", "Friendlier", "Rewrite this text in a warm, friendly tone.",
                  ("Send the files by Monday.", "Could you send me the files by Monday? "
                   "Thanks so much!")),
    WritingAction("fix-grammar", "Fix spelling and grammar",
                  "Correct the spelling and grammar of this text. Change nothing else.",
                  ("i has went to the shop yesterday and buyed some bred.",
                   "I went to the shop yesterday and bought some bread.")),
    WritingAction("summarize", "Summarize", "Summarize this text in one sentence.",
                  ("The library will close early on Friday because of a staff training. Books "
                   "can still be returned in the box outside.",
                   "The library closes early on Friday, but the return box stays open.")),
    WritingAction("outline", "Outline",
                  "Write an outline of this text as a list of its main points.",
                  (_MEETING, "- Meeting moves to Friday\n- Room is booked\n"
                   "- Bring budget numbers")),
    WritingAction("bullets", "Turn into a bullet list", "Turn this text into a bullet list.",
                  ("We need milk, eggs and bread for the cake, and the oven must be hot.",
                   "- Buy milk\n- Buy eggs\n- Buy bread\n- Heat the oven")),
    WritingAction("title", "Title this note",
                  "What is this note about? Answer in two to five words.",
                  ("Call the plumber about the kitchen sink on Monday and ask for a quote for "
                   "the bathroom.", "Plumbing repairs"), Outcome.HEADING),
    WritingAction("instruction", "Your instruction…",
                  "Rewrite this text as follows: {instruction}.",
                  ("Dinner at our place on Friday at seven?",
                   "Thank you so much for the invitation! Sadly I cannot make it on Friday.")),
)
BY_NAME = {action.name: action for action in BUILT_IN}
# Other names people type for the same actions (the issue's own words among them).
ALIASES = {"continue-writing": "continue", "rewrite-clearer": "rewrite",
           "more-formal": "formal", "fix-spelling": "fix-grammar", "summary": "summarize",
           "bullet-list": "bullets", "title-this-note": "title", "free": "instruction"}


class ActionError(ValueError):
    """An action that cannot run as asked; the message says what to change."""


def find_action(name: str, custom: tuple[WritingAction, ...] = ()) -> WritingAction:
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    key = ALIASES.get(key, key)
    for action in (*BUILT_IN, *custom):
        if action.name == key:
            return action
    names = ", ".join(a.name for a in (*BUILT_IN, *custom))
    raise ActionError(f"There is no writing action called {name!r}. Choose one of: {names}.")


def custom_action(label: str, prompt: str) -> WritingAction:
    """A person's own action; its prompt must use at least one placeholder."""
    label = " ".join(label.split())
    if not label:
        raise ActionError("Give the action a name.")
    if not any(p in prompt for p in PLACEHOLDERS):
        raise ActionError("The prompt must contain {selection}, {note} or {title}, so the "
                          "model sees the text to work on.")
    name = "my-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    return WritingAction(name, label, prompt, None, Outcome.REPLACE, builtin=False)


def _fill(template: str, values: dict[str, str]) -> str:
    # Not str.format: the note's own text may hold braces, and only known names are filled.
    return re.sub(r"\{(selection|note|title|instruction)\}",
                  lambda m: values[m.group(1)], template)


def build_messages(action: WritingAction, selection: str, note: str = "", title: str = "",
                   instruction: str = "") -> list[dict[str, str]]:
    """The chat messages that ask the model to do `action` on `selection` (the whole note
    when nothing is selected)."""
    selection, note = selection.strip(), (note or selection).strip()
    if not (note if action.outcome is Outcome.HEADING else selection):
        raise ActionError("There is no text to work on: write something first.")
    if action.needs_instruction and not instruction.strip():
        raise ActionError("Type an instruction, for example \"Make this a polite reply "
                          "declining the invitation\".")
    values = {"selection": selection, "note": note, "title": title,
              "instruction": " ".join(instruction.split()).rstrip(".")}
    task = _fill(action.task, values)
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    if not action.builtin:
        # A person's own prompt says itself where the text goes.
        return [*messages, {"role": "user", "content": task}]
    if action.example is not None:
        example, answer = action.example
        messages += [{"role": "user", "content": f"{task}\n\n{example}"},
                     {"role": "assistant", "content": answer}]
    text = note if action.outcome is Outcome.HEADING else selection
    return [*messages, {"role": "user", "content": f"{task}\n\n{text}"}]


_PREAMBLE = re.compile(
    r"^\s*(sure[,!.]?\s*)?(here(\s+is|'s|\s+are)|below is)[^\n:]{0,160}:\s*\n?|^\s*(corrected|"
    r"title|summary|outline|rewritten text|text)\s*:\s*", re.IGNORECASE)
# A paragraph in which the model explains itself ("I made some minor changes…").
_EXPLANATION = re.compile(r"\n\s*\n\s*(I (made|changed|added|rephrased|replaced|corrected|"
                          r"removed|kept)|Note:|This (version|rewrite))", re.IGNORECASE)


def clean_result(action: WritingAction, reply: str) -> str:
    """The model's reply as text to put in the note: a leading "Here is…:" line, a closing
    paragraph explaining the changes and quotes around the whole reply come off; a title is
    one line without a heading mark."""
    text = _PREAMBLE.sub("", reply.strip(), count=1).strip()
    explained = _EXPLANATION.search(text)
    if explained is not None:
        text = text[:explained.start()].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    if action.outcome is Outcome.HEADING:
        first = next((line for line in text.splitlines() if line.strip()), "")
        text = first.strip().lstrip("#").strip().strip("\"'*“”").strip().rstrip(".")
        words = text.split()
        if len(words) > TITLE_WORDS:  # a small model may answer with the whole first line
            text = " ".join(words[:TITLE_WORDS]).rstrip(",;:") + "…"
    return text


def apply_outcome(action: WritingAction, original: str, result: str) -> str:
    """What the text becomes if every change is accepted (the right side of the review)."""
    if action.outcome is Outcome.APPEND:
        joiner = "" if not original or original.endswith((" ", "\n")) else " "
        return original + joiner + result
    if action.outcome is Outcome.HEADING:
        return f"# {result}\n\n{original.lstrip()}" if result else original
    # The model drops the text's surrounding spaces and line breaks; keep the original's.
    lead = original[: len(original) - len(original.lstrip())]
    trail = original[len(original.rstrip()):]
    return lead + result.strip() + trail if result.strip() else result
