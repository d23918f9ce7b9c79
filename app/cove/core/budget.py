"""Fitting a conversation into a model's context window before it reaches the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

ChatMessage = dict[str, str]
TokenCounter = Callable[[str], int]

# Chat templates wrap each message in role markers; this covers the common templates
# (ChatML, Llama 3, Gemma) with room to spare, so an estimate never overshoots the window.
PER_MESSAGE_OVERHEAD = 8


class PromptTooLong(ValueError):
    """The newest message alone does not fit, whatever older turns are dropped."""

    START = "This message is about "

    def __init__(self, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(
            f"{self.START}{needed} tokens, but the model can read only {available} "
            "tokens at once (its context length, less room for the reply). Shorten the "
            "message or split it up."
        )

    @classmethod
    def said_in(cls, message: str) -> bool:
        """Whether a failure's text (the worker sends only text) is this refusal: the model
        never read the message."""
        return message.startswith(cls.START)


def rough_tokens(text: str) -> int:
    """About how many tokens `text` is, without a tokenizer (4 bytes a token, as BPE
    tokenizers average on prose): for hints, and to refuse what is plainly too long."""
    return (len(text.encode("utf-8")) + 3) // 4


@dataclass(frozen=True)
class Budget:
    n_ctx: int
    reply_reserve: int

    @property
    def prompt_limit(self) -> int:
        return max(self.n_ctx - self.reply_reserve, 1)


def fit_history(
    messages: Sequence[ChatMessage], count_tokens: TokenCounter, budget: Budget
) -> list[ChatMessage]:
    """Drop the oldest turns (never the system prompt or the newest message) until all fit."""
    if not messages:
        return []
    costs = [count_tokens(m["content"]) + PER_MESSAGE_OVERHEAD for m in messages]
    system = [i for i, m in enumerate(messages) if m["role"] == "system"]
    fixed = set(system) | {len(messages) - 1}
    needed = sum(costs[i] for i in fixed)
    if needed > budget.prompt_limit:
        raise PromptTooLong(needed, budget.prompt_limit)
    kept = set(fixed)
    total = needed
    # Newest first: recent turns matter most to the reply.
    for i in range(len(messages) - 2, -1, -1):
        if i in kept:
            continue
        if total + costs[i] > budget.prompt_limit:
            break
        kept.add(i)
        total += costs[i]
    fitted = [messages[i] for i in sorted(kept)]
    # Templates such as Gemma's insist that the turns after the system prompt start with the
    # user, so a reply whose question was dropped goes too (the newest message always stays).
    while True:
        first = next((i for i, m in enumerate(fitted) if m["role"] != "system"), None)
        if first is None or first == len(fitted) - 1 or fitted[first]["role"] != "assistant":
            return fitted
        fitted.pop(first)
