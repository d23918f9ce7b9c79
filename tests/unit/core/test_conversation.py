from __future__ import annotations

from cove.core.conversation import Conversation, Message, MessageState, Role, title_from


def test_history_skips_failed_and_empty_replies_but_keeps_stopped_text() -> None:
    conversation = Conversation()
    conversation.add(Message(Role.USER, "first"))
    conversation.add(Message(Role.ASSISTANT, "", state=MessageState.FAILED, error="x"))
    conversation.add(Message(Role.USER, "second"))
    conversation.add(Message(Role.ASSISTANT, "partial", state=MessageState.STOPPED))
    conversation.add(Message(Role.USER, "third"))
    history = conversation.history_for_reply("Be brief.")
    assert history == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "partial"},
        {"role": "user", "content": "third"},
    ]


def test_title_comes_from_first_user_message() -> None:
    conversation = Conversation()
    conversation.add(Message(Role.USER, "  What is\nthe   capital of France?  "))
    conversation.add(Message(Role.USER, "ignored"))
    assert conversation.title == "What is the capital of France?"
    assert title_from("x" * 100).endswith("…")
    assert len(title_from("x" * 100)) == 60
