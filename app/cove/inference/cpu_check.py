"""Whether llama.cpp's fast CPU kernels run on this CPU: tried once per build and CPU, in a child.

Some virtual machines report instruction sets in CPUID that the hypervisor has not enabled.
A llama.cpp built for such a CPU picks its AMX kernels, and the first matrix product dies
with SIGILL, taking the whole process with it. So before llama.cpp first runs inside Cove,
a child process decodes a few tokens with the default configuration. If a signal ends it,
a second child tries again with llama.cpp's extra buffer types off (its `--no-repack`),
which keeps the plain kernels. The outcome is kept in the cache folder, keyed by the
llama-cpp-python build and the CPU, so the children run once, not at every start.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from cove.models.probe import ProbeFailed, probe_model_file

log = logging.getLogger(__name__)

FAST_KERNELS_ENV = "COVE_FAST_KERNELS"  # "on" or "off" forces the choice; "auto" checks
CHECK_FILE = "cpu-check.json"
_FILE_VERSION = 1
# The flags worth naming when llama.cpp cannot run: the vector instruction sets it picks from.
_NAMED_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "bmi2", "sve", "neon", "asimd")


class FastKernels(StrEnum):
    """The person's choice for llama.cpp's extra CPU buffer types (AMX, repacked weights)."""

    AUTO = "auto"  # check this CPU once, then use them if they run
    ON = "on"
    OFF = "off"

    @classmethod
    def parse(cls, value: object) -> FastKernels:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            return cls.AUTO


class Outcome(StrEnum):
    CHECKED = "checked"  # the default configuration ran in the child
    FALLBACK = "fallback"  # the default faulted; the plain kernels ran
    FORCED = "forced"  # a setting or COVE_FAST_KERNELS chose, nothing was tried
    UNUSABLE = "unusable"  # llama.cpp died both ways on this CPU
    UNKNOWN = "unknown"  # the check could not run (no usable model file); default kept


@dataclass(frozen=True)
class CpuKernels:
    """Which llama.cpp CPU configuration Cove loads models with, and why."""

    extra_buffers: bool
    outcome: Outcome
    cpu: str
    flags: tuple[str, ...]  # the vector instruction sets the CPU reports
    signal_name: str = ""  # what ended the child that faulted
    source: str = ""  # with FORCED: where the choice came from

    @property
    def usable(self) -> bool:
        return self.outcome is not Outcome.UNUSABLE

    def summary(self) -> str:
        """One sentence for the status bar tooltip and the privacy panel."""
        if self.outcome is Outcome.FORCED:
            state = "on" if self.extra_buffers else "off"
            return f"Fast CPU kernels are {state}, as set by {self.source}."
        if self.outcome is Outcome.FALLBACK:
            if any(flag.startswith("amx") for flag in self.flags):
                return (f"Fast AMX kernels are off: this CPU reported AMX but faulted on it "
                        f"({self.signal_name}). Cove uses llama.cpp's plain kernels.")
            return (f"Fast CPU kernels are off: this CPU faulted on them ({self.signal_name}). "
                    "Cove uses llama.cpp's plain kernels.")
        if self.outcome is Outcome.UNUSABLE:
            return self.message()
        if self.outcome is Outcome.UNKNOWN:
            return "Fast CPU kernels are on (this CPU has not been checked yet)."
        return "Fast CPU kernels are on: this CPU ran them in a one-time check."

    def message(self) -> str:
        """Why no model can load, in words a person can act on (UNUSABLE only)."""
        flags = ", ".join(self.flags) or "none reported"
        return (f"llama.cpp cannot run on this CPU ({self.cpu}; instruction sets: {flags}). "
                f"It crashed ({self.signal_name}) with and without its fast kernels. "
                "Cove's llama.cpp may have been built for another processor: rebuild it on "
                "this computer (make clean run), or set COVE_FAST_KERNELS=off to try anyway.")

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"flags": list(self.flags)}

    @classmethod
    def from_json(cls, raw: object) -> CpuKernels | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(extra_buffers=bool(raw["extra_buffers"]),
                       outcome=Outcome(raw["outcome"]), cpu=str(raw["cpu"]),
                       flags=tuple(str(flag) for flag in raw["flags"]),
                       signal_name=str(raw.get("signal_name", "")))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class CpuIdentity:
    """What the check's outcome depends on: this llama.cpp build and this CPU."""

    build: str
    cpu: str
    flags: tuple[str, ...]
    all_flags: tuple[str, ...]

    @property
    def key(self) -> str:
        text = "\n".join([self.build, self.cpu, " ".join(self.all_flags)])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuIdentity:
    """The CPU's model and flags, and the llama-cpp-python build, without importing it."""
    model, flags = "", ""
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                name = name.strip()
                if name == "model name" and not model:
                    model = value.strip()
                elif name in ("flags", "Features") and not flags:
                    flags = value.strip()
                if name == "" and flags:
                    break  # the first processor says it all
    except OSError:
        pass  # not Linux: the platform's processor name stands in
    cpu = model or platform.processor() or platform.machine()
    all_flags = tuple(sorted(set(flags.split())))
    named = tuple(flag for flag in all_flags if flag.startswith(_NAMED_FLAG_PREFIXES))
    return CpuIdentity(build=_llama_build(), cpu=cpu, flags=named, all_flags=all_flags)


def _llama_build() -> str:
    """llama-cpp-python's version plus its native libraries' sizes and times: a rebuild of the
    same version for another CPU (pip's cache, a copied venv) counts as another build."""
    from importlib import metadata, util

    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        version = "unknown"
    stamp = []
    spec = util.find_spec("llama_cpp")
    if spec is not None and spec.origin:
        lib = Path(spec.origin).parent / "lib"
        for path in sorted(lib.glob("*")) if lib.is_dir() else ():
            try:
                status = path.stat()
            except OSError:
                continue
            stamp.append(f"{path.name}:{status.st_size}:{int(status.st_mtime)}")
    return f"llama-cpp-python {version} " + " ".join(stamp)


