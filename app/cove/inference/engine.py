"""The model in use: load by path (llama_cpp.Llama), stream a chat reply with Cove's own
decode loop (inference/decode.py), cancel."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.core.conversation import ReplyStats
from cove.inference.decode import YIELD_INTERVAL_S
from cove.inference.placement import Placement
from cove.models.llama_params import ProgressCallback, context_params, model_params

if TYPE_CHECKING:
    from cove.inference.decode import Decoder, Generation

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
    thinking: bool = True  # False: a template with a thinking switch renders it off

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
    """Iterates over the text chunks of one reply; `stats` is set once it ends.

    The stats count what the loop sampled (`tokens`, end-of-turn excluded), timed from the
    first sampled token to the last, as llama-bench times its tg test.
    """

    def __init__(self, engine: Engine, chunks: Iterator[str], run: Generation,
                 cancel: threading.Event, prompt_tokens: int) -> None:
        self._engine = engine
        self._chunks = chunks
        self._run = run
        self._cancel = cancel
        self._prompt_tokens = prompt_tokens
        self.text = ""
        self.stopped = False
        self.stats: ReplyStats | None = None

    @property
    def tokens(self) -> list[int]:
        """The token ids sampled so far."""
        return self._run.tokens

    @property
    def generation(self) -> Generation:
        """The loop's own record: tokens, their times, how much of the prompt was reused."""
        return self._run

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        first_text: float | None = None
        try:
            for chunk in self._chunks:
                first_text = first_text or time.perf_counter()
                self.text += chunk
                yield chunk
        except Exception as error:
            raise self._engine.explain(error) from None
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # frees the sampler chain now, also when the caller stops early
        ended = time.perf_counter()
        run = self._run
        self.stopped = run.stopped or self._cancel.is_set()
        tokens = len(run.tokens)
        first = run.first_token_at if run.first_token_at is not None else ended
        last = run.last_token_at if run.last_token_at is not None else ended
        rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
        self.stats = ReplyStats(
            model=self._engine.name,
            tokens=tokens,
            seconds=ended - started,
            tokens_per_second=rate,
            ttft_seconds=(first_text or first) - started,
            prompt_tokens=self._prompt_tokens,
        )


# Prompt tokens evaluated per llama_decode call (n_batch) and per compute pass (n_ubatch):
# what llama-bench runs with (-b 512 -ub 512), where its pp figure peaks on a CPU.
PROMPT_BATCH = 512
# A live KV cache that a new prompt would cut by more than this many tokens belongs to
# another conversation (or an edited one): it goes to the state cache first.
STASH_MIN_TOKENS = 64


def chat_formatter(llm: Any) -> Any:
    """The chat formatter llama-cpp-python's create_chat_completion would use for `llm`.

    Its chat handlers wrap a formatter in a closure; the formatter is taken back out, so the
    prompt is rendered exactly as before (the file's template in the sandbox it was compiled
    in at load, or the built-in format), while Cove's loop generates.
    """
    import inspect

    from llama_cpp import llama_chat_format

    handler = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
               or llama_chat_format.get_chat_completion_handler(llm.chat_format))
    formatter = inspect.getclosurevars(handler).nonlocals.get("chat_formatter")
    if formatter is None:
        raise EngineError(f"Cove cannot use the chat format {llm.chat_format!r} of this "
                          "model; choose another model.")
    return formatter


