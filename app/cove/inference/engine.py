"""A thin, blocking wrapper around llama_cpp.Llama: load by path, stream a chat reply, cancel."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.core.conversation import ReplyStats
from cove.models.llama_params import ProgressCallback, model_params

log = logging.getLogger(__name__)

ChatMessage = dict[str, str]


class EngineError(Exception):
    """Loading or generation failed; the message tells a person what to do about it."""


class LoadCancelled(EngineError):
    pass


def physical_cores() -> int:
    """Physical CPU cores: llama.cpp's speed scales with them, not with hyper-threads.

    llama-cpp-python's own default (half the logical CPUs) halves speed on a 2-core machine.
    """
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil can fail inside odd containers; fall back below
        cores = None
    return max(1, cores or os.cpu_count() or 1)


@functools.cache
def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can put layers on a GPU (CUDA, Metal, Vulkan, ...).

    Imports llama_cpp; the worker calls it while loading, so the GUI later reads the cache.
    """
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


@dataclass(frozen=True)
class LoadOptions:
    n_ctx: int = 4096
    n_threads: int = 0  # 0: one per physical core
    n_gpu_layers: int = 0
    seed: int = 0xFFFFFFFF  # llama.cpp's "random seed" value
    chat_format: str | None = None  # None: the file's own template, else a built-in by kind
    fast_kernels: str = "auto"  # llama.cpp's extra CPU buffer types: auto (checked), on, off

    def threads(self) -> int:
        return self.n_threads or physical_cores()


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40  # 0: off
    repeat_penalty: float = 1.1  # 1.0: off
    max_tokens: int = 1024
    seed: int | None = None


class ReplyStream:
    """Iterates over the text chunks of one reply; `stats` is set once it ends."""

    def __init__(self, engine: Engine, chunks: Iterator[dict[str, Any]], cancel: threading.Event,
                 prompt_tokens: int) -> None:
        self._engine = engine
        self._chunks = chunks
        self._cancel = cancel
        self._prompt_tokens = prompt_tokens
        self.text = ""
        self.stopped = False
        self.stats: ReplyStats | None = None

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        first: float | None = None
        try:
            for chunk in self._chunks:
                if self._cancel.is_set():
                    self.stopped = True
                    break
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if not delta:
                    continue
                if first is None:
                    first = time.perf_counter()
                self.text += delta
                yield delta
        except Exception as error:
            raise self._engine.explain(error) from None
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # frees llama-cpp-python's generator at once, not at garbage collection
        ended = time.perf_counter()
        try:
            tokens = self._engine.count_tokens(self.text) if self.text else 0
        except Exception as error:
            raise self._engine.explain(error) from None
        first = first if first is not None else ended
        decode = ended - first
        rate = (tokens - 1) / decode if tokens > 1 and decode > 0 else 0.0
        self.stats = ReplyStats(
            model=self._engine.name,
            tokens=tokens,
            seconds=ended - started,
            tokens_per_second=rate,
            ttft_seconds=first - started,
            prompt_tokens=self._prompt_tokens,
        )


