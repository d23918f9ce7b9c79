"""The whole window with the real starter model: type, send, watch the reply stream, stop."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from cove.core.conversation import MessageState
from cove.inference.engine import GenerationParams, LoadOptions
from cove.paths import app_paths
from cove.ui import app as app_module
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, starter_model: Path):  # type: ignore[no-untyped-def]
    controller = ChatController(params=GenerationParams(max_tokens=48, seed=5),
                                load_options=LoadOptions(n_ctx=1024))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        controller.load_model(starter_model)
    yield window
    controller.shutdown()


def test_chat_through_the_window(qtbot: QtBot, window: MainWindow) -> None:
    text_updates: list[int] = []
    window.controller.model.dataChanged.connect(lambda *_: text_updates.append(1))
    qtbot.keyClicks(window.composer.edit, "What is the capital of France?")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=60_000) as finished:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    stats, stopped = finished.args
    assert not stopped
    reply = window.controller.model.message(1)
    assert reply.text.strip() and reply.state is MessageState.DONE
    assert reply.model == "SmolLM2-135M-Instruct.Q4_1"
    assert len(text_updates) >= 2, "the reply appeared as it streamed, not all at once"
    assert window.speed_label.text() == f"{stats.tokens_per_second:.1f} tokens/s"


def test_the_status_bar_says_which_cpu_kernels_run_and_where_the_weights_live(
        window: MainWindow) -> None:
    from cove.inference.cpu_check import cpu_identity, shared_check

    kernels = shared_check().kernels()  # what this process decided: no second check
    tooltip = window.model_label.toolTip()
    assert ("\n" + kernels.summary() + "\nModel weights: ") in tooltip
    engine = window.controller.host.worker._engine
    assert tooltip.endswith("\n" + engine.memory_summary)
    if kernels.extra_buffers and not any(f.startswith("amx") for f in cpu_identity().flags):
        assert "Fast CPU kernels are on" in tooltip


def test_follow_up_and_stop_with_the_real_model(qtbot: QtBot, window: MainWindow) -> None:
    controller = window.controller
    controller.configure(params=GenerationParams(max_tokens=1000, seed=9))
    window.composer.set_text("Write a long poem about rivers.")
    stopped_after_chunk = []

    def stop_once_streaming() -> None:
        if controller.model.message(1).text and not stopped_after_chunk:
            stopped_after_chunk.append(True)
            qtbot.keyClick(window, Qt.Key.Key_Escape)

    controller.model.dataChanged.connect(lambda *_: QTimer.singleShot(0, stop_once_streaming))
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000) as finished:
        window.composer.send_button.click()
    assert finished.args[1] is True
    assert controller.model.message(1).state is MessageState.STOPPED
    assert finished.args[0].tokens < 1000


def test_app_without_any_model_opens_and_says_how_to_get_one(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(app_module, "starter_model_path", lambda: None)
    args = argparse.Namespace(smoke_test=None, model=None, max_tokens=None, seed=None,
                              timeout=5)
    window, smoke = app_module.start(args, app_paths(tmp_path).ensure())
    qtbot.addWidget(window)
    assert smoke is None
    assert window.isVisible()
    qtbot.waitUntil(window.banner.isVisible, timeout=5_000)  # start-up ends after first paint
    assert "No model found" in window.banner.label.text()
    assert "make run" in window.banner.label.text()
    assert not window.composer.send_button.isEnabled()
    window.close()
    assert not window.controller.host.thread.isRunning()


def test_closing_mid_reply_with_the_real_model_exits_promptly(qtbot: QtBot,
                                                              window: MainWindow) -> None:
    import time

    controller = window.controller
    controller.configure(params=GenerationParams(max_tokens=2000, seed=4))
    window.composer.set_text("Write a very long essay about mountains.")
    with qtbot.waitSignal(controller.model.dataChanged, timeout=60_000):
        window.composer.send_button.click()
    started = time.perf_counter()
    window.close()
    assert not controller.host.thread.isRunning()
    assert time.perf_counter() - started < 5
    assert controller.host.worker._engine is None  # the model was freed


def test_a_message_longer_than_the_context_goes_back_to_the_composer(
        qtbot: QtBot, window: MainWindow) -> None:
    # About 950 tokens by the window's rough count, so the real model itself is asked; its
    # tokenizer counts about 1,900 (one a digit), past the 1024-token context.
    text = " 9" * 1900
    window.composer.set_text(text)
    with qtbot.waitSignal(window.controller.sig_prompt_returned, timeout=60_000) as returned:
        window.composer.send_button.click()
    assert returned.args[0] == text and "Shorten the message" in returned.args[1]
    assert window.composer.text == text
    assert window.controller.model.rowCount() == 0 and not window.controller.busy
    window.composer.set_text("Hi")  # and the model still answers the next one
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()


def test_regenerate_and_edit_with_the_real_model(qtbot: QtBot, window: MainWindow) -> None:
    controller = window.controller
    window.composer.set_text("Name one fruit.")
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()
    first = controller.model.message(1)
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        assert controller.regenerate(first)
    second = controller.model.message(1)
    assert second is not first and second.text.strip()
    assert second.text != first.text  # another seed: another reply, not the same again
    conversation = controller.model.conversation
    assert conversation.alternatives(second) == [first, second]
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        assert controller.edit(controller.model.message(0), "Name one vegetable.")
    assert conversation.messages[0].text == "Name one vegetable."
    assert conversation.messages[1].text.strip()
    assert controller.show_alternative(conversation.messages[0], -1)
    assert [m.text for m in conversation.messages] == ["Name one fruit.", second.text]


def test_continue_a_reply_cut_at_the_length_limit_with_the_real_model(
        qtbot: QtBot, window: MainWindow) -> None:
    controller = window.controller
    controller.configure(params=GenerationParams(max_tokens=8, seed=3))
    window.composer.set_text("Write three sentences about the sea.")
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()
    reply = controller.model.message(1)
    first = reply.text
    assert reply.stats is not None and reply.stats.tokens == 8  # cut at the limit
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        assert controller.continue_reply(reply)
    assert reply.text.startswith(first) and len(reply.text) > len(first)
    assert controller.model.rowCount() == 2  # the same reply went on
