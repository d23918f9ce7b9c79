"""The benchmark report: figures and targets read from each script's JSON line, judged, and
written as Markdown (docs/performance.md).

Targets are read generically: a key `target_X` pairs with the figure X, or else with the
shortest figure whose name contains X's words in order (`target_p99_ms` pairs with
`p99_stall_ms`). Whether the figure must be at least or at most the target is the script's to
say, in `target_rules` ({"target_X": "at_least" | "at_most"}); a target without a stated rule
is reported as a problem, never guessed. Lists of per-model results (a key holding a list of
objects) are reported per entry, with targets from the entry or, failing that, from the top
level.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH_DIR

META_KEYS = {"benchmark", "target_rules", "skipped", "error", "model", "file", "label",
             "chat_format", "interrupted"}
RULES = ("at_least", "at_most")
NO_RULE = "no rule"
NOISY_SHARE = 0.10  # other processes' share of the CPU above which a script's figures are noisy


# Reading figures and targets ----------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) for numbers and lists of numbers, nested objects as dotted keys."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key in META_KEYS or key.startswith("target_"):
            continue
        if is_number(value) or (isinstance(value, list) and value
                                 and all(is_number(v) for v in value)):
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


@dataclass
class Row:
    benchmark: str
    scope: str
    figure: str
    value: Any
    target: float | None = None
    rule: str | None = None  # at_least / at_most, as the script states it
    status: str = ""  # held / missed / no figure / no rule / "" (no target)

    @property
    def held(self) -> bool:
        return self.status == "held"


def check(value: Any, target: float, rule: str) -> str:
    """"held" or "missed" by `rule` ("at_least" or "at_most"); "no figure" without a value."""
    if not is_number(value):
        return "no figure"
    return "held" if (value >= target if rule == "at_least" else value <= target) else "missed"


def rows_for(benchmark: str, result: Mapping[str, Any]) -> list[Row]:
    """Every figure of one result, with its target and verdict where it has one.

    A top-level target applies at the top level when a top-level figure answers it, otherwise
    to every entry of the result's lists (a model whose figure is missing shows "no figure").
    A target whose rule the script does not state shows "no rule": the report does not guess.
    """
    rules = result.get("target_rules") if isinstance(result.get("target_rules"), dict) else {}
    top_targets = {k: v for k, v in result.items() if k.startswith("target_") and is_number(v)}
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
                            if k.startswith("target_") and is_number(v)})
        else:
            targets = {k: v for k, v in top_targets.items()
                       if pair_target(k, top_figures) or not entry_scopes}
        scope_rows = {key: Row(benchmark, scope, key, value) for key, value in flat.items()}
        for target_key, target in targets.items():
            figure = pair_target(target_key, list(flat))
            if figure is None:
                figure = target_key.removeprefix("target_")
                scope_rows[figure] = Row(benchmark, scope, figure, None)
            row = scope_rows[figure]
            row.target = float(target)
            rule = (rules or {}).get(target_key)
            if rule in RULES:
                row.rule = rule
                row.status = check(row.value, row.target, rule)
            else:
                row.status = NO_RULE
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
    sign = {"at_least": "≥", "at_most": "≤"}.get(row.rule or "", "?")
    return f"{sign} {fmt(row.target)}"


VERDICT = {"held": "✅ held", "missed": "❌ missed", "no figure": "⚠️ no figure",
           NO_RULE: "⚠️ no rule stated (add it to the script's target_rules)"}


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
    for note in data.get("notes") or []:  # e.g. scripts measured again after the whole run
        add(f"- **Note:** {note}")
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
            "memory.png": "Resident memory with a model loaded, against Cove's own estimate "
                          "of it (file, KV cache, fixed overhead).",
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
