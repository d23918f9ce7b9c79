"""Run every benchmark in benchmarks/, then write results.json and docs/performance.md.

Each script prints one JSON line. A script that fails (non-zero exit, no JSON line, or
timeout) is recorded as failed with the tail of its stderr, and the rest still run. The
report is a table of every figure, its target and whether it holds, with plots in docs/img/.

Targets are read generically: a key `target_X` pairs with the figure X, or else with the
shortest figure whose name contains X's words in order (`target_p99_ms` pairs with
`p99_stall_ms`). Whether the figure must be at least or at most the target comes from the
script's optional `target_rules` ({"target_X": "at_least" | "at_most"}); without one it is
guessed from the name (per-second rates and ratios at least, times and sizes at most). Lists of
per-model results (a key holding a list of objects) are reported per entry, with targets from
the entry or, failing that, from the top level.

    python benchmarks/run_all.py [--quick] [--only NAME,...] [--report-only]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import last_json_line  # benchmarks/ is not a package

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results.json"
REPORT_FILE = REPO_ROOT / "docs" / "performance.md"
IMG_DIR = REPO_ROOT / "docs" / "img"
NOT_BENCHMARKS = {"run_all.py", "common.py"}
META_KEYS = {"benchmark", "target_rules", "skipped", "error", "model", "file", "label",
             "chat_format", "interrupted"}
# Scripts that may build something first run last, with whatever the budget has left; they
# stop cleanly on SIGTERM and still report what they measured.
RUN_LAST = ("llama_bench.py",)
NOISY_SHARE = 0.10  # other processes' share of the CPU above which a script's figures are noisy
PLOT_NAMES = ("tokens_per_second.png", "ttft_vs_turns.png", "ui_stalls.png", "memory.png",
              "storage_scale.png", "targets.png")


# Running the scripts ------------------------------------------------------------------------


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


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# Reading figures and targets ----------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) for numbers and lists of numbers, nested objects as dotted keys."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key in META_KEYS or key.startswith("target_"):
            continue
        if _is_number(value) or (isinstance(value, list) and value
                                 and all(_is_number(v) for v in value)):
            yield name, value
        elif isinstance(value, dict):
            yield from _flatten(value, f"{name}.")


def scopes(result: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """("", result) and (label, entry) for each entry of a list of objects in it."""
    yield "", result
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, entry in enumerate(value):
                label = entry.get("model") or entry.get("label") or entry.get("name")
                yield str(label or f"{key}[{index}]"), entry


def figures(result: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for scope, values in scopes(result):
        for key, value in _flatten(values):
            yield scope, key, value


def pair_target(target_key: str, figure_keys: Sequence[str]) -> str | None:
    """The figure a `target_X` key names: X itself, else the shortest key with X's words."""
    name = target_key.removeprefix("target_")
    if name in figure_keys:
        return name
    words = name.split("_")

    def has_words(key: str) -> bool:
        parts = iter(key.split("_"))
        return all(word in parts for word in words)  # in order, gaps allowed

    candidates = sorted((k for k in figure_keys if has_words(k)), key=lambda k: (len(k), k))
    return candidates[0] if candidates else None


_SMALLER_IS_BETTER = {"ms", "s", "sec", "secs", "seconds", "mb", "mib", "kb", "gb", "bytes",
                      "stall", "latency", "ttft", "rss", "memory", "time", "size", "p50",
                      "p90", "p95", "p99", "max"}


def guess_rule(figure: str) -> str:
    """'at_least' or 'at_most' from a figure's name, for targets without a stated rule."""
    words = figure.lower().replace(".", "_").split("_")
    if "per" in words or any(w in {"rate", "throughput", "speedup", "qps"} for w in words):
        return "at_least"
    if any(w in _SMALLER_IS_BETTER for w in words):
        return "at_most"
    return "at_least"


@dataclass
class Row:
    benchmark: str
    scope: str
    figure: str
    value: Any
    target: float | None = None
    rule: str | None = None  # at_least / at_most
    status: str = ""  # held / missed / no figure / "" (no target)

    @property
    def held(self) -> bool:
        return self.status == "held"


def check(value: Any, target: float, rule: str) -> str:
    if not _is_number(value):
        return "no figure"
    return "held" if (value >= target if rule == "at_least" else value <= target) else "missed"