class Engine:
    """Owns one llama_cpp.Llama. Blocking and not thread-safe: one thread uses it at a time."""

    def __init__(self, model_path: str | Path, options: LoadOptions | None = None) -> None:
        self.path = Path(model_path).expanduser()
        self.options = options or LoadOptions()
        self._llm: Any = None
        self.chat_format: str | None = None  # None: the file's own template
        self.chat_format_label = ""
        self.kernels_summary = ""  # which CPU kernels run, and why (cpu_check.CpuKernels)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx()) if self._llm is not None else self.options.n_ctx

    def load(self, on_progress: ProgressCallback | None = None) -> None:
        # Imported on the worker thread, at the first load: the window imports this module
        # for its parameters, and shows sooner without the GGUF reader and chat formats.
        from cove.models.chat_format import BUILT_IN_FORMATS, chat_format_for
        from cove.models.gguf import ModelFileError, inspect_gguf
        from cove.models.template_guard import guarded_chat_templates

        try:
            info = inspect_gguf(self.path)  # the whole header, before llama.cpp reads a byte
        except ModelFileError as error:
            raise EngineError(str(error)) from None
        chat_format, self.chat_format_label = chat_format_for(info)
        if self.options.chat_format:
            chat_format = self.options.chat_format
            self.chat_format_label = BUILT_IN_FORMATS.get(chat_format, chat_format)
        self.chat_format = chat_format
        aborted = False

        def progress(value: float) -> bool:
            nonlocal aborted
            keep_going = on_progress(value) if on_progress else True
            aborted = not keep_going
            return keep_going

        try:
            from llama_cpp import Llama
        except ImportError as error:  # a broken install, not the user's file
            raise EngineError(
                f"llama-cpp-python is not usable ({error}). Reinstall Cove with `make run`."
            ) from None
        gpu_offload_supported()  # cached here, off the GUI thread, for the settings dialog
        from cove.inference.cpu_check import shared_check

        # Before llama.cpp first runs in this process: a child tries its fast kernels once
        # per build and CPU, because a CPU that reports AMX may still fault on it (SIGILL).
        kernels = shared_check().kernels(self.path, self.options.fast_kernels)
        if not kernels.usable:
            raise EngineError(kernels.message())
        self.kernels_summary = kernels.summary()
        started = time.perf_counter()
        try:
            # The file's own chat template is compiled and rendered in Cove's budgeted
            # sandbox, so a template that loops or balloons is refused rather than hanging.
            with model_params(progress, extra_buffers=kernels.extra_buffers), \
                    guarded_chat_templates():
                self._llm = Llama(
                    model_path=str(self.path),
                    n_ctx=self.options.n_ctx,
                    n_threads=self.options.threads(),
                    n_threads_batch=self.options.threads(),
                    n_gpu_layers=self.options.n_gpu_layers,
                    seed=self.options.seed,
                    chat_format=chat_format,
                    verbose=False,
                )
        except Exception as error:
            if aborted:
                raise LoadCancelled("Loading the model was cancelled.") from None
            log.error("loading %s failed: %s", self.path.name, type(error).__name__)
            raise EngineError(
                f"llama.cpp could not load {self.path.name}. The file may be damaged, "
                "incomplete, or made for a newer llama.cpp; download it again or choose "
                "another model."
            ) from None
        log.info("loaded %s in %.2f s (n_ctx=%d, threads=%d, chat format %s, extra buffers %s)",
                 self.path.name, time.perf_counter() - started, self.options.n_ctx,
                 self.options.threads(), chat_format or "from the file",
                 "on" if kernels.extra_buffers else "off")

    def count_tokens(self, text: str) -> int:
        self._require_loaded()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def fit(self, messages: Sequence[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """The newest part of `messages` that leaves room for a reply of up to max_tokens."""
        from cove.core.budget import Budget, fit_history

        reserve = max(1, min(max_tokens, self.n_ctx // 2))
        return fit_history(messages, self.count_tokens, Budget(self.n_ctx, reserve))

    def stream_chat(self, messages: Sequence[ChatMessage], params: GenerationParams,
                    cancel: threading.Event | None = None) -> ReplyStream:
        """Start a reply with the model's own chat template. Raises EngineError if it cannot."""
        from cove.core.budget import PromptTooLong
        from cove.models.chat_format import NO_SYSTEM_ROLE, fold_system_prompt

        self._require_loaded()
        try:
            fitted = self.fit(messages, params.max_tokens)
            if self.chat_format in NO_SYSTEM_ROLE:
                fitted = fold_system_prompt(fitted)
            prompt_tokens = sum(self.count_tokens(m["content"]) for m in fitted)
        except PromptTooLong as error:
            raise EngineError(str(error)) from None
        except Exception as error:  # llama-cpp-python's tokenize error quotes the text
            raise self.explain(error) from None
        try:
            chunks = self._llm.create_chat_completion(
                messages=fitted,
                stream=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                repeat_penalty=params.repeat_penalty,
                max_tokens=params.max_tokens,
                seed=params.seed,
            )
        except Exception as error:
            raise self.explain(error) from None
        return ReplyStream(self, iter(chunks), cancel or threading.Event(), prompt_tokens)

    def explain(self, error: Exception) -> EngineError:
        """An error from llama-cpp-python, said in words a person can act on.

        Only the error's type is logged: its message may quote the prompt.
        """
        from cove.models.template_guard import TemplateTooCostly, template_error_message

        log.error("generation failed: %s", type(error).__name__)
        if isinstance(error, EngineError):
            return error
        if isinstance(error, TemplateTooCostly):
            return EngineError(template_error_message(error))
        if isinstance(error, ValueError) and "exceed context window" in str(error):
            return EngineError(
                f"The conversation no longer fits in the model's context of {self.n_ctx} "
                "tokens. Shorten the message or start a new conversation."
            )
        if type(error).__module__.startswith("jinja2"):
            return EngineError(
                "The model's chat template rejected this conversation. "
                "Start a new conversation or choose another model."
            )
        return EngineError(
            f"The model stopped with an internal error ({type(error).__name__}). "
            "Try again, or load another model."
        )

    def close(self) -> None:
        """Free the model's memory now rather than at garbage collection."""
        if self._llm is not None:
            llm, self._llm = self._llm, None
            llm.close()
            log.info("unloaded %s", self.path.name)

    def _require_loaded(self) -> None:
        if self._llm is None:
            raise EngineError("No model is loaded. Choose a model first.")
