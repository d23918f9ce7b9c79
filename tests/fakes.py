"""A fake engine for fast UI tests; the paths that matter are also tested with the real model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cove.core.conversation import ReplyStats
from cove.inference.engine import EngineError, GenerationParams, LoadOptions


class FakeStream:
    def __init__(self, chunks: list[str], delay: float, cancel: threading.Event,
                 name: str) -> None:
        self._chunks = chunks
        self._delay = delay
        self._cancel = cancel
        self._name = name
        self.text = ""
        self.stopped = False
        self.stats: ReplyStats | None = None

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        for chunk in self._chunks:
            if self._cancel.is_set():
                self.stopped = True
                break
            if self._delay:
                time.sleep(self._delay)
            self.text += chunk
            yield chunk
        seconds = time.perf_counter() - started
        count = len(self.text.split())
        self.stats = ReplyStats(self._name, count, seconds,
                                count / seconds if seconds else 0.0, 0.001)


class FakeEngine:
    """Replies with fixed chunks; can be told to fail at load or at generation."""

    def __init__(self, path: Path, options: LoadOptions, *, chunks: list[str] | None = None,
                 delay: float = 0.0, load_error: str = "", generate_error: str = "") -> None:
        self.path = path
        self.name = path.stem
        self.options = options
        self.n_ctx = options.n_ctx
        self.chat_format_label = ""
        self.kernels_summary = ""
        self.chunks = chunks if chunks is not None else ["Hello", " from", " the", " fake."]
        self.delay = delay
        self.load_error = load_error
        self.generate_error = generate_error
        self.closed = False
        self.seen: list[list[dict[str, str]]] = []
        self.params_seen: list[GenerationParams] = []
        self.conversations_seen: list[str] = []  # the conversation id of each request

    def load(self, on_progress: Callable[[float], bool] | None = None) -> None:
        if self.load_error:
            raise EngineError(self.load_error)
        for value in (0.0, 0.5, 1.0):
            if on_progress and not on_progress(value):
                return

    def stream_chat(self, messages: Any, params: GenerationParams,
                    cancel: threading.Event | None = None,
                    conversation_id: str = "") -> FakeStream:
        if self.generate_error:
            raise EngineError(self.generate_error)
        self.seen.append(list(messages))
        self.conversations_seen.append(conversation_id)
        self.params_seen.append(params)
        return FakeStream(self.chunks, self.delay, cancel or threading.Event(), self.name)

    def close(self) -> None:
        self.closed = True


def fake_factory(**kwargs: Any) -> Callable[[Path, LoadOptions], FakeEngine]:
    """An engine factory for LlmWorker; the engines it made are in factory.made."""
    made: list[FakeEngine] = []

    def factory(path: Path, options: LoadOptions) -> FakeEngine:
        engine = FakeEngine(path, options, **kwargs)
        made.append(engine)
        return engine

    factory.made = made  # type: ignore[attr-defined]
    return factory
