"""Switching models in a running window: the starter and Gemma 3 270M (no chat template)."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from cove.core.conversation import MessageState
from cove.inference.engine import Engine, GenerationParams, LoadOptions
from cove.models.registry import ModelRegistry
from cove.settings import ModelSettings, Settings
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.models.presenter import ModelsPresenter, find_model
from cove.ui.settings.presenter import SettingsPresenter


def test_switch_between_two_real_models_in_a_running_window(
        qtbot: QtBot, tmp_path: Path, starter_model: Path, gemma_model: Path) -> None:
    made: list[Engine] = []

    def factory(path: Path, options: LoadOptions) -> Engine:
        made.append(Engine(path, options))
        return made[-1]

    controller = ChatController(factory, GenerationParams(max_tokens=16, seed=3),
                                LoadOptions(n_ctx=512))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    registry.ensure_starter(starter_model)
    registry.import_file(gemma_model, copy=False)
    presenter = ModelsPresenter(window, registry, max_tokens=16, seed=3)
    window.show()
    combo = window.model_combo
    assert combo.count() == 2 and combo.isEnabled()

    def chat_with(row: int) -> str:
        with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
            combo.activated.emit(row)
        window.composer.set_text("Say something short.")
        with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
            window.composer.send_button.click()
        reply = controller.last_reply()
        assert reply is not None
        return reply.text

    starter_row = combo.findData(find_model(registry, "SmolLM2-135M-Instruct").id)  # type: ignore[union-attr]
    gemma_row = 1 - starter_row
    assert chat_with(starter_row).strip()
    assert controller.chat_format_label == "Model's own template"
    assert chat_with(gemma_row).strip()
    assert controller.chat_format_label.startswith("Gemma")
    assert "Gemma" in window.model_label.toolTip()
    assert combo.currentIndex() == gemma_row
    assert not made[0].loaded, "the first model's memory was released before the second loaded"
    assert made[1].loaded
    window.close()
    assert not made[1].loaded
    del presenter


def test_models_window_opens_from_the_menu_and_use_switches(
        qtbot: QtBot, tmp_path: Path, starter_model: Path, gemma_model: Path) -> None:
    controller = ChatController(params=GenerationParams(max_tokens=8, seed=1),
                                load_options=LoadOptions(n_ctx=512))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    registry.ensure_starter(starter_model)
    gemma = registry.import_file(gemma_model, copy=False)
    presenter = ModelsPresenter(window, registry, max_tokens=8, seed=1)
    window.show()
    window.models_action.trigger()
    dialog = presenter.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.installed_view.topLevelItemCount() == 2
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        dialog.sig_use.emit(gemma)
    assert controller.model_path == gemma.file
    assert window.model_combo.currentText().startswith(gemma.name)
    window.close()


def test_each_real_model_loads_with_its_own_settings(
        qtbot: QtBot, tmp_path: Path, starter_model: Path, gemma_model: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    starter = registry.ensure_starter(starter_model)
    assert starter is not None
    gemma = registry.import_file(gemma_model, copy=False)
    settings = Settings()
    settings.set_model_settings(starter.id, ModelSettings(n_ctx=1024, n_threads=1,
                                                          max_tokens=16))
    settings.set_model_settings(gemma.id, ModelSettings(n_ctx=768, max_tokens=24,
                                                        temperature=0.0, top_k=1))
    controller = ChatController(params=GenerationParams(seed=2))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    presenter = ModelsPresenter(window, registry, SettingsPresenter(window, settings))
    window.show()
    for model, n_ctx, longest in ((starter, 1024, 16), (gemma, 768, 24)):
        with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000) as ready:
            presenter.switch_to(model)
        assert ready.args is not None and ready.args[1] == n_ctx  # llama.cpp's own n_ctx()
        window.composer.set_text("Tell me a long story about the sea.")
        with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000) as finished:
            window.composer.send_button.click()
        stats = finished.args[0] if finished.args else None
        assert controller.params.max_tokens == longest
        # Counted by tokenizing the reply again, which can split it a little differently.
        assert stats is not None and 0 < stats.tokens <= 2 * longest
    window.close()


def test_switching_during_a_reply_stops_it_cleanly_and_keeps_its_text(
        qtbot: QtBot, tmp_path: Path, starter_model: Path, gemma_model: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    starter = registry.ensure_starter(starter_model)
    gemma = registry.import_file(gemma_model, copy=False)
    assert starter is not None
    controller = ChatController(params=GenerationParams(seed=4))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    presenter = ModelsPresenter(window, registry, max_tokens=300)
    window.show()
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        presenter.switch_to(starter)
    window.composer.set_text("Write a very long story about a lighthouse, chapter by chapter.")
    window.composer.send_button.click()
    qtbot.waitUntil(lambda: len(controller.model.message(1).text) > 20, timeout=60_000)
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        presenter.switch_to(gemma)  # mid-reply
    reply = controller.model.message(1)
    assert reply.state is MessageState.STOPPED and len(reply.text) > 20
    assert not controller.busy
    window.composer.set_text("Say hello.")
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()
    last = controller.last_reply()
    assert last is not None and last.text.strip() and last.model.startswith("gemma")
    window.close()
