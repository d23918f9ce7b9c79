from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from tests.fakes import fake_factory

WindowMaker = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot, tmp_path: Path) -> Iterator[WindowMaker]:
    """Builds a window on a fake engine and waits until its model is ready."""
    windows: list[MainWindow] = []

    def make(load: bool = True, **engine: Any) -> MainWindow:
        factory = engine.pop("factory", None) or fake_factory(**engine)
        controller = ChatController(factory, GenerationParams(max_tokens=64))
        window = MainWindow(controller)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if load:
            model = tmp_path / "fake-model.gguf"
            with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
                controller.load_model(model)
        return window

    yield make
    for window in windows:
        window.controller.shutdown()
