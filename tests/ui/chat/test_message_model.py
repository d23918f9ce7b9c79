"""The message list model obeys Qt's model contract while a reply streams and history loads."""

from __future__ import annotations

from cove.core.conversation import Conversation, Message, MessageState, Role
from cove.ui.chat.message_model import MessageListModel, Roles


def test_the_message_model_keeps_qts_contract_through_a_whole_reply(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = MessageListModel(Conversation())
    qtmodeltester.check(model, force_py=True)  # and it watches every change below
    model.append(Message(Role.USER, "What is the capital of France?"))
    row = model.append(Message(Role.ASSISTANT, "", state=MessageState.STREAMING))
    model.append_text(row, "Paris")
    model.append_text(row, " is the capital.")
    model.finish(row, MessageState.DONE)
    # As the store hands them over: the first message shown follows the older ones.
    earlier = [Message(Role.USER, "an earlier question"),
               Message(Role.ASSISTANT, "an earlier answer")]
    model.conversation.messages[0].parent = earlier[1].id
    model.prepend(earlier)
    assert model.rowCount() == 4
    assert model.index(3, 0).data(Roles.TEXT) == "Paris is the capital."
    model.set_conversation(Conversation())
    assert model.rowCount() == 0
