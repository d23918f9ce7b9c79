"""Background work for the GUI: one task manager with a lane per kind of work, results on the
GUI thread, progress and cancel built in.

Modelled on Anki's QueryOp: `tasks.run(fn, on_done, on_error, lane=...)`. Each lane is one
worker thread, so work in a lane never runs concurrently: the encrypted history (STORAGE),
the model registry and model files (MODELS: hashing, importing, probing, removing),
downloads (NETWORK), and the notes' in-memory indexes (INDEX: their build, updates and
queries, which with thousands of long notes take seconds that must not hold up STORAGE).
Work that wants to report progress or be cancelled is started with `tasks.start(fn, ...)`
and receives a `Job`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")


class Lane(StrEnum):
    STORAGE = "storage"
    MODELS = "models"
    NETWORK = "network"
    INDEX = "index"


class Cancelled(Exception):
    """Raised inside a job by `Job.check()` once its task was cancelled."""


class Job:
    """What a started function gets: a cancel flag to check and a way to report progress.

    Both are safe to use from the lane's thread; progress reaches `on_progress` on the GUI
    thread.
    """

    def __init__(self, relay: _Relay, task: Task) -> None:
        self._relay = relay
        self._task = task
        self.cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def progress(self, text: str, done: int | None = None, total: int | None = None) -> None:
        self._relay.sig_progress.emit(self._task, text, done, total)


class Task:
    """A handle on one piece of background work."""

    def __init__(self, lane: Lane, on_done: Callable[[Any], Any] | None,
                 on_error: Callable[[BaseException], Any] | None,
                 on_progress: Callable[[str, int | None, int | None], Any] | None) -> None:
        self.lane = lane
        self.on_done = on_done
        self.on_error = on_error
        self.on_progress = on_progress
        self.future: Future[Any] | None = None
        self.job: Job | None = None
        self.dropped = False  # its owner went away: nothing is delivered

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()

    def cancel(self) -> None:
        """Ask the work to stop (a started job sees it; queued work does not start)."""
        if self.job is not None:
            self.job.cancel.set()
        if self.future is not None:
            self.future.cancel()

    def drop(self) -> None:
        """Cancel, and deliver nothing more: for an owner that is going away."""
        self.dropped = True
        self.cancel()


class _Relay(QObject):
    """Carries results and progress from the lanes' threads to the GUI thread."""

    sig_done = Signal(object)
    sig_progress = Signal(object, str, object, object)


class TaskManager(QObject):
    """The app's one place for background work. Create one, hand it to the presenters and
    sessions that need it, shut it down when the window has closed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lanes = {lane: ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=f"cove-{lane.value}")
                       for lane in Lane}
        self._relay = _Relay()
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.sig_done.connect(self._deliver, queued)
        self._relay.sig_progress.connect(self._progress, queued)
        self._pending: dict[Lane, int] = dict.fromkeys(Lane, 0)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether shutdown() has run: run() and start() then raise RuntimeError."""
        return self._closed

    def busy(self, lane: Lane | None = None) -> bool:
        """Whether work is queued or running (in `lane`, or anywhere)."""
        if lane is not None:
            return self._pending[lane] > 0
        return any(self._pending.values())

    def run(self, fn: Callable[[], T], on_done: Callable[[T], Any] | None = None,
            on_error: Callable[[BaseException], Any] | None = None, *,
            lane: Lane = Lane.STORAGE) -> Task:
        """Run fn() in `lane`; on_done(result) or on_error(error) on the GUI thread."""
        return self._submit(lambda _job: fn(), on_done, on_error, None, lane)

    def start(self, fn: Callable[[Job], T], on_done: Callable[[T], Any] | None = None,
              on_error: Callable[[BaseException], Any] | None = None, *,
              on_progress: Callable[[str, int | None, int | None], Any] | None = None,
              lane: Lane = Lane.MODELS) -> Task:
        """Run fn(job) in `lane`: it may call job.progress(...) and should call job.check()
        (or look at job.cancel) between steps. A cancelled job's on_error gets Cancelled or
        whatever the function raised on seeing the flag."""
        return self._submit(fn, on_done, on_error, on_progress, lane)

    def wait_idle(self, lane: Lane) -> None:
        """Block until what `lane` holds now has run (the history, before its file closes)."""
        if not self._closed:
            self._lanes[lane].submit(lambda: None).result()

    def shutdown(self, wait: bool = True) -> None:
        """Take no more work; finish (or, with wait=False, abandon) what is running."""
        self._closed = True
        for executor in self._lanes.values():
            executor.shutdown(wait=wait, cancel_futures=True)

    def _submit(self, fn: Callable[[Job], Any], on_done: Any, on_error: Any, on_progress: Any,
                lane: Lane) -> Task:
        if self._closed:
            raise RuntimeError("the task manager is shut down")
        task = Task(lane, on_done, on_error, on_progress)
        job = task.job = Job(self._relay, task)
        self._pending[lane] += 1
        task.future = self._lanes[lane].submit(fn, job)
        task.future.add_done_callback(lambda _future: self._relay.sig_done.emit(task))
        return task

    def _deliver(self, task: Task) -> None:
        self._pending[task.lane] -= 1
        if self._closed or task.dropped:
            return
        future = task.future
        assert future is not None
        if future.cancelled():
            error: BaseException | None = Cancelled()
        else:
            error = future.exception()
        if error is None:
            if task.on_done is not None:
                task.on_done(future.result())
            return
        if task.on_error is not None:
            task.on_error(error)
        elif not isinstance(error, Cancelled):
            log.error("background task failed: %s", type(error).__name__)

    def _progress(self, task: Task, text: str, done: object, total: object) -> None:
        if not (self._closed or task.dropped) and task.on_progress is not None:
            task.on_progress(text, done, total)  # type: ignore[arg-type]

