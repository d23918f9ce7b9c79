"""Trying a model file in llama.cpp inside a child process, so a hostile file cannot crash Cove."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.models.gguf import ModelFileError, check_gguf_file, inspect_gguf

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
# A frozen app's sys.executable is Cove itself, not Python: the entry point must hand
# `Cove PROBE_FLAG PATH` to child_main() before anything else starts (no Qt, no logging).
PROBE_FLAG = "--cove-probe-model"
# The child's answer is the one stdout line starting with this, so anything llama.cpp prints
# to stdout cannot be mistaken for it.
RESULT_MARKER = "COVE-PROBE-RESULT "
# Fixed prompts: the probe never sees anything a person typed. The CPU check's is long
# enough that the prompt is evaluated as a batch, where llama.cpp uses its matrix kernels
# (AMX tiles among them), not only the one-row path of generating a token.
_PROBE_PROMPT = "Hello"
_CPU_CHECK_PROMPT = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with "
    "a single step. All that glitters is not gold. Actions speak louder than words. Where "
    "there is a will, there is a way. Knowledge is power, and practice makes perfect."
)
# Child flags: the load and decode the CPU check wants (see cove.inference.cpu_check).
NO_EXTRA_BUFFERS_FLAG = "--no-extra-buffers"
CPU_CHECK_FLAG = "--cpu-check"
_PROBE_CTX = 256
_POLL_S = 0.1  # how often the parent looks at the cancel flag while the child works
_STDERR_TAIL = 2000  # characters of the child's stderr kept for diagnosis, never shown
# The child's resource limits. Rendering the template: a hostile one costs at most this much
# more address space and CPU time. Loading: the file twice over (mapped, and perhaps copied
# for repacked kernels) plus room for llama.cpp's buffers, each thread's stack and malloc
# arena, and CPU time enough for a slow disk; the parent's time limit still applies.
_TEMPLATE_MEMORY = 512 * 2**20
_TEMPLATE_CPU_S = 5
_LOAD_MEMORY_BASE = 3 * 2**30
_MEMORY_PER_THREAD = 160 * 2**20
_LOAD_CPU_S_PER_THREAD = 120


class ProbeCancelled(Exception):
    """The cancel flag was set; the child was stopped and nothing is known about the file."""


class ProbeFailed(ModelFileError):
    """llama.cpp could not use the file (or crashed on it); the message says what to do.

    `exit_code` is the child's return code (negative: the signal that ended it; None: it was
    stopped after the time limit); `detail` is the tail of its stderr, for the log or a bug
    report, never for the person.
    """

    def __init__(self, message: str, *, exit_code: int | None, detail: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.detail = detail


@dataclass(frozen=True)
class ProbeResult:
    """llama.cpp loaded the file in a child process and generated one token with it."""

    path: Path
    architecture: str
    n_vocab: int
    context_length: int | None  # what the file says it was trained for
    seconds: float  # the child's whole life: start, header check, load, one token, exit


def probe_model_file(
    path: str | os.PathLike[str],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    cancel: threading.Event | None = None,
    extra_buffers: bool = True,
    cpu_check: bool = False,
) -> ProbeResult:
    """Load `path` with llama.cpp in a separate process and generate one token.

    The first load of a file from outside (an import) runs here rather than in the app, so a
    file that makes llama.cpp crash, hang or run out of memory costs a child process, not
    Cove. Raises ModelFileError (ProbeFailed when the child failed, crashed or timed out) with
    a message a person can act on, ProbeCancelled when `cancel` is set. Blocking: call it off
    the GUI thread.

    `extra_buffers=False` loads without llama.cpp's extra CPU buffer types, as Cove does on a
    CPU that faulted on them; `cpu_check` decodes a longer prompt on every core, as the CPU
    check needs.
    """
    path = check_gguf_file(Path(path)).resolve()  # missing file, folder, not GGUF: no child needed
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            _probe_command(path, *_child_flags(extra_buffers, cpu_check)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_environment(),
            # A console window would flash up on Windows for the child of a GUI app.
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as error:
        raise ModelFileError(
            f"Cove could not start a separate process to try {path.name} "
            f"({error.strerror or error}). Restart Cove and try again."
        ) from error
    deadline = started + timeout_s
    while True:
        try:
            stdout, stderr = process.communicate(
                timeout=max(0.0, min(_POLL_S, deadline - time.monotonic()))
            )
            break
        except subprocess.TimeoutExpired:
            # communicate() may be called again after a timeout without losing output.
            if cancel is not None and cancel.is_set():
                _stop(process)
                raise ProbeCancelled from None
            if time.monotonic() >= deadline:
                _, stderr = _stop(process)
                log.warning("model probe timed out after %.0f s", timeout_s)
                raise ProbeFailed(
                    f"Cove tried {path.name} in a separate process and gave up after "
                    f"{timeout_s:g} seconds: llama.cpp did not finish loading it. The file may "
                    "be damaged, or too large for this computer's memory.",
                    exit_code=None,
                    detail=_tail(stderr),
                ) from None
    return _interpret(path, process.returncode, stdout, stderr, time.monotonic() - started)


def _child_flags(extra_buffers: bool, cpu_check: bool) -> list[str]:
    return ([] if extra_buffers else [NO_EXTRA_BUFFERS_FLAG]) + (
        [CPU_CHECK_FLAG] if cpu_check else [])


def _probe_command(path: Path, *flags: str) -> list[str]:
    """The child's command line (tests replace this to make a child that hangs or crashes)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, PROBE_FLAG, *flags, str(path)]
    # -I: no user site-packages, no PYTHON* variables, no current folder on sys.path, so
    # nothing beside the model file can be imported in its place. Cove's own folder is put
    # back explicitly, which also covers running from a source checkout.
    package_root = str(Path(__file__).resolve().parents[2])
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from cove.models.probe import child_main; sys.exit(child_main(sys.argv[2:]))"
    )
    return [sys.executable, "-I", "-c", code, package_root, *flags, str(path)]


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The child has no business on the network, whatever the parent's mode.
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.kill()
    stdout, stderr = process.communicate()
    return stdout or "", stderr or ""


