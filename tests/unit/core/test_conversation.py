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
    conversation.add(Message(Role.USER, "\n  What is   the capital of France?  \nAnd why?"))
    conversation.add(Message(Role.USER, "ignored"))
    assert conversation.title == "What is the capital of France?"  # the first line only
    assert title_from("x" * 100).endswith("…")
    assert len(title_from("x" * 100)) == 48  # one long word is cut where it must be


def test_a_long_title_ends_at_a_whole_word() -> None:
    title = title_from("Please help me plan a two-week walking holiday in the Scottish "
                       "Highlands next spring")
    assert title == "Please help me plan a two-week walking holiday…"
    assert len(title) <= 48


def test_a_regenerated_reply_is_a_second_version_and_either_can_be_shown() -> None:
    conversation = Conversation()
    question = conversation.add(Message(Role.USER, "Name a colour"))
    first = conversation.add(Message(Role.ASSISTANT, "Red"))
    conversation.branch_before(first)
    second = conversation.add(Message(Role.ASSISTANT, "Blue"))
    assert [m.text for m in conversation.messages] == ["Name a colour", "Blue"]
    assert conversation.alternatives(second) == [first, second]
    assert second.parent == question.id == first.parent
    conversation.choose(first)
    assert [m.text for m in conversation.messages] == ["Name a colour", "Red"]
    assert conversation.history_for_reply()[-1]["content"] == "Red"  # what the model sees


def test_an_edit_starts_a_branch_and_the_old_one_keeps_its_continuation() -> None:
    conversation = Conversation()
    conversation.add(Message(Role.USER, "Hi"))
    conversation.add(Message(Role.ASSISTANT, "Hello"))
    old_question = conversation.add(Message(Role.USER, "Plan a trip to Rome"))
    old_reply = conversation.add(Message(Role.ASSISTANT, "Rome plan"))
    conversation.add(Message(Role.USER, "More museums"))
    conversation.branch_before(old_question)
    new_question = conversation.add(Message(Role.USER, "Plan a trip to Lisbon"))
    conversation.add(Message(Role.ASSISTANT, "Lisbon plan"))
    assert [m.text for m in conversation.messages][-2:] == ["Plan a trip to Lisbon",
                                                            "Lisbon plan"]
    assert conversation.alternatives(new_question) == [old_question, new_question]
    conversation.choose(old_question)  # the old branch, down to its newest message
    assert [m.text for m in conversation.messages][-3:] == ["Plan a trip to Rome",
                                                            "Rome plan", "More museums"]
    assert old_reply in conversation.messages and conversation.branched


def test_stored_messages_without_parents_read_as_one_line_and_a_leaf_picks_a_branch() -> None:
    legacy = [Message(Role.USER, "a"), Message(Role.ASSISTANT, "b"),
              Message(Role.USER, "c")]  # saved before branches: no parent stated
    conversation = Conversation.from_stored(legacy)
    assert conversation.messages == legacy and not conversation.branched
    conversation.branch_before(legacy[1])
    other = conversation.add(Message(Role.ASSISTANT, "b2"))
    stored = Conversation.from_stored(conversation.tree, leaf=legacy[1].id)
    assert [m.text for m in stored.messages] == ["a", "b", "c"]  # the chosen branch
    assert [m.text for m in Conversation.from_stored(conversation.tree,
                                                     leaf=other.id).messages] == ["a", "b2"]
    assert Conversation.from_stored(conversation.tree).leaf == other.id  # default: newest
