"""The thinking of reasoning models, split from the answer, on recorded streams."""

from __future__ import annotations

from cove.core.conversation import Conversation, Message, Role
from cove.core.thinking import answer_only, split_thinking

# What Qwen3 0.6B wrote for "What is 17 + 25?", as its tokens streamed (recorded chunks).
QWEN3_CHUNKS = ["<think>", "\nOkay", ", the user", " asks 17 + 25", ". 17 + 25 = 42",
                ".\n", "</think>", "\n\n", "17 + 25", " = **42**."]
# DeepSeek-R1 distills: the template opens the block, so the reply starts inside it.
R1_REPLY = "The sum: 7 and 5 make 12.\n</think>\n\n7 + 5 = 12."
# gpt-oss (harmony), special tokens kept.
HARMONY = ("<|channel|>analysis<|message|>User wants a greeting.<|end|>"
           "<|start|>assistant<|channel|>final<|message|>Hello!")


def test_every_prefix_of_a_stream_splits_without_showing_tags() -> None:
    text = ""
    for chunk in QWEN3_CHUNKS:
        text += chunk
        split = split_thinking(text)
        assert "<think>" not in split.answer and "</think>" not in split.answer
        assert "<think>" not in split.thinking
    assert split.thinking == "Okay, the user asks 17 + 25. 17 + 25 = 42."
    assert split.answer == "17 + 25 = **42**." and not split.still_thinking


def test_a_stream_cut_inside_the_think_block_is_still_thinking() -> None:
    split = split_thinking("".join(QWEN3_CHUNKS[:4]))
    assert split.still_thinking and split.answer == ""
    assert split.thinking == "Okay, the user asks 17 + 25"


def test_a_reply_that_starts_inside_the_block_and_the_harmony_channels() -> None:
    r1 = split_thinking(R1_REPLY)
    assert (r1.thinking, r1.answer) == ("The sum: 7 and 5 make 12.", "7 + 5 = 12.")
    harmony = split_thinking(HARMONY)
    assert (harmony.thinking, harmony.answer) == ("User wants a greeting.", "Hello!")
    assert split_thinking(HARMONY[:40]).still_thinking


def test_plain_replies_are_untouched_and_later_turns_carry_only_answers() -> None:
    assert split_thinking("Just an answer.").thinking == ""
    assert answer_only("Just an answer.") == "Just an answer."
    conversation = Conversation()
    conversation.add(Message(Role.USER, "What is 17 + 25?"))
    conversation.add(Message(Role.ASSISTANT, "".join(QWEN3_CHUNKS)))
    conversation.add(Message(Role.USER, "And doubled?"))
    history = conversation.history_for_reply()
    assert history[1]["content"] == "17 + 25 = **42**."  # no thinking sent back
