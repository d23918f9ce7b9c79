"""The About dialog: what a person reads in each tab, with the real llama.cpp and registry."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from cove import __version__
from cove.models.registry import ModelRegistry
from cove.paths import app_paths
from tests.ui.conftest import WindowMaker


def test_help_about_shows_version_build_models_and_licences(
        qtbot: QtBot, make_window: WindowMaker, starter_model: Path) -> None:
    paths = app_paths().ensure()  # the test's own COVE_HOME
    ModelRegistry.for_paths(paths).ensure_starter(starter_model)
    window = make_window()
    window.show_about()
    dialog = window.about_dialog
    qtbot.waitExposed(dialog)
    assert dialog.windowTitle() == "About Cove"
    build = dialog.tab_text("Build")
    assert f"Cove {__version__}" in build
    assert "llama.cpp: llama-cpp-python " in build
    assert "Token loop: compiled (Cove's C sampling extension)." in build
    models = dialog.tab_text("Models")
    assert "SmolLM2" in models and "apache-2.0" in models
    licences = dialog.tab_text("Licences")
    assert "LGPL-3.0" in licences and "replace those libraries" in licences
    assert "llama.cpp and ggml: MIT License" in licences
    assert "cryptography" in licences and "keyring" in licences
    dialog.reject()
    assert not dialog.isVisible()
