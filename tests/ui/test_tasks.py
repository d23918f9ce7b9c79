"""The task manager: lanes, results on the GUI thread, progress, cancel, and drop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from cove.ui.tasks import Cancelled, Job, Lane, TaskManager


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def test_result_arrives_on_the_gui_thread(qtbot: QtBot, tasks: TaskManager) -> None:
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.current_thread().name
        return 42

    def done(value: int) -> None:
        seen["value"] = value
        seen["gui"] = threading.current_thread()

    tasks.run(work, done, lane=Lane.MODELS)
    qtbot.waitUntil(lambda: "value" in seen, timeout=2_000)
    assert seen["value"] == 42
    assert seen["gui"] is threading.main_thread()
    assert str(seen["worker"]).startswith("cove-models")


def test_errors_go_to_on_error(qtbot: QtBot, tasks: TaskManager) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        raise OSError(28, "No space left on device")

    tasks.run(work, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=2_000)
    assert isinstance(errors[0], OSError) and errors[0].errno == 28
    assert not tasks.busy()


def test_a_lane_runs_its_work_in_order_and_lanes_run_side_by_side(
        qtbot: QtBot, tasks: TaskManager) -> None:
    order: list[int] = []
    release = threading.Event()
    tasks.run(lambda: release.wait(5), lane=Lane.NETWORK)  # a long download
    for n in range(20):
        tasks.run(lambda n=n: order.append(n))
    qtbot.waitUntil(lambda: len(order) == 20, timeout=2_000)  # storage did not wait for it
    assert order == list(range(20))
    assert tasks.busy(Lane.NETWORK) and not tasks.busy(Lane.STORAGE)
    release.set()
    qtbot.waitUntil(lambda: not tasks.busy(), timeout=2_000)


def test_a_started_job_reports_progress_and_stops_when_cancelled(
        qtbot: QtBot, tasks: TaskManager) -> None:
    progress: list[tuple[str, int | None, int | None]] = []
    errors: list[BaseException] = []
    step = threading.Event()

    def work(job: Job) -> str:
        for done in range(1000):
            job.progress("Copying…", done, 1000)
            step.set()
            job.check()
            job.cancel.wait(0.01)
        return "finished"

    task = tasks.start(work, on_done=lambda _r: pytest.fail("it finished"),
                       on_error=errors.append,
                       on_progress=lambda *args: progress.append(args))
    qtbot.waitUntil(lambda: bool(progress), timeout=2_000)
    assert progress[0] == ("Copying…", 0, 1000)
    task.cancel()
    qtbot.waitUntil(lambda: bool(errors), timeout=2_000)
    assert isinstance(errors[0], Cancelled) and not task.running


def test_a_dropped_task_delivers_nothing(qtbot: QtBot, tasks: TaskManager) -> None:
    delivered: list[object] = []
    release = threading.Event()
    task = tasks.run(lambda: release.wait(5), delivered.append, delivered.append,
                     lane=Lane.MODELS)
    task.drop()  # its dialog closed: no waiting, nothing shown
    release.set()
    qtbot.waitUntil(lambda: not tasks.busy(), timeout=2_000)
    assert delivered == []


def test_wait_idle_returns_once_queued_work_has_run(tasks: TaskManager) -> None:
    done: list[int] = []
    for n in range(5):
        tasks.run(lambda n=n: done.append(n))
    tasks.wait_idle(Lane.STORAGE)
    assert done == [0, 1, 2, 3, 4]


def test_after_shutdown_no_work_is_taken(tasks: TaskManager) -> None:
    tasks.shutdown()
    with pytest.raises(RuntimeError):
        tasks.run(lambda: None)
