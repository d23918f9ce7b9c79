"""Running the benchmark scripts: each in its own process, within a time budget, with how
busy the rest of the machine was meanwhile.

Each script prints one JSON line. A script that fails (non-zero exit, no JSON line, or
timeout) is recorded as failed with the tail of its stderr, and the rest still run.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from common import BENCH_DIR, REPO_ROOT, last_json_line

from report.report import figures

NOT_BENCHMARKS = {"run_all.py", "common.py"}
# Scripts that may build something first run last, with whatever the budget has left; they
# stop cleanly on SIGTERM and still report what they measured.
RUN_LAST = ("llama_bench.py",)
MIN_SECONDS_LEFT = 30  # a script is not started with less of the budget left than this


def discover(only: Sequence[str] = ()) -> list[Path]:
    scripts = sorted((p for p in BENCH_DIR.glob("*.py")
                      if p.name not in NOT_BENCHMARKS and not p.name.startswith(("_", "test_"))),
                     key=lambda p: (p.name in RUN_LAST, p.name))
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        scripts = [p for p in scripts if p.stem in wanted]
    return scripts


def last_json_object(stdout: str) -> dict[str, Any] | None:
    try:
        return last_json_line(stdout)
    except ValueError:
        return None


def _run_once(script: Path, flags: Sequence[str],
              timeout: float) -> tuple[int | None, str, str, bool]:
    """(exit code, stdout, stderr tail, timed out), passing stderr through as it comes."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen([sys.executable, str(script), *flags], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr_tail: deque[str] = deque(maxlen=40)
    stdout: list[str] = []

    def pass_through() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_tail.append(line)
            sys.stderr.write(f"  {line}")
            sys.stderr.flush()

    def collect() -> None:
        assert process.stdout is not None
        stdout.extend(process.stdout)

    readers = [threading.Thread(target=pass_through, daemon=True),
               threading.Thread(target=collect, daemon=True)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.terminate()  # scripts that can, print what they have on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for reader in readers:
        reader.join(timeout=5)
    return process.returncode, "".join(stdout), "".join(stderr_tail)[-2000:], timed_out


def run_script(script: Path, flags: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run one benchmark; return its record for results.json."""
    print(f"# {script.name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    code, stdout, tail, timed_out = _run_once(script, flags, timeout)
    record: dict[str, Any] = {"script": script.name}
    if code == 2 and flags and "unrecognized arguments" in tail:
        # a script without --quick (or another flag) still runs, in full
        record["flags_ignored"] = list(flags)
        code, stdout, tail, timed_out = _run_once(script, [], timeout)
    record.update(seconds=round(time.perf_counter() - started, 1), returncode=code)
    result = last_json_object(stdout)
    if timed_out and result is not None:
        record["note"] = f"stopped after {timeout:g} s (the run's time budget); partial result"
    elif timed_out:
        return {**record, "status": "failed", "reason": f"timed out after {timeout:g} s",
                "stderr_tail": tail}
    if (code != 0 and not timed_out) or result is None:
        reason = (result or {}).get("error") or (
            "no JSON line on stdout" if result is None else f"exit {code}")
        return {**record, "status": "failed", "reason": str(reason), "stderr_tail": tail,
                **({"result": result} if result else {})}
    status = "skipped" if "skipped" in result and not list(figures(result)) else "ok"
    return {**record, "status": status, "result": result}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version()}
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = cpu
    info["logical_cpus"] = os.cpu_count()
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["ram_gb"] = round(psutil.virtual_memory().total / 1024**3, 1)
    except Exception:  # psutil is a Cove dependency; still write a report without it
        pass
    for label, dist in (("cove", "cove"), ("llama_cpp_python", "llama_cpp_python"),
                        ("pyside6", "PySide6-Essentials"), ("pyside6", "PySide6"),
                        ("matplotlib", "matplotlib")):
        if label in info:
            continue
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[label] = metadata.version(dist)
    return info


class OtherWork:
    """Samples once a second how much CPU time processes outside this run used.

    Other people's tests and builds on a shared machine slow benchmarks down unevenly; the
    report says how much of the machine they took while each script ran. (The kernel's own
    totals are no use here: in a virtual machine they disagree with per-process accounting by
    a quarter or more.) Processes shorter than a second are missed, so this is a lower bound.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.cpu_seconds = 0.0
        self.seen: dict[int, float] = {}  # pid: CPU seconds at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OtherWork:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        previous = self._sample(psutil, me)
        while not self._stop.wait(self.interval):
            current = self._sample(psutil, me)
            self.cpu_seconds += cpu_added(previous, current)
            self.seen.update(current)
            previous = current

    @staticmethod
    def _sample(psutil: Any, me: Any) -> dict[int, float]:
        ours = {me.pid, *(child.pid for child in me.children(recursive=True))}
        times = {}
        for process in psutil.process_iter(["cpu_times"]):
            cpu = process.info.get("cpu_times")
            if process.pid not in ours and cpu is not None:
                times[process.pid] = cpu.user + cpu.system
        return times


def cpu_added(previous: Mapping[int, float], current: Mapping[int, float]) -> float:
    """CPU seconds used between two samples: growth of known processes, all of new ones."""
    return sum(max(0.0, cpu - previous.get(pid, 0.0)) for pid, cpu in current.items())


def machine_share(cpu_seconds: float, wall_seconds: float) -> float | None:
    capacity = wall_seconds * (os.cpu_count() or 1)
    return round(min(1.0, cpu_seconds / capacity), 3) if capacity > 0 else None


def run_scripts(scripts: Sequence[Path], flags: Sequence[str], timeout: float,
                budget: float) -> list[dict[str, Any]]:
    """Run `scripts` in order, each for at most `timeout` seconds and all within `budget`; a
    script the budget has no room left for is recorded as skipped. Every record notes the
    load average and how much of the CPU other processes took while it ran."""
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    for script in scripts:
        left = budget - (time.perf_counter() - started)
        if left < MIN_SECONDS_LEFT:
            runs.append({"script": script.name, "status": "skipped",
                         "reason": f"no time left in the run's {budget:g} s budget"})
            continue
        load_before = load_average()
        with OtherWork() as others:
            record = run_script(script, flags, min(timeout, left))
        record["load_average"] = {"before": load_before, "after": load_average()}
        record["others_cpu_share"] = machine_share(others.cpu_seconds, record["seconds"])
        runs.append(record)
    return runs


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None