def rows_for(benchmark: str, result: Mapping[str, Any]) -> list[Row]:
    """Every figure of one result, with its target and verdict where it has one.

    A top-level target applies at the top level when a top-level figure answers it, otherwise
    to every entry of the result's lists (a model whose figure is missing shows "no figure").
    """
    rules = result.get("target_rules") if isinstance(result.get("target_rules"), dict) else {}
    top_targets = {k: v for k, v in result.items() if k.startswith("target_") and _is_number(v)}
    top_figures = [key for key, _ in _flatten(result)]
    entry_scopes = list(scopes(result))[1:]
    rows: list[Row] = []
    for scope, values in scopes(result):
        flat = dict(_flatten(values))
        if scope:
            if "skipped" in values and not flat:
                continue  # a model that was not there at all: noted above the tables
            targets = {k: v for k, v in top_targets.items() if not pair_target(k, top_figures)}
            targets.update({k: v for k, v in values.items()
                            if k.startswith("target_") and _is_number(v)})
        else:
            targets = {k: v for k, v in top_targets.items()
                       if pair_target(k, top_figures) or not entry_scopes}
        scope_rows = {key: Row(benchmark, scope, key, value) for key, value in flat.items()}
        for target_key, target in targets.items():
            figure = pair_target(target_key, list(flat))
            rule = str((rules or {}).get(target_key) or guess_rule(figure or target_key))
            if figure is None:
                figure = target_key.removeprefix("target_")
                scope_rows[figure] = Row(benchmark, scope, figure, None)
            row = scope_rows[figure]
            row.target, row.rule = float(target), rule
            row.status = check(row.value, row.target, rule)
        rows.extend(scope_rows.values())
    return rows