def _tail(text: str | None) -> str:
    return (text or "")[-_STDERR_TAIL:]


def _interpret(
    path: Path, returncode: int, stdout: str, stderr: str, seconds: float
) -> ProbeResult:
    answer = _find_answer(stdout)
    detail = _tail(stderr)
    if returncode == 0 and answer is not None and answer.get("ok") is True:
        try:
            return ProbeResult(
                path=path,
                architecture=str(answer["architecture"]),
                n_vocab=_required_int(answer.get("n_vocab")),
                context_length=_optional_int(answer.get("context_length")),
                seconds=seconds,
            )
        except (KeyError, TypeError, ValueError):
            answer = None  # fall through: an answer Cove cannot read is a failure
    if answer is not None and answer.get("ok") is False:
        log.info(
            "model probe: the file was refused at the %s step (%s)",
            answer.get("stage"),
            answer.get("error", "header check"),
        )
        raise ProbeFailed(_failure_message(path, answer), exit_code=returncode, detail=detail)
    if returncode < 0:
        number = -returncode
        log.warning("model probe: the child was ended by signal %d", number)
        if number == getattr(signal, "SIGKILL", 9):
            raise ProbeFailed(
                f"Cove tried {path.name} in a separate process and the system stopped it "
                f"(signal {number}), most likely because it ran out of memory. The model may "
                "be too large for this computer; choose a smaller one.",
                exit_code=returncode,
                detail=detail,
            )
        raise ProbeFailed(
            f"Cove tried {path.name} in a separate process and llama.cpp crashed on it "
            f"(signal {number}{_signal_name(number)}). The file is damaged or made for a "
            "different program.",
            exit_code=returncode,
            detail=detail,
        )
    log.warning("model probe: the child exited with code %d and no answer", returncode)
    raise ProbeFailed(
        f"Cove tried {path.name} in a separate process and llama.cpp stopped without an answer "
        f"(exit code {returncode}). The file is damaged or made for a different program.",
        exit_code=returncode,
        detail=detail,
    )


def _required_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


def _optional_int(value: object) -> int | None:
    return None if value is None else _required_int(value)


