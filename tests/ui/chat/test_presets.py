"""A conversation's own preset, system prompt and sampling; the library of presets."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QInputDialog
from pytestqt.qtbot import QtBot

from cove.core.presets import BUILT_IN, ConversationSettings, Preset
from cove.ui.chat.presets import PRESETS, PresetsPresenter
from tests.apphelpers import Opened, Opener, chat, set_up_with_passphrase


def with_presets(qtbot: QtBot, open_app: Opener) -> tuple[Opened, PresetsPresenter]:
    app = open_app()
    presets = PresetsPresenter(app.window, app.session)
    set_up_with_passphrase(qtbot, app)
    return app, presets


def test_a_preset_chosen_for_a_new_chat_is_its_system_prompt_and_is_kept(
        qtbot: QtBot, open_app: Opener) -> None:
    app, presets = with_presets(qtbot, open_app)
    app.window.controller.configure(system_prompt="The model's own default.")
    presets.choose("Concise")
    assert presets.button.text() == "Concise"
    chat(qtbot, app, "What is a lighthouse?")
    engine = app.factory.made[-1]
    concise = next(p for p in BUILT_IN if p.name == "Concise")
    assert engine.seen[-1][0] == {"role": "system", "content": concise.system_prompt}
    # Another conversation keeps the model's default; coming back keeps the preset.
    conversation_id = app.window.controller.model.conversation.id
    app.window.new_conversation()
    assert presets.button.text() == "No preset"
    chat(qtbot, app, "Another chat")
    assert engine.seen[-1][0]["content"] == "The model's own default."
    sidebar = app.window.sidebar
    with qtbot.waitSignal(app.window.controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(
            conversation_id)))
    assert app.window.controller.model.conversation.settings.preset == "Concise"
    assert presets.button.text() == "Concise"


def test_own_prompt_sampling_and_a_saved_preset_through_the_dialog(
        qtbot: QtBot, open_app: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    app, presets = with_presets(qtbot, open_app)
    dialog = presets.open_dialog()
    qtbot.addWidget(dialog)
    dialog.prompt.setPlainText("Answer like a pirate.")
    dialog.temperature.setValue(0.3)
    dialog.max_tokens.setValue(200)
    monkeypatch.setattr(QInputDialog, "getText", lambda *_args: ("Pirate", True))
    dialog.save_button.click()
    dialog.accept()
    settings = app.window.controller.model.conversation.settings
    assert (settings.preset, settings.temperature, settings.max_tokens) == ("Pirate", 0.3, 200)
    chat(qtbot, app, "Hello")
    engine = app.factory.made[-1]
    assert engine.seen[-1][0]["content"] == "Answer like a pirate."
    assert engine.params_seen[-1].temperature == 0.3
    assert engine.params_seen[-1].max_tokens == 200
    store = app.session.store
    assert store is not None
    qtbot.waitUntil(lambda: store.load_preference(PRESETS) is not None, timeout=5_000)
    record = store.load_preference(PRESETS)
    assert record == {"presets": [{"name": "Pirate", "system_prompt": "Answer like a pirate."}]}
    assert [p.name for p in presets.presets][-1] == "Pirate"


def test_settings_round_trip_and_junk_is_the_default() -> None:
    settings = ConversationSettings(preset="Concise", temperature=0.2, max_tokens=64)
    assert ConversationSettings.from_json(settings.to_json()) == settings
    assert ConversationSettings().to_json() == ""  # nothing stored for most conversations
    assert ConversationSettings.from_json('{"temperature": "hot", "preset": 3}') == \
        ConversationSettings()
    own = ConversationSettings(system_prompt="Mine")
    assert own.system_prompt_for([Preset("A", "a")], "default") == "Mine"
    assert ConversationSettings(preset="A").system_prompt_for([Preset("A", "a")], "d") == "a"