def all_rows(runs: Sequence[Mapping[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for run in runs:
        if run.get("result"):
            rows.extend(rows_for(benchmark_name(run), run["result"]))
    return rows


def benchmark_name(run: Mapping[str, Any]) -> str:
    result = run.get("result") or {}
    return str(result.get("benchmark") or Path(str(run["script"])).stem)


def results_of(runs: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any] | None:
    for run in runs:
        if benchmark_name(run) == name and run.get("result"):
            return dict(run["result"])
    return None


# Writing the report -------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        shown = ", ".join(fmt(v) for v in value[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def fmt_target(row: Row) -> str:
    if row.target is None:
        return ""
    return f"{'≥' if row.rule == 'at_least' else '≤'} {fmt(row.target)}"


VERDICT = {"held": "✅ held", "missed": "❌ missed", "no figure": "⚠️ no figure"}


def script_docs(scripts: Sequence[str]) -> dict[str, str]:
    """Each script's module docstring (read, not imported), for the method section."""
    docs = {}
    for name in scripts:
        path = BENCH_DIR / name
        try:
            doc = ast.get_docstring(ast.parse(path.read_text()))
        except (OSError, SyntaxError):
            doc = None
        if doc:
            docs[name] = doc
    return docs


def notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per script that failed or was skipped, and per part of a result skipped."""
    lines = []
    for run in runs:
        result = run.get("result") or {}
        if run.get("status") != "ok":
            reason = run.get("reason") or result.get("skipped") or ""
            lines.append(f"`{run['script']}` **{run.get('status')}**: {str(reason).strip()[:400]}")
        elif result.get("skipped"):
            lines.append(f"`{run['script']}` partly skipped: {str(result['skipped'])[:400]}")
        if run.get("note"):
            lines.append(f"`{run['script']}`: {run['note']}")
        kernels = result.get("cpu_kernels")
        if isinstance(kernels, dict) and kernels.get("summary"):
            lines.append(f"`{run['script']}` ran with llama.cpp's "
                         f"{'fast' if kernels.get('extra_buffers') else 'plain'} CPU kernels: "
                         f"{kernels['summary']}")
        if run.get("flags_ignored"):
            lines.append(f"`{run['script']}` does not take {' '.join(run['flags_ignored'])}; "
                         "it ran in full.")
        for _scope, entry in list(scopes(result))[1:]:
            for key, value in entry.items():
                if (key in ("skipped", "interrupted") or key.endswith("_skipped")) and value:
                    what = {"skipped": "everything skipped",
                            "interrupted": "cut short"}.get(key) or \
                        f"{key.removesuffix('_skipped').replace('_', '-')} skipped"
                    lines.append(f"`{run['script']}` {entry.get('model') or ''}: {what}: "
                                 f"{str(value).strip()[:300]}")
    return lines


def render_report(data: Mapping[str, Any], plots: Sequence[str]) -> str:
    runs = data.get("runs", [])
    machine = data.get("machine", {})
    rows = all_rows(runs)
    targeted = [r for r in rows if r.status]
    held = sum(r.status == "held" for r in targeted)
    missed = [r for r in targeted if r.status != "held"]
    out: list[str] = []
    add = out.append
    add("# Cove's performance\n")
    add("Generated by `make bench` (`benchmarks/run_all.py`); do not edit by hand. Raw figures: "
        "`benchmarks/results.json`.\n")
    add(f"- **When:** {data.get('generated', '?')}"
        f"{' (quick run: --quick, fewer and shorter samples)' if data.get('quick') else ''}; "
        f"whole run {fmt(data.get('wall_seconds'))} s.")
    add(f"- **Machine:** {machine.get('cpu', '?')}, {machine.get('physical_cores', '?')} "
        f"physical cores ({machine.get('logical_cpus', '?')} logical), "
        f"{machine.get('ram_gb', '?')} GB RAM, {machine.get('platform', '?')}.")
    add(f"- **Versions:** Cove {machine.get('cove', '?')}, llama-cpp-python "
        f"{machine.get('llama_cpp_python', '?')}, PySide6 {machine.get('pyside6', '?')}, "
        f"Python {machine.get('python', '?')}.")
    load = data.get("load_average") or {}
    if load:
        add(f"- **Load average** (1, 5, 15 min) before: {fmt(load.get('before'))}, after: "
            f"{fmt(load.get('after'))}.")
    noisy = [f"{benchmark_name(r)} ({r['others_cpu_share']:.0%})" for r in runs
             if (r.get("others_cpu_share") or 0) > NOISY_SHARE]
    add("- **Noise:** other work on the machine slows runs unevenly, so most targets are "
        "ratios measured in the same run, and speeds are the best of several rounds. "
        + (f"Other processes took a noticeable share of the CPU during: {', '.join(noisy)}; "
           "treat those absolute figures with care." if noisy
           else "Other processes took little CPU during this run."))
    add("")
    add(f"**{held} of {len(targeted)} targets held.**"
        + (" Missed: " + "; ".join(f"{r.benchmark} {r.scope + ' ' if r.scope else ''}"
                                   f"`{r.figure}` = {fmt(r.value)} (target {fmt_target(r)})"
                                   for r in missed) + "." if missed else ""))
    add("")
    for note in notes(runs):
        add(f"- {note}")
    add("")
    add("## Targets\n")
    add("| benchmark | model | figure | value | target | verdict |")
    add("| --- | --- | --- | --- | --- | --- |")
    for r in targeted:
        add(f"| {r.benchmark} | {r.scope} | `{r.figure}` | {fmt(r.value)} | {fmt_target(r)} "
            f"| {VERDICT.get(r.status, r.status)} |")
    add("")
    if plots:
        add("## Plots\n")
        captions = {
            "tokens_per_second.png": "Tokens per second per model and path: llama.cpp's own "
                                     "llama-bench, llama-cpp-python called directly, and Cove's "
                                     "worker.",
            "ttft_vs_turns.png": "Time to first token of a follow-up against the number of "
                                 "earlier turns, with and without the reused KV cache.",
            "ui_stalls.png": "How long the GUI event loop was busy between 5 ms timer ticks "
                             "while replies streamed.",
            "memory.png": "Resident memory added by a loaded model, against its file and "
                          "context buffers.",
            "storage_scale.png": "Storage at scale (benchmarks/storage_scale.py).",
            "targets.png": "Every target: how much of it each figure uses (under 1 holds).",
        }
        for name in plots:
            add(f"![{captions.get(name, name)}](img/{name})\n")
            add(f"*{captions.get(name, name)}*\n")

    add("## Every figure\n")
    by_benchmark: dict[str, list[Row]] = {}
    for r in rows:
        by_benchmark.setdefault(r.benchmark, []).append(r)
    seconds = {benchmark_name(r): r for r in runs}
    for benchmark, benchmark_rows in by_benchmark.items():
        add(f"### {benchmark}\n")
        run = seconds.get(benchmark, {})
        load = run.get("load_average") or {}
        if run.get("seconds") is not None:
            share = run.get("others_cpu_share")
            add(f"Ran {fmt(run['seconds'])} s"
                + (f"; other processes used {share:.0%} of the CPU meanwhile"
                   + (" (noisy)" if share > NOISY_SHARE else "") if share is not None else "")
                + (f"; load average before {fmt(load.get('before'))}, after "
                   f"{fmt(load.get('after'))}" if load else "") + ".\n")
        add("| model | figure | value | target | verdict |")
        add("| --- | --- | --- | --- | --- |")
        for r in benchmark_rows:
            add(f"| {r.scope} | `{r.figure}` | {fmt(r.value)} | {fmt_target(r)} | "
                f"{VERDICT.get(r.status, '')} |")
        add("")
    docs = script_docs([str(r["script"]) for r in runs])
    if docs:
        add("## How each figure is measured\n")
        add("From each script's own description (`python benchmarks/NAME.py --help`).\n")
        for name, doc in docs.items():
            add(f"### {name}\n")
            add("```text")
            add(doc)
            add("```\n")
    return "\n".join(out).rstrip() + "\n"


# Plots --------------------------------------------------------------------------------------


def make_plots(data: Mapping[str, Any], folder: Path) -> list[str]:
    """Write the PNGs the data allows; returns their file names. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install '.[bench]')", file=sys.stderr)
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for name in PLOT_NAMES:
        (folder / name).unlink(missing_ok=True)
    runs = data.get("runs", [])
    made = []
    for name, draw in (("tokens_per_second.png", plot_tokens_per_second),
                       ("ttft_vs_turns.png", plot_ttft_vs_turns),
                       ("ui_stalls.png", plot_ui_stalls),
                       ("memory.png", plot_memory),
                       ("storage_scale.png", plot_storage_scale),
                       ("targets.png", plot_targets)):
        try:
            figure = draw(plt, runs)
            if figure is None:
                continue
            figure.savefig(folder / name, dpi=110, bbox_inches="tight")
            plt.close(figure)
        except Exception as error:  # one bad plot must not cost the report
            print(f"plot {name} failed: {error!r}", file=sys.stderr)
            plt.close("all")
            continue
        made.append(name)
    return made


PATHS = (("llama_bench", "llama-bench (C++)", "#4c72b0"),
         ("direct", "llama-cpp-python direct", "#dd8452"),
         ("worker", "Cove worker", "#55a868"))


def plot_tokens_per_second(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    result = results_of(runs, "llama_bench")
    entries = [e for e in (result or {}).get("models", []) if "skipped" not in e]
    if not entries:
        throughput = results_of(runs, "throughput")
        if not throughput:
            return None
        entries = [{"model": throughput.get("model", "starter"),
                    "direct_tg_tokens_per_second": throughput.get("direct_tokens_per_second"),
                    "worker_tg_tokens_per_second": throughput.get("worker_tokens_per_second")}]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, kind, title in ((axes[0], "tg", "Generation"), (axes[1], "pp", "Prompt processing")):
        width = 0.8 / len(PATHS)
        for index, (path, label, colour) in enumerate(PATHS):
            values = [e.get(f"{path}_{kind}_tokens_per_second") or 0 for e in entries]
            xs = [i + (index - 1) * width for i in range(len(entries))]
            bars = axis.bar(xs, values, width, label=label, color=colour)
            for bar, value in zip(bars, values, strict=True):
                if value:
                    axis.annotate(f"{value:.0f}", (bar.get_x() + bar.get_width() / 2, value),
                                  ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(entries)), [e["model"] for e in entries])
        axis.set_ylabel("tokens / s")
        axis.set_title(f"{title} ({kind})")
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    threads = (result or {}).get("threads")
    suffix = f" ({threads})" if threads else ""
    figure.suptitle(f"Tokens per second, same models and threads{suffix}")
    return figure


def plot_ttft_vs_turns(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    result = results_of(runs, "followup_latency")
    if not result or not result.get("turns"):
        return None
    figure, axis = plt.subplots(figsize=(7, 4.2))
    turns = result["turns"]
    axis.plot(turns, result["ttft_seconds"], "o-", label="follow-up in a chat (cache reused)",
              color="#55a868")
    if result.get("cold_ttft_seconds"):
        axis.plot(turns, result["cold_ttft_seconds"], "s--",
                  label="same history, nothing reusable", color="#c44e52")
    target = result.get("target_ttft_ratio")
    if target and result["ttft_seconds"]:
        axis.axhline(target * result["ttft_seconds"][0], color="grey", linestyle=":",
                     label=f"target: {fmt(target)}x the shortest")
    axis.set_xlabel("earlier turns in the conversation")
    axis.set_ylabel("time to first token (s)")
    axis.set_xticks(turns)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(f"Follow-up latency, {result.get('model', '')}")
    return figure


def plot_ui_stalls(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    result = results_of(runs, "ui_latency")
    histogram = (result or {}).get("stall_histogram_ms")
    if not result or not histogram:
        return None
    edges, counts = histogram["edges"], histogram["counts"]
    labels = [f"{fmt(edges[i])}–{fmt(edges[i + 1])}" for i in range(len(edges) - 1)]
    labels.append(f"≥{fmt(edges[-1])}")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = ["#55a868" if edges[i] < (result.get("target_p99_ms") or 16) else "#c44e52"
               for i in range(len(edges))]
    left.bar(range(len(counts)), counts, color=colours)
    left.set_yscale("log")
    left.set_xticks(range(len(labels)), labels, rotation=45, fontsize=8)
    left.set_xlabel("stall (ms)")
    left.set_ylabel("timer ticks (log)")
    left.set_title(f"Stall histogram, {result.get('samples', '?')} ticks")
    percentiles = result.get("stall_percentiles_ms") or {}
    keys = sorted(percentiles, key=float)
    labels = [f"p{k}" for k in keys] + ["worst"]
    values = [percentiles[k] for k in keys] + [result.get("max_stall_ms", 0)]
    right.plot(range(len(values)), values, "o-", color="#4c72b0")
    right.set_xticks(range(len(labels)), labels, fontsize=8)
    for key, style in (("target_p99_ms", ":"), ("target_max_ms", "--")):
        if result.get(key):
            right.axhline(result[key], color="grey", linestyle=style,
                          label=f"{key.removeprefix('target_')} target {fmt(result[key])} ms")
    right.set_xlabel("percentile of ticks")
    right.set_ylabel("stall (ms)")
    right.set_title("Stall percentiles")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    return figure


def plot_memory(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    result = results_of(runs, "memory")
    entries = [e for e in (result or {}).get("models", []) if "rss_increase_mb" in e]
    if not entries:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.2))
    parts = (("file_mb", "model file", "#4c72b0"), ("kv_cache_mb", "KV cache", "#8172b3"),
             ("compute_allowance_mb", "compute allowance", "#ccb974"))
    xs = range(len(entries))
    bottom = [0.0] * len(entries)
    for key, label, colour in parts:
        values = [float(e.get(key) or 0) for e in entries]
        axis.bar([x - 0.2 for x in xs], values, 0.38, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.bar([x + 0.2 for x in xs], [e["rss_increase_mb"] for e in entries], 0.38,
             label="measured RSS increase", color="#55a868")
    for x, entry in zip(xs, entries, strict=True):
        if entry.get("target_rss_increase_mb"):
            axis.hlines(entry["target_rss_increase_mb"], x - 0.4, x + 0.4, color="grey",
                        linestyles=":", label="limit (+150 MB)" if x == 0 else None)
    axis.set_xticks(list(xs), [e["model"] for e in entries])
    axis.set_ylabel("MB")
    axis.set_title(f"Memory with the model loaded (n_ctx {result.get('n_ctx', '?')})")
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return figure


def plot_storage_scale(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    """Generic, since the script's keys are its own: a list of objects sharing a numeric first
    key becomes lines against it; otherwise every time in ms is a bar, with its target."""
    result = results_of(runs, "storage_scale")
    if not result:
        return None
    series = next((v for v in result.values() if isinstance(v, list) and len(v) > 1
                   and all(isinstance(e, dict) for e in v)), None)
    if series:
        keys = [k for k in series[0] if all(_is_number(e.get(k)) for e in series)]
        if len(keys) >= 2:
            x_key, y_keys = keys[0], keys[1:]
            figure, axis = plt.subplots(figsize=(8, 4.2))
            for key in y_keys:
                axis.plot([e[x_key] for e in series], [e[key] for e in series], "o-", label=key)
            axis.set_xscale("log")
            axis.set_xlabel(x_key)
            axis.legend(fontsize=8)
            axis.grid(alpha=0.3)
            axis.set_title("Storage at scale")
            return figure
    rows = [r for r in rows_for("storage_scale", result)
            if _is_number(r.value) and r.figure.endswith("_ms") and r.value > 0]
    if not rows:
        rows = [r for r in rows_for("storage_scale", result) if r.status in ("held", "missed")]
        return _bar_of_rows(plt, rows, "Storage at scale") if rows else None
    figure, axis = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.5))
    colours = ["#c44e52" if r.status == "missed" else "#55a868" if r.held else "#4c72b0"
               for r in rows]
    axis.barh(range(len(rows)), [float(r.value) for r in rows], color=colours)
    labelled = False
    for index, row in enumerate(rows):
        if row.target:
            axis.plot([row.target], [index], "k|", markersize=14,
                      label=None if labelled else "target")
            labelled = True
    axis.set_xscale("log")
    axis.set_yticks(range(len(rows)), [r.figure for r in rows], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("ms (log)")
    details = ", ".join(f"{k} {fmt(result[k])}" for k in ("conversations", "messages_indexed")
                        if _is_number(result.get(k)))
    axis.set_title(f"Storage at scale{f' ({details})' if details else ''}")
    axis.grid(axis="x", alpha=0.3)
    if any(r.target for r in rows):
        axis.legend(fontsize=8)
    return figure


def _usage(row: Row) -> float:
    """Share of the target used: under 1 holds, for both kinds of target."""
    value = float(row.value)
    target = float(row.target or 0)
    if row.rule == "at_least":
        return target / value if value else float("inf")
    return value / target if target else float("inf")


def _bar_of_rows(plt: Any, rows: Sequence[Row], title: str) -> Any:
    figure, axis = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    labels = [f"{r.figure}{f' ({r.scope})' if r.scope else ''}" for r in rows]
    if all(r.target for r in rows):
        values = [min(_usage(r), 5.0) for r in rows]
        axis.axvline(1.0, color="grey", linestyle=":")
        axis.set_xlabel("share of the target used (under 1 holds; capped at 5)")
        colours = ["#55a868" if r.held else "#c44e52" for r in rows]
    else:
        values = [float(r.value) for r in rows]
        colours = ["#4c72b0"] * len(rows)
    axis.barh(range(len(rows)), values, color=colours)
    axis.set_yticks(range(len(rows)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    return figure


def plot_targets(plt: Any, runs: Sequence[Mapping[str, Any]]) -> Any:
    rows = [r for r in all_rows(runs) if r.status in ("held", "missed")]
    if not rows:
        return None
    for row in rows:
        row.figure = f"{row.benchmark}: {row.figure}"
    return _bar_of_rows(plt, rows, "Targets")


# Main ---------------------------------------------------------------------------------------


def write_outputs(data: Mapping[str, Any]) -> None:
    RESULTS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    plots = make_plots(data, IMG_DIR)
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(render_report(data, plots))
    print(f"wrote {RESULTS_FILE}, {REPORT_FILE} and {len(plots)} plots in {IMG_DIR}",
          file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    parser.add_argument("--timeout", type=float, default=600, help="most seconds per script")
    parser.add_argument("--budget", type=float, default=870,
                        help="seconds for the whole run (default 870: make bench stays under "
                             "15 minutes); a script gets at most what is left")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report and plots from benchmarks/results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        write_outputs(json.loads(RESULTS_FILE.read_text()))
        return 0
    started = time.perf_counter()
    before = load_average()
    scripts = discover([n for n in args.only.split(",") if n])
    flags = ["--quick"] if args.quick else []
    runs = []
    for script in scripts:
        left = args.budget - (time.perf_counter() - started)
        if left < 30:
            runs.append({"script": script.name, "status": "skipped",
                         "reason": f"no time left in the run's {args.budget:g} s budget"})
            continue
        load_before = load_average()
        with OtherWork() as others:
            record = run_script(script, flags, min(args.timeout, left))
        record["load_average"] = {"before": load_before, "after": load_average()}
        record["others_cpu_share"] = machine_share(others.cpu_seconds, record["seconds"])
        runs.append(record)
    data = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": args.quick,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"before": before, "after": load_average()},
        "machine": machine_info(),
        "runs": runs,
    }
    write_outputs(data)
    failed = [r["script"] for r in runs if r["status"] == "failed"]
    print(f"bench finished in {data['wall_seconds']} s; "
          f"{len(runs) - len(failed)} of {len(runs)} scripts ran"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
