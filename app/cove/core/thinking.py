"""Reasoning models write their thinking before the answer: `<think>…</think>` (Qwen3,
DeepSeek-R1 distills, SmolLM3) or a channel of their own (gpt-oss's "analysis" channel).
The window shows the thinking folded away above the answer; later turns send only answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"
_HARMONY = re.compile(
    r"<\|channel\|>analysis<\|message\|>(?P<thinking>.*?)(?:<\|end\|>|\Z)"
    r"(?:.*?<\|channel\|>final<\|message\|>(?P<answer>.*))?", re.DOTALL)


@dataclass(frozen=True)
class Split:
    thinking: str  # what the model thought ("" when it did not)
    answer: str  # what it answered
    still_thinking: bool = False  # the thinking has not ended yet (streaming)


def split_thinking(text: str) -> Split:
    """The thinking and the answer of a reply, as far as it has been written."""
    harmony = _HARMONY.search(text) if "<|channel|>" in text else None
    if harmony is not None:
        answer = harmony.group("answer")
        return Split(harmony.group("thinking").strip(), (answer or "").strip(),
                     still_thinking=answer is None)
    start = text.find(OPEN)
    if start >= 0:
        before, inside = text[:start], text[start + len(OPEN):]
        close = inside.find(CLOSE)
        if close < 0:  # the block is still open: everything after it is thinking
            return Split(inside.strip(), before.strip(), still_thinking=True)
        return Split(inside[:close].strip(), (before + inside[close + len(CLOSE):]).strip())
    end = text.find(CLOSE)
    if end >= 0:  # the template opened the block in the prompt: the reply starts inside it
        return Split(text[:end].strip(), text[end + len(CLOSE):].strip())
    return Split("", text)


def answer_only(text: str) -> str:
    """A reply as later turns should carry it: the thinking left out (the templates of
    reasoning models drop it from the history too)."""
    split = split_thinking(text)
    return split.answer if split.thinking or split.still_thinking else text
