"""The longest stalls of the GUI event loop while a real reply streams at full speed.

A 5 ms QTimer measures how late it fires; lateness is how long the loop was busy elsewhere.
Prints one JSON line. Targets: 99th percentile under 16 ms, worst under 50 ms. The line also
carries the distribution (percentiles and a histogram of stalls) for the report's plot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from cove.inference.engine import GenerationParams, LoadOptions
from cove.models.starter import starter_model_path
from cove.ui import theme
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow

TICK_MS = 5
HISTOGRAM_EDGES_MS = [0, 1, 2, 4, 8, 16, 32, 50, 100, 200]
PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9]
PROMPT = "Write a long answer in Markdown with headings, lists and code about sorting."


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def histogram(values: list[float], edges: list[float]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin takes everything from edges[-1] up."""
    counts = [0] * len(edges)
    for value in values:
        index = 0
        while index + 1 < len(edges) and value >= edges[index + 1]:
            index += 1
        counts[index] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=600)
    parser.add_argument("--replies", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one reply of 120 tokens")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.replies = min(args.tokens, 120), 1
    model = args.model or str(starter_model_path() or "")
    if not model:
        print(json.dumps({"error": "starter model not installed"}))
        return 1
    _app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply("light")  # the look people see: palette, style sheet, highlighted code
    controller = ChatController(params=GenerationParams(max_tokens=args.tokens, seed=11),
                                load_options=LoadOptions(n_ctx=4096))
    window = MainWindow(controller)
    window.resize(900, 700)
    window.show()
    loop = QEventLoop()
    controller.sig_model_ready.connect(loop.quit)
    controller.sig_model_failed.connect(lambda message: (print(message), loop.quit()))
    controller.load_model(model)
    loop.exec()

    lateness: list[float] = []
    last = [time.perf_counter()]
    measuring = [False]

    def tick() -> None:
        now = time.perf_counter()
        if measuring[0]:
            lateness.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    tokens = 0
    rates = []
    for _ in range(args.replies):
        done = QEventLoop()
        controller.sig_reply_finished.connect(done.quit)
        controller.sig_reply_failed.connect(done.quit)
        window.composer.set_text(PROMPT)
        last[0] = time.perf_counter()
        measuring[0] = True
        window.composer.send_button.click()
        done.exec()
        measuring[0] = False
        controller.sig_reply_finished.disconnect(done.quit)
        controller.sig_reply_failed.disconnect(done.quit)
        reply = controller.last_reply()
        if reply is not None and reply.stats is not None:
            tokens += reply.stats.tokens
            rates.append(reply.stats.tokens_per_second)
    timer.stop()
    window.close()
    print(json.dumps({
        "benchmark": "ui_latency",
        "samples": len(lateness),
        "tokens": tokens,
        "tokens_per_second": round(sum(rates) / len(rates), 2) if rates else 0.0,
        "p50_stall_ms": round(percentile(lateness, 0.50), 2),
        "p99_stall_ms": round(percentile(lateness, 0.99), 2),
        "max_stall_ms": round(max(lateness, default=0.0), 2),
        "stall_percentiles_ms": {str(p): round(percentile(lateness, p / 100), 2)
                                 for p in PERCENTILES},
        "stall_histogram_ms": {"edges": HISTOGRAM_EDGES_MS,
                               "counts": histogram(lateness, HISTOGRAM_EDGES_MS)},
        "target_p99_ms": 16,
        "target_max_ms": 50,
        "target_rules": {"target_p99_ms": "at_most", "target_max_ms": "at_most"},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
