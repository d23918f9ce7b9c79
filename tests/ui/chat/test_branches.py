"""Regenerate, edit and flip between versions, in the window, saved in the history."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog
from pytestqt.qtbot import QtBot

from cove.storage import conversation_export
from cove.ui.chat.message_model import Roles
from tests.apphelpers import Opened, Opener, chat, set_up_with_passphrase


def shown(app: Opened) -> list[str]:
    return [m.text for m in app.window.controller.model.conversation.messages]


def act(qtbot: QtBot, app: Opened, row: int, action: str) -> None:
    """Press a message's button, as the mouse would."""
    view = app.window.chat_view
    view.setCurrentIndex(view.model().index(row, 0))  # the current message shows its buttons
    view.viewport().grab()
    assert view.click_action(row, action), f"no {action} button on row {row}"


def reopen(qtbot: QtBot, app: Opened) -> None:
    """Open another conversation and come back: what shows comes from the store."""
    controller = app.window.controller
    conversation_id = controller.model.conversation.id
    qtbot.waitUntil(lambda: app.session.is_stored(conversation_id), timeout=5_000)
    app.window.new_conversation()
    sidebar = app.window.sidebar
    with qtbot.waitSignal(controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(
            conversation_id)))


def test_regenerate_keeps_both_replies_and_the_arrows_flip_between_them(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=["First answer."])
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "Name a colour")
    app.factory.made[-1].chunks = ["Second answer."]
    with qtbot.waitSignal(app.window.controller.sig_reply_finished, timeout=5_000):
        act(qtbot, app, 1, "regenerate")
    assert shown(app) == ["Name a colour", "Second answer."]
    model = app.window.controller.model
    assert model.index(1, 0).data(Roles.VERSIONS) == (2, 2)
    engine = app.factory.made[-1]
    assert [m["content"] for m in engine.seen[-1]] == ["Name a colour"]  # not the old reply
    # Each request names its conversation, so the worker keeps its model state apart.
    assert engine.conversations_seen[-1] == app.window.controller.model.conversation.id
    act(qtbot, app, 1, "previous")
    assert shown(app) == ["Name a colour", "First answer."]
    assert model.index(1, 0).data(Roles.VERSIONS) == (1, 2)
    # The chosen one is what the model sees next, and the choice is kept in the history.
    chat(qtbot, app, "Why?")
    assert [m["content"] for m in engine.seen[-1]] == ["Name a colour", "First answer.",
                                                       "Why?"]
    reopen(qtbot, app)
    assert shown(app)[:2] == ["Name a colour", "First answer."] and len(shown(app)) == 4


def test_edit_and_resend_starts_a_branch_and_the_old_one_stays_reachable(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=["Rome plan."])
    set_up_with_passphrase(qtbot, app)
    window = app.window
    chat(qtbot, app, "Plan a trip to Rome")
    act(qtbot, app, 0, "edit")
    assert window.composer.text == "Plan a trip to Rome"
    assert "Editing your message" in window.composer.hint.text()
    window.composer.set_text("Plan a trip to Lisbon")
    app.factory.made[-1].chunks = ["Lisbon plan."]
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert shown(app) == ["Plan a trip to Lisbon", "Lisbon plan."]
    assert window.controller.model.index(0, 0).data(Roles.VERSIONS) == (2, 2)
    act(qtbot, app, 0, "previous")
    assert shown(app) == ["Plan a trip to Rome", "Rome plan."]
    reopen(qtbot, app)
    assert shown(app) == ["Plan a trip to Rome", "Rome plan."]
    store = app.session.store
    assert store is not None
    exported = conversation_export.as_markdown(store, window.controller.model.conversation.id)
    assert "Rome plan." in exported and "Lisbon" not in exported


def test_esc_cancels_an_edit_and_the_menu_key_reaches_the_actions(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "Hello")
    view = app.window.chat_view
    menu = view.actions_menu(view.model().index(1, 0))
    assert [a.text() for a in menu.actions()][:2] == ["Copy Message", "Regenerate"]
    user_menu = view.actions_menu(view.model().index(0, 0))
    assert "Edit and Resend…" in [a.text() for a in user_menu.actions()]
    app.window.start_edit(app.window.controller.model.message(0))
    qtbot.keyClick(app.window.composer.edit, Qt.Key.Key_Escape)
    assert app.window.composer.text == "" and app.window.composer.hint.isHidden()
    assert shown(app) == ["Hello", "Hello from the fake."]


