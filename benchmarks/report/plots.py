"""The report's plots (docs/img/*.png), drawn with matplotlib from the runs' results."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from report.report import Row, all_rows, fmt, is_number, results_of, rows_for

PLOT_NAMES = ("tokens_per_second.png", "ttft_vs_turns.png", "ui_stalls.png", "memory.png",
              "storage_scale.png", "targets.png")


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
    """Cove's estimate, in its parts, beside the resident memory measured after a reply."""
    result = results_of(runs, "memory")
    entries = [e for e in (result or {}).get("models", []) if "rss_after_reply_mb" in e]
    if not entries:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.2))
    parts = (("file_mb", "model file", "#4c72b0"), ("kv_cache_mb", "KV cache", "#8172b3"),
             ("overhead_mb", "fixed overhead", "#ccb974"))
    xs = range(len(entries))
    bottom = [0.0] * len(entries)
    for key, label, colour in parts:
        values = [float(e.get(key) or 0) for e in entries]
        axis.bar([x - 0.2 for x in xs], values, 0.38, bottom=bottom,
                 label=f"Cove's estimate: {label}", color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.bar([x + 0.2 for x in xs], [e["rss_after_reply_mb"] for e in entries], 0.38,
             label="measured RSS after a reply", color="#55a868")
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
        keys = [k for k in series[0] if all(is_number(e.get(k)) for e in series)]
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
            if is_number(r.value) and r.figure.endswith("_ms") and r.value > 0]
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
                        if is_number(result.get(k)))
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
