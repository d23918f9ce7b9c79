"""Conversation titles the model writes after the first exchange, with a fallback: small
models often answer the question again, or write nothing useful, so what they write is
checked and the first words of the message stay when it is junk."""

from __future__ import annotations

import re

from cove.core.thinking import answer_only

MAX_TOKENS = 12  # a title is a few words; the cap keeps the model's time short
MAX_WORDS = 7
_QUOTES = "\"'“”‘’`*_#"
_LABEL = re.compile(r"^(title|conversation title|topic)\s*[:\-–]\s*", re.IGNORECASE)


def title_prompt(question: str, answer: str) -> list[dict[str, str]]:
    """The request for a title: one short task, the start of the exchange as material."""
    return [
        {"role": "system", "content": "You name conversations. You answer with a short "
                                      "title only, never a sentence."},
        {"role": "user", "content": "Give a title of at most five words for this "
                                    "conversation. Reply with the title only.\n\n"
                                    f"Person: {question[:400]}\nAssistant: {answer[:400]}"},
    ]


def clean_title(text: str) -> str:
    """The model's title, tidied; "" when it is not a usable title."""
    text = answer_only(text).strip()
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    line = line.rstrip(".!:;,").strip().strip(_QUOTES).strip()
    words = line.split()
    if not words or len(words) > MAX_WORDS or not any(c.isalpha() for c in line):
        return ""
    if line.lower() in ("title", "untitled", "conversation", "new conversation", "none"):
        return ""
    return line[:1].upper() + line[1:]