# How the check tries a configuration: run a child on the model file, return None if it
# answered, else the signal number that ended it (0: it failed some other way).
ChildRunner = Callable[[Path, bool], int | None]


def run_check_child(model: Path, extra_buffers: bool) -> int | None:
    try:
        probe_model_file(model, extra_buffers=extra_buffers, cpu_check=True)
    except ProbeFailed as error:
        code = error.exit_code
        if code is not None and code < 0 and -code != getattr(signal, "SIGKILL", 9):
            return -code
        log.warning("cpu check: the child failed without a fault (%s)", code)
        return 0
    except Exception as error:  # the model file itself is unusable: not about the CPU
        log.warning("cpu check: could not try the model (%s)", type(error).__name__)
        return 0
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class CpuCheck:
    """Decides, once per llama.cpp build and CPU, whether the fast kernels run here.

    Thread-safe: the model worker and an import's probe may ask at the same time; the child
    processes run for the first of them and the others wait for the answer.
    """

    def __init__(self, cache_dir: Path, *, runner: ChildRunner = run_check_child,
                 identity: Callable[[], CpuIdentity] = cpu_identity,
                 reference_model: Callable[[], Path | None] | None = None) -> None:
        self.cache_file = cache_dir / CHECK_FILE
        self._runner = runner
        self._identity = functools.cache(identity)  # the build and CPU do not change
        self._reference_model = reference_model or _starter_model
        self._lock = threading.Lock()
        self._known: dict[str, CpuKernels] = {}

    def kernels(self, model: Path | None = None,
                choice: FastKernels | str = FastKernels.AUTO) -> CpuKernels:
        """The configuration to load with. May run the one-time check (seconds): call it off
        the GUI thread. `model` is tried when the starter model is not installed."""
        identity = self._identity()
        forced, source = _forced_choice(choice)
        if forced is not None:
            return CpuKernels(forced, Outcome.FORCED, identity.cpu, identity.flags,
                              source=source)
        with self._lock:
            known = self._known.get(identity.key) or self._read(identity.key)
            if known is None:
                known = self._check(identity, self._reference_model() or model)
            if known.outcome is not Outcome.UNKNOWN:
                self._known[identity.key] = known
            return known

    def _check(self, identity: CpuIdentity, model: Path | None) -> CpuKernels:
        if model is None:
            return CpuKernels(True, Outcome.UNKNOWN, identity.cpu, identity.flags)
        started = time.monotonic()
        fault = self._runner(model, True)
        if fault is None:
            result = CpuKernels(True, Outcome.CHECKED, identity.cpu, identity.flags)
        elif fault == 0:
            # The file failed, not the CPU: load as usual and let the load explain.
            return CpuKernels(True, Outcome.UNKNOWN, identity.cpu, identity.flags)
        else:
            name = _signal_name(fault)
            log.warning("cpu check: llama.cpp's default kernels died with %s; trying without "
                        "extra buffer types", name)
            second = self._runner(model, False)
            if second is None:
                result = CpuKernels(False, Outcome.FALLBACK, identity.cpu, identity.flags, name)
            elif second == 0:
                return CpuKernels(False, Outcome.UNKNOWN, identity.cpu, identity.flags, name)
            else:
                result = CpuKernels(False, Outcome.UNUSABLE, identity.cpu, identity.flags, name)
        log.info("cpu check: %s in %.1f s", result.outcome.value, time.monotonic() - started)
        self._write(identity.key, result)
        return result

    def _read(self, key: str) -> CpuKernels | None:
        try:
            raw = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("version") != _FILE_VERSION:
            return None
        checks = raw.get("checks")
        return CpuKernels.from_json(checks.get(key)) if isinstance(checks, dict) else None

    def _write(self, key: str, result: CpuKernels) -> None:
        """Keep the outcome beside any others (one venv can serve several CPUs: a shared
        home folder). It is about the machine, not the person: no encryption needed."""
        try:
            raw = json.loads(self.cache_file.read_text(encoding="utf-8"))
            checks = raw["checks"] if raw.get("version") == _FILE_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            checks = {}
        checks[key] = result.to_json() | {"checked_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            from cove.core.fsutil import write_json_atomic

            write_json_atomic(self.cache_file, {"version": _FILE_VERSION, "checks": checks})
        except OSError as error:  # the check runs again next time; nothing else is lost
            log.warning("cpu check not recorded: %s", type(error).__name__)


def _forced_choice(choice: FastKernels | str) -> tuple[bool | None, str]:
    env = os.environ.get(FAST_KERNELS_ENV, "")
    if env:
        chosen = FastKernels.parse(env)
        if chosen is not FastKernels.AUTO:
            return chosen is FastKernels.ON, FAST_KERNELS_ENV
    chosen = FastKernels.parse(choice)
    if chosen is FastKernels.AUTO:
        return None, ""
    return chosen is FastKernels.ON, "Settings"


def _starter_model() -> Path | None:
    # The starter model (SmolLM2 Q4_1, 135M) is small, so the check takes about a second,
    # and quantized the way the fast kernels handle.
    from cove.models.starter import starter_model_path

    return starter_model_path()


_shared: CpuCheck | None = None
_shared_lock = threading.Lock()


def shared_check() -> CpuCheck:
    """The process's check, recording in this run's cache folder (COVE_HOME is respected)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from cove.paths import app_paths

            _shared = CpuCheck(app_paths().cache)
        return _shared
