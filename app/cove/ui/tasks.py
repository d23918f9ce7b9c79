"""Background work for the GUI: run a function off the GUI thread, get the result back on it.

Modelled on Anki's QueryOp: `tasks.run(fn, on_done, on_error)`. Storage work goes through one
single-worker executor, so database calls never run concurrently; other slow calls (key
derivation, keyring) may use their own executor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Relay(QObject):
    """Carries a finished future from the executor's thread to the GUI thread."""

    sig_done = Signal(object, object, object)


class TaskRunner(QObject):
    """Runs callables on a background executor and calls back on the GUI thread."""

    def __init__(self, name: str, workers: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._relay = _Relay()
        self._relay.sig_done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._pending = 0
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def run(self, fn: Callable[[], T], on_done: Callable[[T], Any] | None = None,
            on_error: Callable[[BaseException], Any] | None = None) -> Future[T]:
        """Run fn() in the background; on_done(result) or on_error(error) on the GUI thread."""
        if self._closed:
            raise RuntimeError("task runner is shut down")
        self._pending += 1
        future = self._executor.submit(fn)
        future.add_done_callback(
            lambda done: self._relay.sig_done.emit(done, on_done, on_error)
        )
        return future

    def _deliver(self, future: Future[Any], on_done: Any, on_error: Any) -> None:
        self._pending -= 1
        if self._closed:
            return
        error = future.exception()
        if error is None:
            if on_done is not None:
                on_done(future.result())
            return
        if on_error is not None:
            on_error(error)
        else:
            log.error("background task failed: %s", type(error).__name__)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; finish (or, with wait=False, abandon) what is running."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
