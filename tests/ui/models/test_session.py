"""The ModelsSession: model jobs on the task manager's lanes, their outcomes as signals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.models.registry import ModelRegistry
from cove.ui.models.session import ModelsSession
from cove.ui.tasks import Lane, TaskManager

pytestmark = pytest.mark.real_model


def test_an_import_reports_each_step_then_the_model(
        qtbot: QtBot, tmp_path: Path, starter_model: Path) -> None:
    session = ModelsSession(ModelRegistry(tmp_path / "models.json", tmp_path / "models"))
    steps: list[str] = []
    session.sig_import_progress.connect(lambda step, _done, _total: steps.append(step))
    with qtbot.waitSignal(session.sig_imported, timeout=30_000) as imported:
        assert session.import_file(starter_model, copy=False)
        assert not session.import_file(starter_model, copy=False)  # one at a time
    model, known = imported.args
    assert model.file == starter_model and not known
    assert steps[:2] == [f"Checking {starter_model.name}…",
                         f"Trying {starter_model.name} in a separate process…"]
    assert steps[-1] == f"Taking the fingerprint of {starter_model.name}…"
    assert not session.import_busy
    with qtbot.waitSignal(session.sig_imported, timeout=30_000) as again:
        session.import_file(starter_model, copy=False)
    assert again.args[1] is True  # already installed


def test_a_cancelled_copy_leaves_nothing_and_says_so(
        qtbot: QtBot, tmp_path: Path, starter_model: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    session = ModelsSession(registry)
    session.sig_import_progress.connect(
        lambda step, _done, _total: session.cancel_import() if "Copying" in step else None)
    with qtbot.waitSignal(session.sig_import_failed, timeout=30_000) as failed:
        session.import_file(starter_model, copy=True)
    message, cancelled = failed.args
    assert cancelled and message == (
        f"Adding {starter_model.name} was cancelled; nothing was added.")
    assert registry.models() == []
    assert not list(registry.models_dir.rglob("*.gguf*"))


def test_a_damaged_file_fails_with_its_own_sentence(
        qtbot: QtBot, tmp_path: Path, starter_model: Path) -> None:
    cut = tmp_path / "cut.gguf"
    shutil.copyfile(starter_model, cut)
    with cut.open("r+b") as handle:
        handle.truncate(cut.stat().st_size // 3)
    session = ModelsSession(ModelRegistry(tmp_path / "models.json", tmp_path / "models"))
    with qtbot.waitSignal(session.sig_import_failed, timeout=30_000) as failed:
        session.import_file(cut, copy=True)
    message, cancelled = failed.args
    assert not cancelled and "cut.gguf is incomplete" in message


def test_removing_shares_the_models_lane_with_the_app(
        qtbot: QtBot, tmp_path: Path, starter_model: Path) -> None:
    tasks = TaskManager()
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    model = registry.import_file(starter_model, copy=False)
    session = ModelsSession(registry, tasks)
    with qtbot.waitSignal(session.sig_removed, timeout=10_000) as removed:
        session.remove(model)
        assert tasks.busy(Lane.MODELS) and model.id in session.removing
    assert removed.args == [model.id] and registry.models() == []
    assert starter_model.exists()  # used in place: only the list entry goes
    tasks.shutdown()