class Engine:
    """Owns one llama_cpp.Llama. Blocking and not thread-safe: one thread uses it at a time."""

    def __init__(self, model_path: str | Path, options: LoadOptions | None = None) -> None:
        self.path = Path(model_path).expanduser()
        self.options = options or LoadOptions()
        self._llm: Any = None
        self._decoder: Decoder | None = None
        from cove.inference.state_cache import StateCache

        self.state_cache = StateCache()  # recent conversations' model states, RAM only
        self.chunk_interval_s = YIELD_INTERVAL_S  # how often a reply's text is handed on
        self._live_key: str | None = None  # the conversation the KV cache holds, if named
        self._formatter: Any = None  # llama-cpp-python's chat formatter for this model
        self.chat_format: str | None = None  # None: the file's own template
        self.chat_format_label = ""
        self.kernels_summary = ""  # which CPU kernels run, and why (cpu_check.CpuKernels)
        self.placement: Placement | None = None  # where the weights live, once loaded

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def memory_summary(self) -> str:
        """Where the weights live, in words (placement.Placement.summary); "" before a load."""
        return self.placement.summary() if self.placement is not None else ""

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
        from cove.models.memory import estimate_ram_bytes

        placement = Placement.for_model(
            estimate_ram_bytes(info.file_size, self.options.n_ctx, info.metadata))

        def progress(value: float) -> bool:
            nonlocal aborted
            placement.advise()  # the weights' buffers exist now, and nothing is read yet
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
        placement.start()
        try:
            # The file's own chat template is compiled and rendered in Cove's budgeted
            # sandbox, so a template that loops or balloons is refused rather than hanging.
            with model_params(progress, extra_buffers=kernels.extra_buffers), \
                    guarded_chat_templates():
                self._llm = Llama(
                    model_path=str(self.path),
                    n_ctx=self.options.n_ctx,
                    n_batch=PROMPT_BATCH,
                    n_ubatch=PROMPT_BATCH,
                    n_threads=self.options.threads(),
                    n_threads_batch=self.options.threads(),
                    n_gpu_layers=self.options.n_gpu_layers,
                    **context_params(self.options.n_gpu_layers),
                    **placement.llama_arguments(),
                    seed=self.options.seed,
                    chat_format=chat_format,
                    verbose=False,
                )
            placement.finish()
            self.placement = placement
            from cove.inference.decode import Decoder

            self._formatter = chat_formatter(self._llm)
            if not self.options.thinking:
                from cove.models.template_guard import set_template_variables

                # Qwen3's template (and others') skips the thinking when told so.
                set_template_variables(self._formatter, {"enable_thinking": False})
            self._decoder = Decoder(self._llm)
        except Exception as error:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
            if aborted:
                raise LoadCancelled("Loading the model was cancelled.") from None
            if isinstance(error, EngineError):
                raise
            log.error("loading %s failed: %s", self.path.name, type(error).__name__)
            raise EngineError(
                f"llama.cpp could not load {self.path.name}. The file may be damaged, "
                "incomplete, or made for a newer llama.cpp; download it again or choose "
                "another model."
            ) from None
        log.info("loaded %s in %.2f s (n_ctx=%d, threads=%d, chat format %s, extra buffers %s, "
                 "%s, %d MB of its %d MB new memory on huge pages)", self.path.name,
                 time.perf_counter() - started, self.options.n_ctx, self.options.threads(),
                 chat_format or "from the file", "on" if kernels.extra_buffers else "off",
                 "read in" if placement.in_ram else "mapped", placement.huge_bytes >> 20,
                 placement.region_bytes >> 20)

    def count_tokens(self, text: str) -> int:
        self._require_loaded()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def fit(self, messages: Sequence[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """The newest part of `messages` that leaves room for a reply of up to max_tokens."""
        from cove.core.budget import Budget, fit_history

        reserve = max(1, min(max_tokens, self.n_ctx // 2))
        return fit_history(messages, self.count_tokens, Budget(self.n_ctx, reserve))

    def stream_chat(self, messages: Sequence[ChatMessage], params: GenerationParams,
                    cancel: threading.Event | None = None,
                    conversation_id: str | None = None) -> ReplyStream:
        """Start a reply with the model's own chat template. Raises EngineError if it cannot.

        `conversation_id` (optional) names the conversation, so its model state is kept apart
        from others'; without it, states are told apart by the tokens they hold."""
        from cove.core.budget import PromptTooLong
        from cove.models.chat_format import NO_SYSTEM_ROLE, fold_system_prompt

        self._require_loaded()
        try:
            fitted = self.fit(messages, params.max_tokens)
            if self.chat_format in NO_SYSTEM_ROLE:
                fitted = fold_system_prompt(fitted)
        except PromptTooLong as error:
            raise EngineError(str(error)) from None
        except Exception as error:  # llama-cpp-python's tokenize error quotes the text
            raise self.explain(error) from None
        from cove.inference.decode import CancelEvent, Generation, Sampling

        cancel = cancel or CancelEvent()
        # Messages that end with the model's own turn ask to continue that reply (it stopped
        # at the length limit): the prompt is the turns before it, then the reply so far.
        so_far = ""
        if len(fitted) > 1 and fitted[-1]["role"] == "assistant":
            so_far, fitted = fitted[-1]["content"], fitted[:-1]
        try:
            prompt, stops, stop_tokens = self.render(fitted)
            if so_far:
                prompt += self._llm.tokenize(so_far.encode("utf-8"), add_bos=False,
                                             special=False)
        except Exception as error:
            raise self.explain(error) from None
        if len(prompt) >= self.n_ctx:
            raise self._context_full()
        seed = params.seed if params.seed is not None else self.options.seed
        sampling = Sampling(params.temperature, params.top_k, params.top_p,
                            params.repeat_penalty, seed)
        run = Generation()
        assert self._decoder is not None
        self._resume(prompt, conversation_id)
        chunks = self._decoder.generate(prompt, sampling, params.max_tokens, stops, cancel,
                                        stop_tokens, run, self.chunk_interval_s)
        return ReplyStream(self, chunks, run, cancel, len(prompt))

    def _resume(self, prompt: Sequence[int], key: str | None) -> None:
        """Before evaluating `prompt`: keep the live state if the prompt would overwrite much
        of it (another conversation), and restore a cached one that shares more of it."""
        from cove.inference.decode import common_prefix
        from cove.inference.state_cache import CachedState

        decoder = self._decoder
        assert decoder is not None
        live = common_prefix(decoder.tokens, prompt)
        cached = self.state_cache.take(prompt, better_than=live)
        other = key is not None and key != self._live_key
        if decoder.tokens and (other or len(decoder.tokens) - live > STASH_MIN_TOKENS):
            data = decoder.snapshot()
            if data is not None:
                self.state_cache.put(CachedState(tuple(decoder.tokens), data, self._live_key))
        if cached is not None:
            if not decoder.restore(cached.tokens, cached.data):
                log.warning("llama.cpp refused a cached state; the prompt is read again")
            cached.erase()
        self._live_key = key

    def wipe_state_cache(self) -> None:
        """Forget every kept conversation state, and the one in the KV cache, overwriting
        their memory (lock, auto-lock, quit)."""
        self.state_cache.wipe()
        if self._decoder is not None:
            self._decoder.clear()
        self._live_key = None

    def render(self, messages: Sequence[ChatMessage]) -> tuple[list[int], list[str],
                                                                 frozenset[int]]:
        """The prompt's tokens, stop strings and stop tokens for `messages`, rendered by
        llama-cpp-python's formatter for this model: the file's template in Cove's budgeted
        sandbox (models/template_guard.py), or the built-in format chosen at load."""
        self._require_loaded()
        result = self._formatter(messages=[dict(m) for m in messages])
        prompt = self._llm.tokenize(result.prompt.encode("utf-8"),
                                    add_bos=not result.added_special, special=True)
        stop = result.stop or []
        stops = [stop] if isinstance(stop, str) else list(stop)
        stop_ids = getattr(self._formatter, "stop_token_ids", None) or ()
        return prompt, stops, frozenset(int(t) for t in stop_ids)

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
        from cove.inference.decode import DecodeError

        if (isinstance(error, DecodeError) and error.full) or \
                (isinstance(error, ValueError) and "exceed context window" in str(error)):
            return self._context_full()
        if type(error).__module__.startswith("jinja2"):
            return EngineError(
                "The model's chat template rejected this conversation. "
                "Start a new conversation or choose another model."
            )
        return EngineError(
            f"The model stopped with an internal error ({type(error).__name__}). "
            "Try again, or load another model."
        )

    def _context_full(self) -> EngineError:
        return EngineError(
            f"The conversation no longer fits in the model's context of {self.n_ctx} "
            "tokens. Shorten the message or start a new conversation.")

    def close(self) -> None:
        """Free the model's memory now rather than at garbage collection."""
        self.wipe_state_cache()
        if self._llm is not None:
            llm, self._llm, self._decoder, self._formatter = self._llm, None, None, None
            llm.close()
            log.info("unloaded %s", self.path.name)

    def _require_loaded(self) -> None:
        if self._llm is None:
            raise EngineError("No model is loaded. Choose a model first.")