def test_the_model_names_a_new_conversation_after_its_first_reply(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=["Garden", " planning"])
    set_up_with_passphrase(qtbot, app)
    controller = app.window.controller
    controller.auto_titles = True
    order: list[str] = []
    controller.sig_reply_finished.connect(lambda *_: order.append(
        f"reply finished, requests so far: {len(app.factory.made[-1].seen)}"))
    with qtbot.waitSignal(controller.sig_title, timeout=5_000) as titled:
        chat(qtbot, app, "What should I plant in spring?")
    assert order == ["reply finished, requests so far: 1"]  # the title came after it
    assert titled.args[1] == "Garden planning"
    engine = app.factory.made[-1]
    assert "title" in engine.seen[1][-1]["content"]
    assert engine.params_seen[1].max_tokens <= 12
    qtbot.waitUntil(lambda: app.window.title_label.text() == "Garden planning", timeout=5_000)
    chat(qtbot, app, "And in autumn?")  # only the first exchange is titled
    assert len(engine.seen) == 3


def test_a_title_the_person_gave_is_kept(qtbot: QtBot, open_app: Opener,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(chunks=["Model", " title"], delay=0.05)
    set_up_with_passphrase(qtbot, app)
    controller = app.window.controller
    controller.auto_titles = True
    app.window.composer.set_text("Recipes for dinner")
    app.window.composer.send_button.click()
    qtbot.waitUntil(lambda: app.session.is_stored(controller.model.conversation.id),
                    timeout=5_000)
    monkeypatch.setattr(QInputDialog, "getText", lambda *_args: ("My recipes", True))
    with qtbot.waitSignal(app.session.sig_summary, timeout=5_000):
        app.window.rename_action.trigger()
    with qtbot.waitSignal(controller.sig_title, timeout=5_000):
        pass
    qtbot.wait(200)
    store = app.session.store
    assert store is not None
    assert store.conversation_summary(controller.model.conversation.id).title == "My recipes"


def test_deleting_a_pair_keeps_what_followed_and_the_text_is_gone_from_the_store(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "First question")
    chat(qtbot, app, "Second question")
    act(qtbot, app, 0, "delete")  # the person's message: it goes with its reply
    assert shown(app) == ["Second question", "Hello from the fake."]
    act(qtbot, app, 1, "delete")  # a reply alone
    assert shown(app) == ["Second question"]
    # What the model reads next, and what the history holds, agree with the window.
    chat(qtbot, app, "Third")
    engine = app.factory.made[-1]
    assert [m["content"] for m in engine.seen[-1]] == ["Second question", "Third"]
    reopen(qtbot, app)
    assert shown(app) == ["Second question", "Third", "Hello from the fake."]
    store = app.session.store
    assert store is not None
    conversation_id = app.window.controller.model.conversation.id
    texts = [m.text for m in store.load_messages(conversation_id) if hasattr(m, "text")]
    assert "First question" not in texts
    exported = conversation_export.as_markdown(store, conversation_id)
    body = exported.split("## ", 1)[1]  # the title (its own name, renamable) stays above
    assert "First question" not in body and "Second question" in body


def test_a_reply_cut_short_goes_on_where_it_stopped(qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=[f"w{n} " for n in range(200)], delay=0.01)
    set_up_with_passphrase(qtbot, app)
    window, controller = app.window, app.window.controller
    window.composer.set_text("Write a long story")
    window.composer.send_button.click()
    qtbot.waitUntil(lambda: "w3 " in controller.model.message(1).text, timeout=5_000)
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=5_000):
        controller.stop()
    before = controller.model.message(1).text
    engine = app.factory.made[-1]
    engine.chunks, engine.delay = ["and", " the", " end."], 0.0
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=5_000):
        act(qtbot, app, 1, "continue")
    reply = controller.model.message(1)
    assert reply.text == before + "and the end." and controller.model.rowCount() == 2
    assert engine.seen[-1][-1] == {"role": "assistant", "content": before}  # read so far
    reopen(qtbot, app)
    assert shown(app)[1] == before + "and the end."  # saved into the same message