def _find_answer(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                answer = json.loads(line[len(RESULT_MARKER) :])
            except ValueError:
                return None
            return answer if isinstance(answer, dict) else None
    return None


def _failure_message(path: Path, answer: dict[str, object]) -> str:
    stage = answer.get("stage")
    if stage == "header":
        # inspect_gguf's own sentence, already written for people.
        return str(answer.get("message") or f"{path.name} is not a usable GGUF model file.")
    if stage == "load":
        return (
            f"llama.cpp could not load {path.name} (tried in a separate process). The file may "
            "be damaged or incomplete, made for a different program, or need a newer Cove."
        )
    if stage == "generate":
        return (
            f"llama.cpp loaded {path.name} but could not generate text with it (tried in a "
            "separate process). The file is damaged or not a text-generation model."
        )
    if stage == "template":
        if answer.get("error") == "size":
            return (f"The chat template in {path.name} tried to build text too large to "
                    "render (tried in a separate process); choose another model.")
        return (f"The chat template in {path.name} took too long to render (tried in a "
                "separate process); choose another model.")
    if stage == "import":
        return (
            "Cove could not start llama.cpp in a separate process to try the file. "
            "Reinstall Cove and try again."
        )
    return f"Cove could not try {path.name} in a separate process. Try again."


def _signal_name(number: int) -> str:
    try:
        return f", {signal.Signals(number).name}"
    except ValueError:
        return ""


# -- the child -------------------------------------------------------------------------------


def child_main(argv: Sequence[str]) -> int:
    """Run in the child: check the header, render the chat template, load the file, generate
    one token, print the answer.

    Prints exactly one RESULT_MARKER line. A crash inside llama.cpp prints nothing and ends
    the process by a signal, which the parent reports.
    """
    from cove.privacy.core_dumps import no_core_dumps
    from cove.privacy.guard import guard

    guard().install()  # the child has no business on the network, loopback included
    no_core_dumps()  # the CPU check's child may die by SIGILL: no core file for it either
    flags, path_args = set(argv[:-1]), argv[-1:]
    if not path_args or flags - {NO_EXTRA_BUFFERS_FLAG, CPU_CHECK_FLAG}:
        print(f"usage: child_main([{NO_EXTRA_BUFFERS_FLAG}] [{CPU_CHECK_FLAG}] PATH)",
              file=sys.stderr)
        return 2
    path = path_args[0]
    cpu_check = CPU_CHECK_FLAG in flags
    try:
        info = inspect_gguf(path)
    except ModelFileError as error:
        return _answer({"ok": False, "stage": "header", "message": str(error)})
    if info.chat_template:
        refused = _check_template(info.chat_template)
        if refused is not None:
            return _answer({"ok": False, "stage": "template", "error": refused})
    try:
        import llama_cpp

        from cove.models.llama_params import context_params, model_params
        from cove.models.template_guard import guarded_chat_templates
    except Exception as error:
        return _answer({"ok": False, "stage": "import", "error": type(error).__name__})
    # One thread for an import's probe: it needs a single token, and the app may be busy
    # generating with another model on the other cores. The CPU check runs as the app will.
    threads = (os.cpu_count() or 1) if cpu_check else 1
    _limit_resources(
        # A GPU runtime reserves far more address space than it uses: no cap there.
        memory=None if llama_cpp.llama_supports_gpu_offload() else _load_memory(path, threads),
        cpu_seconds=_LOAD_CPU_S_PER_THREAD * threads,
        stage="load",
        final=True,
    )
    try:
        with model_params(extra_buffers=NO_EXTRA_BUFFERS_FLAG not in flags), \
                guarded_chat_templates():
            llm = llama_cpp.Llama(
                model_path=path,
                n_ctx=_PROBE_CTX,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
                vocab_only=False,
                **context_params(),  # the kernels the app's contexts run, checked here first
            )
    except Exception as error:
        return _answer({"ok": False, "stage": "load", "error": type(error).__name__})
    try:
        llm.create_completion(_CPU_CHECK_PROMPT if cpu_check else _PROBE_PROMPT,
                              max_tokens=2 if cpu_check else 1, temperature=0.0)
        answer: dict[str, object] = {
            "ok": True,
            "architecture": info.architecture,
            "n_vocab": int(llm.n_vocab()),
            "context_length": info.context_length,
        }
    except Exception as error:
        answer = {"ok": False, "stage": "generate", "error": type(error).__name__}
    finally:
        llm.close()
    return _answer(answer)


def _check_template(template: str) -> str | None:
    """Render the file's chat template once, as the app would, under the same budget and
    under tight process limits; "time" or "size" if it ran past them, else None.

    A template that refuses the sample (some will not take a system message) or does not
    compile is not refused here: llama.cpp's load and the app report those.
    """
    from cove.models.template_guard import (
        SAMPLE_CONVERSATION,
        TemplateTooCostly,
        render_chat_template,
    )

    _limit_resources(memory=_TEMPLATE_MEMORY, cpu_seconds=_TEMPLATE_CPU_S, stage="template")
    without_system = tuple(m for m in SAMPLE_CONVERSATION if m["role"] != "system")
    try:
        for sample in (SAMPLE_CONVERSATION, without_system):
            try:
                render_chat_template(template, sample)
                break
            except (TemplateTooCostly, MemoryError, RecursionError):
                raise
            except Exception:
                continue
    except TemplateTooCostly as error:
        return error.reason
    except MemoryError:
        return "size"
    except RecursionError:
        return "time"
    return None


def _load_memory(path: str, threads: int) -> int:
    """Address space a load may add: the file (mapped, and perhaps copied) and room for
    llama.cpp's buffers and each thread's stack and heap arena."""
    return 2 * os.path.getsize(path) + _LOAD_MEMORY_BASE + threads * _MEMORY_PER_THREAD


def _limit_resources(*, memory: int | None, cpu_seconds: int, stage: str,
                     final: bool = False) -> None:
    """Cap what the child may use from now on: `memory` bytes more address space (None: no
    cap) and `cpu_seconds` more CPU time, naming `stage` in the answer if the CPU time runs
    out. Soft limits, so a later step may widen them (nothing the child runs, Jinja's sandbox
    or llama.cpp, can call setrlimit); `final` also sets the hard CPU limit a little above.

    Running out of CPU time is answered as a refusal (exit 0), never as a death by signal:
    the CPU check takes a child ended by a signal for a CPU that faults on llama.cpp's
    kernels. Stuck in native code, where no Python handler runs, the child meets the hard
    limit (SIGKILL, which the check ignores) or the parent's time limit.
    """
    try:
        import resource
    except ImportError:  # Windows: the parent's time limit is the only bound
        return
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, lambda number, frame: _out_of_time(stage))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    limit = int(usage.ru_utime + usage.ru_stime) + 1 + cpu_seconds
    _soft_limit(resource, resource.RLIMIT_CPU, limit, hard=limit + 10 if final else None)
    in_use = _address_space()
    # Address-space limits are reliable on Linux only (macOS ignores them for mmap).
    if sys.platform.startswith("linux") and in_use is not None:
        _soft_limit(resource, resource.RLIMIT_AS,
                    None if memory is None else in_use + memory)


def _out_of_time(stage: str) -> None:
    _answer({"ok": False, "stage": stage, "error": "time"})
    os._exit(0)


def _soft_limit(resource: Any, kind: int, value: int | None, hard: int | None = None) -> None:
    _, old_hard = resource.getrlimit(kind)
    infinity = resource.RLIM_INFINITY
    new_hard = old_hard if hard is None or (old_hard != infinity and hard > old_hard) else hard
    wanted = infinity if value is None else value
    if new_hard != infinity and (wanted == infinity or wanted > new_hard):
        wanted = new_hard
    # A limit the system will not take leaves the parent's time limit.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (wanted, new_hard))


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _answer(answer: dict[str, object]) -> int:
    sys.stdout.write(RESULT_MARKER + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # python -m cove.models.probe [FLAGS] PATH
    sys.exit(child_main(sys.argv[1:]))


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PROBE_FLAG",
    "ProbeCancelled",
    "ProbeFailed",
    "ProbeResult",
    "child_main",
    "probe_model_file",
]
