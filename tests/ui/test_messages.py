"""The message bridge: what is said reaches the banner or the status bar, even said early."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.messages import MessageBridge
from tests.fakes import fake_factory
from tests.ui.conftest import WindowMaker


def test_what_is_said_before_the_window_exists_shows_once_it_does(qtbot: QtBot) -> None:
    messages = MessageBridge()
    messages.error("The model catalogue cannot be read.")
    messages.status("Checking SmolLM2…", 0)
    controller = ChatController(engine_factory=fake_factory())
    window = MainWindow(controller, messages=messages)
    qtbot.addWidget(window)
    window.show()
    assert window.banner.isVisible()
    assert window.banner.label.text() == "The model catalogue cannot be read."
    assert window.banner.property("error") is True
    assert window.statusBar().currentMessage() == "Checking SmolLM2…"
    window.close()


def test_notice_error_status_and_clear(make_window: WindowMaker) -> None:
    window = make_window()
    said: list[tuple[str, str]] = []
    window.messages.sig_said.connect(lambda kind, text: said.append((kind, text)))
    window.messages.notice("Send a message first: there is nothing to export.")
    assert window.banner.isVisible() and window.banner.property("error") is False
    window.messages.clear()
    assert not window.banner.isVisible()
    window.messages.status("Conversation deleted", 3000)
    assert window.statusBar().currentMessage() == "Conversation deleted"
    assert said == [("notice", "Send a message first: there is nothing to export."),
                    ("status", "Conversation deleted")]
