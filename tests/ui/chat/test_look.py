"""The chat's look and feel: reading width, hover actions, the composer, theme and zoom."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QMouseEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cove.core.conversation import Message, MessageState, Role
from cove.ui import theme
from cove.ui.chat.composer import MAX_DROP_BYTES, DroppedFileError, read_text_file
from cove.ui.chat.message_model import MessageListModel, Roles
from cove.ui.chat.view import AVATAR, GAP, ChatView, MessageDelegate
from tests.ui.conftest import WindowMaker


def shown_view(qtbot: QtBot, width: int, *messages: Message) -> tuple[ChatView, MessageListModel]:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    for message in messages:
        model.append(message)
    view.resize(width, 600)
    view.show()
    qtbot.waitExposed(view)
    view.viewport().grab()  # paints every row, which places their buttons
    return view, model


def delegate_of(view: ChatView) -> MessageDelegate:
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    return delegate


def test_text_keeps_a_reading_width_centred_on_a_wide_window(qtbot: QtBot) -> None:
    view, _model = shown_view(qtbot, 1800, Message(Role.ASSISTANT, "word " * 400, model="m"))
    column = delegate_of(view).column(view.viewport().rect())
    assert column.width() == theme.READING_WIDTH + AVATAR + GAP  # not the window's 1800
    left_room = column.left()
    right_room = view.viewport().width() - column.right() - 1
    assert abs(left_room - right_room) <= 1  # centred
    narrow, _ = shown_view(qtbot, 500, Message(Role.ASSISTANT, "hi", model="m"))
    assert delegate_of(narrow).column(narrow.viewport().rect()).width() < 500  # fits


def move_mouse(view: ChatView, point: QPoint) -> None:
    event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(point), QPointF(point),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def test_hover_shows_copy_and_the_time_and_a_click_copies(qtbot: QtBot) -> None:
    view, model = shown_view(qtbot, 900, Message(Role.USER, "question"),
                             Message(Role.ASSISTANT, "the **answer**", model="tiny"))
    delegate = delegate_of(view)
    assert not [z for z in delegate.zones.get(1, []) if z.action == "copy"]  # not hovered
    assert "tiny" in delegate.meta(model.index(1, 0))  # the model, quietly, always
    move_mouse(view, view.visualRect(model.index(1, 0)).center())
    assert delegate.hovered_row == 1
    view.viewport().grab()
    [copy] = [z for z in delegate.zones[1] if z.action == "copy"]
    hovered_meta = delegate.meta(model.index(1, 0), hovered=True)
    assert hovered_meta.split(" · ")[0].count(":") == 1  # "14:02": the time on hover
    with qtbot.waitSignal(view.sig_copied):
        for kind in (QMouseEvent.Type.MouseButtonPress, QMouseEvent.Type.MouseButtonRelease):
            QApplication.sendEvent(view.viewport(), QMouseEvent(
                kind, QPointF(copy.rect.center()), QPointF(copy.rect.center()),
                Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier))
    assert QGuiApplication.clipboard().text() == "the **answer**"  # the Markdown as written


def test_the_current_message_shows_its_actions_and_the_menu_key_lists_them(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    view, model = shown_view(qtbot, 900, Message(Role.USER, "q"), Message(
        Role.ASSISTANT, "Run:\n\n```sh\nls -la\n```", model="m"))
    view.setFocus()
    view.setCurrentIndex(model.index(1, 0))
    view.viewport().grab()
    assert [z.action for z in delegate_of(view).zones[1]] == ["copy-code", "copy",
                                                              "regenerate", "delete"]
    menu = view.actions_menu(model.index(1, 0))
    labels = [action.text() for action in menu.actions()]
    assert labels == ["Copy Message", "Regenerate", "Delete Reply", "Copy Code Block 1 (sh)"]
    menu.actions()[3].trigger()
    assert QGuiApplication.clipboard().text() == "ls -la"
    shown: list[list[str]] = []
    monkeypatch.setattr(view, "exec_menu", lambda menu, _at: shown.append(
        [action.text() for action in menu.actions()]))
    qtbot.keyClick(view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(view, Qt.Key.Key_Menu)
    assert shown == [labels, labels]  # the keyboard reaches the same actions


def test_a_failed_reply_wraps_its_reason_instead_of_cutting_it(qtbot: QtBot) -> None:
    reason = "This message is too long for the model. " * 8
    view, model = shown_view(qtbot, 600, Message(Role.USER, "x"))
    row = model.append(Message(Role.ASSISTANT, "", model="m"))
    model.finish(row, MessageState.FAILED, error=reason)
    document = delegate_of(view)._rendered(model.message(row), 300, view.font()).parts[0].document
    assert reason.strip() in document.toPlainText()
    assert document.size().width() <= 300  # wrapped to the column, every word kept
    assert document.size().height() > 3 * view.fontMetrics().height()  # several lines


def test_the_composer_grows_to_eight_lines_then_scrolls(qtbot: QtBot,
                                                        make_window: WindowMaker) -> None:
    window = make_window()
    edit = window.composer.edit
    one = edit.sizeHint().height()
    window.composer.set_text("\n".join(["line"] * 4))
    four = edit.sizeHint().height()
    window.composer.set_text("\n".join(["line"] * 30))
    many = edit.sizeHint().height()
    line = edit.fontMetrics().lineSpacing()
    assert four - one == 3 * line
    assert many - one == (edit.MAX_LINES - 1) * line  # capped: the box scrolls from here


def test_send_and_stop_are_icon_buttons_that_take_turns(qtbot: QtBot,
                                                        make_window: WindowMaker) -> None:
    window = make_window(delay=0.05)
    composer = window.composer
    assert not composer.send_button.icon().isNull() and composer.send_button.text() == ""
    composer.set_text("hello")
    composer.send_button.click()
    qtbot.waitUntil(composer.stop_button.isVisible, timeout=2_000)
    assert composer.send_button.isHidden()
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        composer.stop_button.click()
    assert composer.send_button.isVisible() and composer.stop_button.isHidden()


def test_ctrl_enter_can_be_the_send_key(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    window.composer.edit.set_ctrl_enter_sends(True)
    qtbot.keyClicks(window.composer.edit, "one")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.composer.text == "one\n"  # Enter: a new line
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier)
    assert window.controller.model.message(0).text == "one\n"


def test_the_hint_appears_as_a_message_nears_the_context(qtbot: QtBot,
                                                         make_window: WindowMaker) -> None:
    window = make_window()
    composer = window.composer
    composer.set_context(1000, 0)
    composer.set_text("short question")
    assert composer.hint.isHidden()
    composer.set_text("word " * 560)  # about 700 tokens of 1000
    assert composer.hint.isVisible() and "of the model's 1,000 left" in composer.hint.text()
    composer.set_text("word " * 1000)
    assert "longer than the 1,000 this model reads at once" in composer.hint.text()


def test_a_dropped_text_file_goes_into_the_message(qtbot: QtBot, make_window: WindowMaker,
                                                   tmp_path: Path) -> None:
    window = make_window()
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n- buy bread\n", encoding="utf-8")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(notes))])
    window.composer.set_text("Summarise this:")
    window.composer.edit.insertFromMimeData(data)
    assert window.composer.text.startswith("Summarise this:\n\nnotes.md:\n```\n# Plan\n")
    assert "- buy bread\n```" in window.composer.text


def test_binary_large_and_mis_encoded_files_are_refused_in_words(
        qtbot: QtBot, make_window: WindowMaker, tmp_path: Path) -> None:
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\x00\x10JFIF")
    latin = tmp_path / "old.txt"
    latin.write_bytes("café".encode("latin-1"))
    big = tmp_path / "big.txt"
    big.write_text("a" * (MAX_DROP_BYTES + 1))
    for path, words in ((binary, "not a text file"), (latin, "not UTF-8"),
                        (big, "up to 256.0 KB")):
        try:
            read_text_file(path)
        except DroppedFileError as error:
            assert words in str(error) and path.name in str(error)
        else:
            raise AssertionError(f"{path.name} was taken")
    window = make_window()
    window.composer.set_text("keep me")
    with qtbot.waitSignal(window.composer.sig_problem) as said:
        window.composer.insert_files([binary])
    assert "photo.jpg is not a text file" in said.args[0]
    assert window.composer.text == "keep me"  # nothing half-inserted
    assert window.banner.isVisible()


def test_header_names_the_conversation_and_the_window_title_follows(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    window.show_conversation_title("Trip to Lisbon")
    assert window.title_label.text() == "Trip to Lisbon"
    assert window.windowTitle() == "Trip to Lisbon — Cove"
    window.show_conversation_title("")
    assert window.windowTitle() == "Cove" and window.title_label.text() == ""


def test_the_sidebar_button_and_ctrl_b_hide_and_show_the_list(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    window.set_sidebar_available(True)
    assert window.sidebar.isVisible()
    window.sidebar_button.click()
    assert window.sidebar.isHidden()
    window.sidebar_action.trigger()
    assert window.sidebar.isVisible()
    window.set_sidebar_available(False)  # locked: nothing to list, nothing to toggle
    window.sidebar_action.trigger()
    assert window.sidebar.isHidden()


def test_user_bubbles_fit_their_text(qtbot: QtBot) -> None:
    view, model = shown_view(qtbot, 1200, Message(Role.USER, "hi"),
                             Message(Role.USER, "a much longer message " * 10))
    image = view.viewport().grab().toImage()
    bubble = theme.current().bubble
    short_row = view.visualRect(model.index(0, 0))
    y = short_row.top() + 20
    filled = [x for x in range(0, image.width()) if image.pixelColor(x, y).name() == bubble]
    assert filled and len(filled) < 120  # "hi" gets a small bubble, on the right
    assert min(filled) > image.width() // 2
    assert model.index(1, 0).data(Roles.ROLE) == "user"


def test_a_reasoning_models_thinking_is_folded_above_the_answer(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    from tests.unit.core.test_thinking import QWEN3_CHUNKS

    window = make_window(chunks=QWEN3_CHUNKS)
    window.composer.set_text("What is 17 + 25?")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        window.composer.send_button.click()
    view = window.chat_view
    delegate = delegate_of(view)
    index = view.model().index(1, 0)
    rendered = delegate._rendered(view.model().message(1), 500, view.font())
    assert rendered.plain_text() == "17 + 25 = 42."  # the answer only
    assert rendered.thinking.startswith("Thought for about")
    view.viewport().grab()
    assert delegate.zones[1][0].action == "thinking"
    assert view.click_action(1, "thinking")  # open it: the thinking shows, quoted
    opened = delegate._rendered(view.model().message(1), 500, view.font()).plain_text()
    assert "Okay, the user asks 17 + 25" in opened and opened.endswith("17 + 25 = 42.")
    view.setCurrentIndex(index)
    view.copy_current()
    assert QGuiApplication.clipboard().text() == "17 + 25 = **42**."  # no thinking copied


def test_the_header_meters_the_context_the_conversation_fills(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    assert window.context_label.text() == ""  # nothing said yet
    window.composer.set_text("How full is it?")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        window.composer.send_button.click()
    context = window.controller.context_tokens
    assert window.context_label.text().endswith(f" of {context:,} tokens")
    used = int(window.context_label.text().split(" of ")[0].replace(",", ""))
    assert 0 < used < context


def test_a_marker_shows_where_the_models_memory_starts(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(chunks=["A fairly long answer about the garden. " * 20])
    controller = window.controller
    for turn in range(4):
        window.composer.set_text(f"Question {turn}: " + "tell me more about it " * 30)
        with qtbot.waitSignal(controller.sig_reply_finished, timeout=5_000):
            window.composer.send_button.click()
    delegate = delegate_of(window.chat_view)
    assert delegate.memory_row == -1  # all of it fits the fake's 4,096 tokens
    controller.context_tokens = 1200  # a small context: the oldest turns drop out
    window._update_context_hint()
    assert delegate.memory_row > 0
    assert controller.model.message(delegate.memory_row).role.value == "user"
    option_height = window.chat_view.visualRect(
        window.chat_view.model().index(delegate.memory_row, 0)).height()
    window.chat_view.viewport().grab()
    assert option_height > 0
