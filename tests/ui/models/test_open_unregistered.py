"""A file that is not installed is tried in a child process before Cove's own process loads
it (--model, File > Open Model File): once per file, and a crash costs only the child."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams
from cove.models import probe
from cove.models.registry import ModelRegistry
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.models.presenter import ModelsPresenter
from tests.fakes import fake_factory
from tests.hubserver import make_gguf

pytestmark = pytest.mark.real_model


@pytest.fixture
def opened(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[ModelsPresenter, list[object]]]:
    factory = fake_factory()
    controller = ChatController(factory, GenerationParams(max_tokens=16))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    presenter = ModelsPresenter(window, registry)
    window.show()
    yield presenter, factory.made  # the engines Cove's own process was asked to load
    window.close()


def count_children(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    started: list[Path] = []
    real = probe._probe_command

    def command(path: Path, *flags: str) -> list[str]:
        started.append(path)
        return real(path, *flags)

    monkeypatch.setattr(probe, "_probe_command", command)
    return started


def test_a_file_llama_cpp_cannot_load_never_reaches_the_app(
        qtbot: QtBot, opened: tuple[ModelsPresenter, list[object]], tmp_path: Path) -> None:
    presenter, engines = opened
    fake = tmp_path / "not-a-model.gguf"
    fake.write_bytes(make_gguf())  # a sound header, but no model llama.cpp can build
    with qtbot.waitSignal(presenter.controller.sig_model_failed, timeout=60_000) as failed:
        presenter.window.sig_model_file_chosen.emit(fake)
    assert "llama.cpp could not load not-a-model.gguf" in failed.args[0]
    assert engines == []
    assert presenter.window.model_label.text() == "No model loaded"


def test_a_file_that_crashes_llama_cpp_costs_the_child_only(
        qtbot: QtBot, opened: tuple[ModelsPresenter, list[object]], tmp_path: Path,
        starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    presenter, engines = opened
    hostile = tmp_path / "hostile.gguf"
    shutil.copyfile(starter_model, hostile)
    # What a header with block_count = 2^31 does to llama.cpp: it aborts the process.
    monkeypatch.setattr(probe, "_probe_command", lambda path, *flags: [
        sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"])
    with qtbot.waitSignal(presenter.controller.sig_model_failed, timeout=60_000) as failed:
        presenter.load_path(hostile)
    assert "llama.cpp crashed on it (signal 6, SIGABRT)" in failed.args[0]
    assert engines == []


def test_a_file_that_passed_is_not_tried_again_and_a_loaded_model_stays_on_refusal(
        qtbot: QtBot, opened: tuple[ModelsPresenter, list[object]], tmp_path: Path,
        starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    presenter, engines = opened
    copy = tmp_path / "copy-of-the-starter.gguf"
    shutil.copyfile(starter_model, copy)
    children = count_children(monkeypatch)
    with qtbot.waitSignal(presenter.controller.sig_model_ready, timeout=60_000):
        presenter.load_path(copy)
    assert children == [copy.resolve()] and len(engines) == 1
    with qtbot.waitSignal(presenter.controller.sig_model_ready, timeout=60_000):
        presenter.load_path(copy)  # the same file: its hash passed already
    assert len(children) == 1 and len(engines) == 2

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all" * 100)
    presenter.load_path(bad)
    qtbot.waitUntil(lambda: presenter.window.banner.isVisible(), timeout=10_000)
    assert "bad.gguf is not a GGUF model file" in presenter.window.banner.label.text()
    assert presenter.controller.ready  # the model in use was not unloaded for it
