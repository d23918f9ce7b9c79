"""The Models page of Settings: the switcher with fit labels, per-model settings, system prompts.

A real registry (real GGUF headers), a real encrypted history and a fake engine; the same paths
with the real models are in tests/e2e/test_model_switch.py.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from cove.core.units import format_memory
from cove.models import probe
from cove.models.gguf import inspect_gguf
from cove.models.memory import FIT_SHARE, FITS, TIGHT
from cove.models.registry import InstalledModel, ModelRegistry
from cove.settings import ModelSettings, Settings
from cove.storage.store import ConversationStore
from cove.ui.history.session import SYSTEM_PROMPTS, HistoryState
from cove.ui.models import presenter as models_ui
from cove.ui.models.presenter import ModelsPresenter
from cove.ui.models.settings_page import LOCKED_PROMPT_TEXT, ModelSettingsPage
from cove.ui.settings.dialog import SettingsDialog
from tests.apphelpers import PASSPHRASE, Opened, Opener, chat, set_up_with_passphrase
from tests.fakes import FakeEngine
from tests.hubserver import make_gguf

PROMPT = "CANARY-7f3a Answer like a lighthouse keeper."


@dataclass
class ModelsApp:
    app: Opened
    models: ModelsPresenter
    registry: ModelRegistry
    small: InstalledModel  # trained on 2,048 tokens, has its own template
    gemma: InstalledModel  # trained on 32,768 tokens, no template
    settings_path: Path

    def engine(self) -> FakeEngine:
        engine: FakeEngine = self.app.factory.made[-1]
        return engine

    def open_settings(self, qtbot: QtBot) -> tuple[SettingsDialog, ModelSettingsPage]:
        dialog = self.app.settings.open()
        qtbot.addWidget(dialog)
        assert self.models.page is not None
        return dialog, self.models.page

    def switch(self, qtbot: QtBot, model: InstalledModel) -> None:
        with qtbot.waitSignal(self.app.window.controller.sig_model_ready, timeout=5_000):
            self.models.switch_to(model)


@pytest.fixture
def models_app(qtbot: QtBot, open_app: Opener, tmp_path: Path) -> ModelsApp:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    small_file = tmp_path / "small.gguf"
    small_file.write_bytes(make_gguf(name="Small Chat", context_length=2048))
    gemma_file = tmp_path / "gemma.gguf"
    gemma_file.write_bytes(make_gguf(name="Tiny Gemma", architecture="gemma3",
                                     context_length=32768, chat_template=None))
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    small = registry.import_file(small_file, copy=False)
    gemma = registry.import_file(gemma_file, copy=False)
    settings_path = tmp_path / "settings.json"
    app.settings.path = settings_path
    models = ModelsPresenter(app.window, registry, app.settings, app.session)
    result = ModelsApp(app, models, registry, small, gemma, settings_path)
    result.switch(qtbot, small)
    return result


def ok(dialog: SettingsDialog) -> None:
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def saved_models(path: Path) -> dict[str, dict[str, float]]:
    models: dict[str, dict[str, float]] = json.loads(path.read_text())["models"]
    return models


def test_models_page_comes_first_and_lists_every_model_with_size_ram_and_fit(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    dialog, page = models_app.open_settings(qtbot)
    assert dialog.titles()[0] == "Models" and dialog.current_page() is page
    rows = {row[0]: row for row in page.rows()}
    assert set(rows) == {"Small Chat (in use)", "Tiny Gemma"}
    for _name, size, quantization, ram, fit in rows.values():
        assert size.endswith("KB") and quantization == "F32"
        assert ram.endswith(("MB", "GB")) and fit == FITS  # tiny files on any test machine
    assert page.shown_model_id == models_app.small.id  # the model in use is selected
    assert page.form_box.title() == "Settings for Small Chat"
    assert page.chat_format.text() == "Model's own template"
    assert not page.use_button.isEnabled()  # it is already in use
    page.select_model(models_app.gemma.id)
    assert page.chat_format.text().startswith("Gemma")
    assert page.use_button.isEnabled()


@pytest.mark.real_model
def test_ram_needed_and_fit_follow_the_context_length(
        qtbot: QtBot, tmp_path: Path, starter_model: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    starter = registry.ensure_starter(starter_model)
    assert starter is not None
    info = inspect_gguf(starter.file)
    small, big = info.estimate_ram_bytes(512), info.estimate_ram_bytes(8192)
    total = int(small / FIT_SHARE) + 1  # a computer where it just fits at 512 tokens
    assert big > total * FIT_SHARE  # ... and is tight at 8,192
    page = ModelSettingsPage([starter], starter.id, Settings(), {}, False, total)
    qtbot.addWidget(page)
    page.set_infos({starter.id: info})  # as the presenter does once it has read the header
    page.n_ctx.setValue(512)
    assert page.ram_needed(starter.id) == small and page.rows()[0][4] == FITS
    page.n_ctx.setValue(8192)
    assert page.ram_needed(starter.id) == big and page.rows()[0][4] == TIGHT
    assert page.rows()[0][3] == format_memory(big)


def test_context_length_defaults_to_and_stops_at_what_the_model_was_trained_on(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    assert models_app.engine().options.n_ctx == 2048  # below the usual 4,096: its own length
    _dialog, page = models_app.open_settings(qtbot)
    assert page.n_ctx.value() == 2048 and page.n_ctx.maximum() == 2048
    page.select_model(models_app.gemma.id)
    assert page.n_ctx.value() == 4096 and page.n_ctx.maximum() == 32768


def test_each_model_keeps_its_own_settings_and_they_reach_the_engine(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    small, gemma = models_app.small, models_app.gemma
    dialog, page = models_app.open_settings(qtbot)
    page.temperature.setValue(1.1)
    page.select_model(gemma.id)
    page.temperature.setValue(0.2)
    page.top_k.setValue(10)
    page.repeat_penalty.setValue(1.3)
    page.max_tokens.setValue(200)
    page.select_model(small.id)
    assert page.temperature.value() == pytest.approx(1.1)  # small's own value came back
    ok(dialog)

    saved = saved_models(models_app.settings_path)
    assert saved[small.id]["temperature"] == 1.1 and saved[small.id]["top_k"] == 40
    assert saved[gemma.id]["temperature"] == 0.2 and saved[gemma.id]["top_k"] == 10
    chat(qtbot, models_app.app, "hello")
    params = models_app.engine().params_seen[-1]
    assert (params.temperature, params.top_k, params.repeat_penalty) == (1.1, 40, 1.1)

    models_app.switch(qtbot, gemma)
    chat(qtbot, models_app.app, "hello again")
    params = models_app.engine().params_seen[-1]
    assert (params.temperature, params.top_k, params.repeat_penalty, params.max_tokens) == (
        0.2, 10, 1.3, 200)
    again = Settings.load(models_app.settings_path)  # what the next start reads
    assert again.model_settings(gemma.id, 32768).max_tokens == 200


def test_use_this_model_switches_from_the_settings_dialog(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    dialog, page = models_app.open_settings(qtbot)
    page.select_model(models_app.gemma.id)
    page.n_ctx.setValue(3000)
    with qtbot.waitSignal(models_app.app.window.controller.sig_model_ready, timeout=5_000):
        page.use_button.click()
    assert models_app.engine().path == models_app.gemma.file
    assert models_app.engine().options.n_ctx == 3000  # loaded with the edit just made
    assert "Tiny Gemma (in use)" in [row[0] for row in page.rows()]
    assert not page.use_button.isEnabled()
    assert models_app.app.window.model_combo.currentText().startswith("Tiny Gemma")
    dialog.reject()


def test_changing_how_the_model_in_use_loads_reloads_it_and_sampling_does_not(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    controller = models_app.app.window.controller
    dialog, page = models_app.open_settings(qtbot)
    page.temperature.setValue(0.3)
    with qtbot.assertNotEmitted(controller.sig_model_loading, wait=200):
        ok(dialog)
    assert controller.params.temperature == pytest.approx(0.3)

    dialog, page = models_app.open_settings(qtbot)
    page.n_ctx.setValue(1024)
    page.n_threads.setValue(1)
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000) as ready:
        ok(dialog)
    assert ready.args is not None and ready.args[1] == 1024
    options = models_app.engine().options
    assert (options.n_ctx, options.n_threads) == (1024, 1)


def test_gpu_layers_are_offered_only_when_llama_cpp_can_offload(
        qtbot: QtBot, models_app: ModelsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    dialog, page = models_app.open_settings(qtbot)  # this machine's build: CPU only
    assert not page.n_gpu_layers.isVisibleTo(page)
    dialog.reject()

    monkeypatch.setattr(models_ui, "gpu_offload_supported", lambda: True)
    dialog, page = models_app.open_settings(qtbot)
    assert page.n_gpu_layers.isVisibleTo(page)
    page.n_gpu_layers.setValue(20)
    with qtbot.waitSignal(models_app.app.window.controller.sig_model_ready, timeout=5_000):
        ok(dialog)
    assert models_app.engine().options.n_gpu_layers == 20


def test_system_prompt_is_per_model_sealed_in_the_history_and_sent_first(
        qtbot: QtBot, models_app: ModelsApp, tmp_path: Path) -> None:
    app, small = models_app.app, models_app.small
    dialog, page = models_app.open_settings(qtbot)
    page.system_prompt.setPlainText(PROMPT)
    with qtbot.waitSignal(app.session.tasks._relay.sig_done, timeout=5_000):
        ok(dialog)  # the sealed record is written in the background
    chat(qtbot, app, "who are you?")
    assert models_app.engine().seen[-1][0] == {"role": "system", "content": PROMPT}

    # Not in plaintext anywhere: the settings file, the history file and its journal.
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".gguf":
            assert b"CANARY-7f3a" not in path.read_bytes(), path.name
    with ConversationStore.open(tmp_path / "cove.db") as store:
        store.unlock_with_passphrase(PASSPHRASE)
        assert store.load_preference(SYSTEM_PROMPTS) == {"prompts": {small.id: PROMPT}}

    models_app.switch(qtbot, models_app.gemma)  # the other model has no system prompt
    chat(qtbot, app, "and now?")
    assert models_app.engine().seen[-1][0]["role"] == "user"


def test_locking_forgets_the_system_prompt_and_unlocking_brings_it_back(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    app = models_app.app
    controller = app.window.controller
    dialog, page = models_app.open_settings(qtbot)
    page.system_prompt.setPlainText(PROMPT)
    ok(dialog)
    assert controller.system_prompt == PROMPT
    dialog, page = models_app.open_settings(qtbot)
    assert page.system_prompt.toPlainText() == PROMPT
    app.presenter.lock()  # as auto-lock does, with Settings open
    assert not dialog.isVisible()  # it showed the decrypted prompt
    assert controller.system_prompt == "" and app.session.system_prompts == {}
    with qtbot.waitSignal(app.session.sig_system_prompts, timeout=10_000):
        app.window.unlock_page.passphrase.setText(PASSPHRASE)
        app.window.unlock_page.primary.click()
    qtbot.waitUntil(lambda: app.session.state is HistoryState.UNLOCKED, timeout=5_000)
    assert controller.system_prompt == PROMPT


def test_reset_to_defaults_and_a_locked_history_leave_the_prompt_alone(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    dialog, page = models_app.open_settings(qtbot)
    page.temperature.setValue(1.9)
    page.system_prompt.setPlainText(PROMPT)
    page.reset_button.click()
    assert page.temperature.value() == pytest.approx(ModelSettings().temperature)
    assert page.system_prompt.toPlainText() == ""
    dialog.reject()  # cancelled: nothing saved
    assert not models_app.settings_path.exists() or models_app.small.id not in saved_models(
        models_app.settings_path)

    locked = ModelSettingsPage([models_app.small], None,
                               Settings(model_defaults={"temperature": 0.3}), None, False, 0)
    qtbot.addWidget(locked)
    assert not locked.system_prompt.isEnabled()
    assert locked.system_prompt.placeholderText() == LOCKED_PROMPT_TEXT
    assert locked.results()[1] is None
    locked.temperature.setValue(1.5)
    locked.reset_button.click()  # back to this installation's defaults (migrated ones here)
    assert locked.temperature.value() == pytest.approx(0.3)


def test_removing_a_model_forgets_its_settings_and_prompt(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    gemma = models_app.gemma
    dialog, page = models_app.open_settings(qtbot)
    page.select_model(gemma.id)
    page.temperature.setValue(0.4)
    page.system_prompt.setPlainText(PROMPT)
    ok(dialog)
    assert gemma.id in saved_models(models_app.settings_path)
    assert gemma.id in models_app.app.session.system_prompts
    models_app.registry.remove(gemma)
    models_app.models._forget(gemma.id)
    assert gemma.id not in saved_models(models_app.settings_path)
    assert gemma.id not in models_app.app.session.system_prompts


def test_open_model_file_uses_that_files_own_settings_and_prompt(
        qtbot: QtBot, models_app: ModelsApp, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, gemma = models_app.app, models_app.gemma
    dialog, page = models_app.open_settings(qtbot)
    page.system_prompt.setPlainText(PROMPT)  # for the small model, in use
    page.select_model(gemma.id)
    page.n_ctx.setValue(2500)
    ok(dialog)
    controller = app.window.controller
    assert controller.system_prompt == PROMPT

    loose = tmp_path / "loose.gguf"  # not installed: the defaults, no system prompt
    loose.write_bytes(make_gguf(name="Loose"))
    # Its trial load in a child process passes (this test is about its settings; the trial
    # itself is tested in test_open_unregistered.py).
    monkeypatch.setattr(probe, "_probe_command", lambda path, *flags: [
        sys.executable, "-c", f"print({probe.RESULT_MARKER!r} + '{{\"ok\": true, "
        f"\"architecture\": \"llama\", \"n_vocab\": 1, \"context_length\": 2048}}')"])
    chosen = [str(loose), str(gemma.file)]
    monkeypatch.setattr("cove.ui.chat.window.QFileDialog.getOpenFileName",
                        lambda *_args: (chosen.pop(0), ""))
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
        app.window.open_action.trigger()
    assert models_app.engine().path == loose and controller.system_prompt == ""
    assert models_app.models.current is None
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
        app.window.open_action.trigger()
    assert models_app.engine().options.n_ctx == 2500  # an installed file: its own settings
    assert models_app.models.current == gemma


def test_an_installed_file_that_changed_is_hashed_again_before_it_loads(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    app, gemma = models_app.app, models_app.gemma
    controller = app.window.controller
    os.utime(gemma.file, ns=(gemma.mtime_ns + 10**9, gemma.mtime_ns + 10**9))  # same bytes
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
        app.window.sig_model_file_chosen.emit(gemma.file)
    assert models_app.engine().path == gemma.file
    assert not models_app.registry.needs_recheck(gemma.id)  # re-hashed and recorded

    small = models_app.small
    with small.file.open("ab") as handle:
        handle.write(b"\0" * 64)  # different bytes: not the file that was added
    with qtbot.assertNotEmitted(controller.sig_model_loading, wait=500):
        app.window.sig_model_file_chosen.emit(small.file)
        qtbot.waitUntil(lambda: "changed since Cove checked it" in app.window.banner.label.text(),
                        timeout=5_000)
    assert models_app.engine().path == gemma.file  # still the model that was running


def test_one_ok_saves_the_file_once_with_every_pages_edits(
        qtbot: QtBot, models_app: ModelsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    saves: list[Path] = []
    real_save = Settings.save
    monkeypatch.setattr(Settings, "save",
                        lambda self, path: (saves.append(path), real_save(self, path)))
    dialog, page = models_app.open_settings(qtbot)
    page.temperature.setValue(0.9)  # the Models page
    security = models_app.app.presenter.security_page
    assert security is not None
    security.auto_lock.setValue(12)  # the Privacy & Security page
    ok(dialog)
    assert saves == [models_app.settings_path]
    saved = json.loads(models_app.settings_path.read_text())
    assert saved["auto_lock_minutes"] == 12
    assert saved["models"][models_app.small.id]["temperature"] == 0.9
    assert models_app.app.window.controller.params.temperature == 0.9


def test_a_conversation_brings_back_the_model_it_was_used_with(
        qtbot: QtBot, models_app: ModelsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app, controller = models_app.app, models_app.app.window.controller
    chat(qtbot, app, "Written with the small model")
    first = controller.model.conversation
    assert first.settings.model_id == models_app.small.id
    app.window.new_conversation()
    models_app.switch(qtbot, models_app.gemma)
    chat(qtbot, app, "Written with Gemma")
    sidebar = app.window.sidebar
    with qtbot.waitSignal(controller.sig_model_ready, timeout=10_000):
        app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(first.id)))
    assert models_app.models.current == models_app.small  # switched back by itself
    # One that would not fit is loaded only when the person says so.
    monkeypatch.setattr(models_ui, "fit_label", lambda *_args: "won't fit")
    asked: list[str] = []
    monkeypatch.setattr(models_ui.QMessageBox, "question",
                        lambda _parent, _title, text, *_args: asked.append(text)
                        or models_ui.QMessageBox.StandardButton.No)
    second = next(s for s in (sidebar.model.summary(r) for r in range(2)) if s.id != first.id)
    with qtbot.waitSignal(controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(second)
    assert asked and "Tiny Gemma" in asked[0]
    assert models_app.models.current == models_app.small  # kept: the person said no


def test_the_thinking_switch_is_kept_per_model_and_reaches_the_load(
        qtbot: QtBot, models_app: ModelsApp) -> None:
    small, gemma = models_app.small, models_app.gemma
    dialog, page = models_app.open_settings(qtbot)
    assert page.thinking.isChecked()  # on by default: the model decides
    page.select_model(gemma.id)
    page.thinking.setChecked(False)
    page.select_model(small.id)
    assert page.thinking.isChecked()  # small's own value came back
    ok(dialog)
    assert saved_models(models_app.settings_path)[gemma.id]["thinking"] is False
    models_app.switch(qtbot, gemma)
    assert models_app.engine().options.thinking is False  # the engine renders it off
