"""LlmWorker: the one object that owns a model, living on its own QThread."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cove.core.conversation import ReplyStats
from cove.inference.decode import CancelEvent
from cove.inference.engine import Engine, EngineError, GenerationParams, LoadCancelled, LoadOptions

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """What the worker needs of an engine; the real one is inference.engine.Engine."""

    name: str
    n_ctx: int  # the context length it was loaded with
    chat_format_label: str  # which chat format it uses, in words
    kernels_summary: str  # which llama.cpp CPU kernels run, in words

    def load(self, on_progress: Callable[[float], bool] | None = None) -> None: ...
    def stream_chat(self, messages: Any, params: GenerationParams,
                    cancel: threading.Event | None = None) -> Any: ...
    def close(self) -> None: ...
    # Optional (fake engines need not have them): stream_chat(..., conversation_id=),
    # wipe_state_cache(), state_cache.set_budget(bytes) and memory_summary (where the
    # weights live, in words); see inference/engine.py.


EngineFactory = Callable[[Path, LoadOptions], EngineLike]


class ModelSignals(QObject):
    """The signals of the worker, declared once: LlmWorker emits them on its thread and
    WorkerHost relays the same set onto the GUI thread."""

    sig_load_progress = Signal(float)
    """Model load progress, 0.0 to 1.0."""
    sig_loaded = Signal(str, int, str, str)
    """A model is ready: its name, context length, the chat format it uses, and which CPU
    kernels run (a sentence from the CPU check)."""
    sig_load_failed = Signal(str)
    """Loading failed; the argument says why in words a person can act on."""
    sig_chunk = Signal(int, str)
    """A piece of the reply being generated for request id (first argument)."""
    sig_finished = Signal(int, object, bool)
    """A reply ended: request id, its ReplyStats, and whether the user stopped it."""
    sig_failed = Signal(int, str)
    """A reply failed: request id and a message a person can act on."""

    RELAYED = ("sig_load_progress", "sig_loaded", "sig_load_failed", "sig_chunk",
               "sig_finished", "sig_failed")


class LlmWorker(ModelSignals):
    """Loads and runs one model at a time (a new load releases the old one first). Lives on
    its own thread.

    The GUI reaches the slots through queued signals only, and learns everything from the
    signals of ModelSignals; `cancel` and `shutdown` are the two thread-safe direct calls.
    """

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        super().__init__()
        self._factory: EngineFactory = engine_factory or Engine
        self._engine: EngineLike | None = None
        self._lock = threading.Lock()
        self._cancelled_upto = 0  # every request id up to this one is cancelled
        self._current: tuple[int, threading.Event] | None = None
        self._shutting_down = threading.Event()
        self._state_cache_bytes: int | None = None  # None: the engine's default budget

    # Thread-safe calls from the GUI thread -----------------------------------------------

    def cancel(self, request_id: int) -> None:
        """Stop request `request_id` (and any earlier one) between two tokens."""
        with self._lock:
            self._cancelled_upto = max(self._cancelled_upto, request_id)
            if self._current and self._current[0] <= request_id:
                self._current[1].set()

    def shutdown(self) -> None:
        """Make every running or queued load and reply stop as soon as it can."""
        self._shutting_down.set()
        with self._lock:
            if self._current:
                self._current[1].set()

    # Slots, run on the worker thread ------------------------------------------------------

    @Slot(str, object)
    def load(self, path: str, options: LoadOptions) -> None:
        self._release()
        if self._shutting_down.is_set():
            return
        engine = self._factory(Path(path), options)
        try:
            engine.load(self._on_load_progress)
        except LoadCancelled:
            return
        except EngineError as error:
            self.sig_load_failed.emit(str(error))
            return
        except Exception as error:  # never let an exception escape into Qt's event loop
            # The type only: a message (and so a traceback) from llama-cpp-python may quote
            # the model's metadata or a prompt, and logs never carry text.
            log.error("unexpected error while loading: %s", type(error).__name__)
            self.sig_load_failed.emit(f"Loading failed unexpectedly ({type(error).__name__}).")
            return
        self._engine = engine
        self._apply_state_cache_budget()
        # How llama.cpp runs it, in words: its CPU kernels, and where the weights live.
        running = [engine.kernels_summary, getattr(engine, "memory_summary", "")]
        self.sig_loaded.emit(engine.name, engine.n_ctx, engine.chat_format_label,
                             "\n".join(line for line in running if line))

    @Slot(int, object, object, str)
    def generate(self, request_id: int, messages: list[dict[str, str]],
                 params: GenerationParams, conversation_id: str = "") -> None:
        cancel = CancelEvent()  # the C token loop reads it without the GIL
        with self._lock:
            if request_id <= self._cancelled_upto or self._shutting_down.is_set():
                cancel.set()
            self._current = (request_id, cancel)
        try:
            if self._engine is None:
                raise EngineError("No model is loaded yet. Wait for it to load, or choose one.")
            if conversation_id:  # an engine that keeps conversation states takes it
                engine: Any = self._engine
                stream = engine.stream_chat(messages, params, cancel,
                                            conversation_id=conversation_id)
            else:
                stream = self._engine.stream_chat(messages, params, cancel)
            for chunk in stream:
                self.sig_chunk.emit(request_id, chunk)
            stats: ReplyStats = stream.stats
            self.sig_finished.emit(request_id, stats, bool(stream.stopped or cancel.is_set()))
        except EngineError as error:
            self.sig_failed.emit(request_id, str(error))
        except Exception as error:
            # The type only: llama-cpp-python's tokenize error quotes the prompt.
            log.error("unexpected error while generating: %s", type(error).__name__)
            self.sig_failed.emit(
                request_id, f"The reply failed unexpectedly ({type(error).__name__}). Try again."
            )
        finally:
            with self._lock:
                self._current = None

    @Slot()
    def wipe_state_cache(self) -> None:
        """Forget the model states kept for recent conversations (they hold the
        conversations in another form): at lock and auto-lock; closing the engine does too."""
        wipe = getattr(self._engine, "wipe_state_cache", None)
        if wipe is not None:
            wipe()

    @Slot(int)
    def set_state_cache_budget_mb(self, megabytes: int) -> None:
        """How much memory the kept conversation states may take, for this model and the
        next ones."""
        self._state_cache_bytes = max(0, megabytes) * 1024 * 1024
        self._apply_state_cache_budget()

    def _apply_state_cache_budget(self) -> None:
        cache = getattr(self._engine, "state_cache", None)
        if cache is not None and self._state_cache_bytes is not None:
            cache.set_budget(self._state_cache_bytes)

    def close_engine(self) -> None:
        """Free the model. Call on the worker thread, or after that thread has finished."""
        if self._engine is not None:
            engine, self._engine = self._engine, None
            engine.close()

    def _release(self) -> None:
        self.close_engine()

    def _on_load_progress(self, value: float) -> bool:
        self.sig_load_progress.emit(value)
        return not self._shutting_down.is_set()


class WorkerHost(ModelSignals):
    """Owns the worker thread (GUI-thread side): sends it requests as queued signals and
    relays its signals, so everything connected here runs on the GUI thread."""

    _sig_load = Signal(str, object)
    _sig_generate = Signal(int, object, object, str)
    _sig_wipe_state_cache = Signal()
    _sig_state_cache_budget = Signal(int)

    def __init__(self, engine_factory: EngineFactory | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = LlmWorker(engine_factory)
        self.thread = QThread()
        self.thread.setObjectName("cove-llm-worker")
        self.worker.moveToThread(self.thread)
        queued = Qt.ConnectionType.QueuedConnection
        self._sig_load.connect(self.worker.load, queued)
        self._sig_generate.connect(self.worker.generate, queued)
        self._sig_wipe_state_cache.connect(self.worker.wipe_state_cache, queued)
        self._sig_state_cache_budget.connect(self.worker.set_state_cache_budget_mb, queued)
        for name in ModelSignals.RELAYED:
            getattr(self.worker, name).connect(getattr(self, name), queued)
        self._next_request = 0
        self.thread.start()

    def load(self, path: str | Path, options: LoadOptions | None = None) -> None:
        self._sig_load.emit(str(path), options or LoadOptions())

    def generate(self, messages: list[dict[str, str]], params: GenerationParams,
                 conversation_id: str = "") -> int:
        """Queue a reply; `conversation_id` (optional) lets the worker keep that
        conversation's model state apart from others'."""
        self._next_request += 1
        self._sig_generate.emit(self._next_request, messages, params, conversation_id)
        return self._next_request

    def wipe_state_cache(self) -> None:
        """Queue forgetting the kept conversation states (after a running reply ends)."""
        self._sig_wipe_state_cache.emit()

    def set_state_cache_budget_mb(self, megabytes: int) -> None:
        self._sig_state_cache_budget.emit(int(megabytes))

    def cancel(self, request_id: int) -> None:
        self.worker.cancel(request_id)

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop the reply, end the thread, free the model. True if the thread ended in time."""
        if not self.thread.isRunning():
            self.worker.close_engine()
            return True
        self.worker.shutdown()
        self.thread.quit()
        ended = bool(self.thread.wait(timeout_ms))
        if ended:
            self.worker.close_engine()
            return True
        log.warning("the worker thread did not stop within %d ms; Cove will exit without it",
                    timeout_ms)
        _keep_until_exit(self.thread, self.worker)
        return False


# Threads that did not stop at shutdown, with their workers. Qt aborts the process when a
# running QThread is destroyed ("QThread: Destroyed while thread ... is still running"), and
# native code (llama.cpp) cannot be interrupted, so they are kept referenced and the process
# ends at exit, before Python's teardown would destroy them.
_STUCK: list[QObject] = []


def _keep_until_exit(thread: QThread, worker: QObject) -> None:
    if not _STUCK:
        atexit.register(_exit_leaving_stuck_threads)
    _STUCK.extend((thread, worker))


def _exit_leaving_stuck_threads() -> None:
    # Status 1: the exit status the app meant is not known here, and a stuck model must not
    # read as success to a script (or a test run) that started Cove.
    sys.stderr.write("Cove: the model was still working when Cove closed; it was stopped.\n")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)
