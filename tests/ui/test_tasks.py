from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from cove.ui.tasks import TaskRunner


def test_result_arrives_on_the_gui_thread(qtbot: QtBot) -> None:
    runner = TaskRunner("test")
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.current_thread()
        return 42

    def done(value: int) -> None:
        seen["value"] = value
        seen["gui"] = threading.current_thread()

    runner.run(work, done)
    qtbot.waitUntil(lambda: "value" in seen, timeout=2_000)
    assert seen["value"] == 42
    assert seen["gui"] is threading.main_thread()
    assert seen["worker"] is not threading.main_thread()
    runner.shutdown()


def test_errors_go_to_on_error(qtbot: QtBot) -> None:
    runner = TaskRunner("test")
    errors: list[BaseException] = []

    def work() -> None:
        raise OSError(28, "No space left on device")

    runner.run(work, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=2_000)
    assert isinstance(errors[0], OSError) and errors[0].errno == 28
    assert not runner.busy
    runner.shutdown()


def test_single_worker_runs_tasks_in_order(qtbot: QtBot) -> None:
    runner = TaskRunner("test")
    order: list[int] = []
    for n in range(20):
        runner.run(lambda n=n: order.append(n))
    qtbot.waitUntil(lambda: len(order) == 20, timeout=2_000)
    assert order == list(range(20))
    runner.shutdown()
    with pytest.raises(RuntimeError):
        runner.run(lambda: None)
