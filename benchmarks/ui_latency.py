"""The longest stalls of the GUI event loop while a real reply streams at full speed.

A 5 ms QTimer measures how late it fires; lateness is how long the loop was busy elsewhere.
Prints one JSON line. Targets: 99th percentile under 16 ms, worst under 50 ms. The line also
carries the distribution (percentiles and a histogram of stalls) for the report's plot.

Then, with the timer stopped, what drawing the reply costs the model: side-by-side turns of a
reply in the window (a new conversation each time) and the same request to the worker alone
(the window ignores it), every other turn in reverse order. `window_vs_worker_tg` is the median
of the turns' generation-rate ratios; `gui_ms_per_reply` is the GUI thread's CPU time per
reply on each path. Where llama.cpp's threads take every core, the GUI thread's time comes out
of theirs. A figure to watch, not a target.

In those turns, `window_handoff_share_percent` (and the worker's): the share of each
reply's time in which the worker's token loop was out of its C code (the Python that hands
the text on, and any wait for the GIL), the mean over each path's turns. The GUI thread
drawing the reply must not hold the worker up there: target for the window, at most 1% (a
flush that started as the worker handed text on made it 2.5 to 3% in some replies).

Last, what a write of streamed text costs the window as a reply grows: a long Markdown
reply (headings, paragraphs, lists, code) written into the chat a piece at a time, as the
controller writes it, each write's GUI time counted until the window is idle again.
`long_reply_write_growth` is the mean over the last fifth of the writes divided by the
first fifth's. Target: at most 2 (the chat lays out again only the paragraph the text goes
into; laying the whole reply out again made it 3.4).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from cove.core.conversation import Message, MessageState, Role
from cove.inference.engine import GenerationParams, LoadOptions
from cove.models.starter import starter_model_path
from cove.ui import theme
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow

TICK_MS = 5
HISTOGRAM_EDGES_MS = [0, 1, 2, 4, 8, 16, 32, 50, 100, 200]
PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9]
PROMPT = "Write a long answer in Markdown with headings, lists and code about sorting."
TARGET_WRITE_GROWTH = 2.0
TARGET_HANDOFF_SHARE = 1.0  # percent of a reply's time, in the window
WRITE_CHARS = 16  # about the text of one hand-off (four tokens) from the engine
_PARAGRAPH = ("Sorting puts items in order, and Python offers **two** tools for it: "
              "`sorted()` and `list.sort()`, which differ in whether they copy. ")
LONG_MARKDOWN = "".join(
    f"## Part {number}\n\n{_PARAGRAPH * 3}\n\n- one point\n- another point\n\n"
    f"```python\nitems.sort(key=len)  # part {number}\n```\n\n" for number in range(12))


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


def ask_in_window(controller: ChatController, window: MainWindow,
                  sending: Callable[[], None] | None = None) -> Message | None:
    """PROMPT sent from the composer, as a person sends it; returns the reply once it ended.
    `sending` runs just before the send."""
    done = QEventLoop()
    controller.sig_reply_finished.connect(done.quit)
    controller.sig_reply_failed.connect(done.quit)
    window.composer.set_text(PROMPT)
    if sending is not None:
        sending()
    window.composer.send_button.click()
    done.exec()
    controller.sig_reply_finished.disconnect(done.quit)
    controller.sig_reply_failed.disconnect(done.quit)
    return controller.last_reply()


class LoopCalls:
    """When each call of the worker's C token loop (decode._sampling.run) began and ended,
    recorded by standing in for the module; between two calls the loop is in Python."""

    def __init__(self) -> None:
        from cove.inference import decode

        self.calls: list[tuple[float, float]] = []
        self._decode, self._module = decode, decode._sampling
        if self._module is None:
            return
        module, calls = self._module, self.calls

        class Recording:
            def __getattr__(self, name: str) -> Any:
                return getattr(module, name)

            @staticmethod
            def run(*args: Any) -> Any:
                started = time.perf_counter()
                result = module.run(*args)
                calls.append((started, time.perf_counter()))
                return result

        decode._sampling = Recording()

    def close(self) -> None:
        self._decode._sampling = self._module

    def share(self) -> float | None:
        """Percent of the time from the first call to the last spent between calls (the
        first call, which reads the prompt's last token first, is left out); then clears.
        None where the loop is not the compiled one, or made fewer than three calls."""
        calls, self.calls[:] = self.calls[1:], []
        if len(calls) < 2:
            return None
        between = sum(later[0] - earlier[1] for earlier, later in itertools.pairwise(calls))
        return round(100 * between / (calls[-1][1] - calls[0][0]), 3)


def side_by_side(controller: ChatController, window: MainWindow,
                 pairs: int) -> list[dict[str, float]]:
    """Turns of one reply in the window and the same request to the worker alone; each
    path's generation rate, the GUI thread's CPU time (ms) over it and the share of the
    reply's time the token loop spent out of C (LoopCalls)."""
    host = controller.host
    sent: dict[str, object] = {}
    generate = host.generate

    def recording(messages: list[dict[str, str]], params: GenerationParams,
                  conversation_id: str = "") -> int:
        sent["messages"], sent["params"] = messages, params
        return generate(messages, params, conversation_id)

    host.generate = recording  # type: ignore[method-assign]

    def in_window() -> float:
        controller.new_conversation()  # the same context length every turn
        reply = ask_in_window(controller, window)
        return reply.stats.tokens_per_second if reply and reply.stats else 0.0

    def worker_alone() -> float:
        done = QEventLoop()
        stats: list[object] = []
        request = 0

        def finished(request_id: int, reply_stats: object, _stopped: bool) -> None:
            if request_id == request:
                stats.append(reply_stats)
                done.quit()

        host.sig_finished.connect(finished)
        request = generate(sent["messages"], sent["params"])  # type: ignore[arg-type]
        done.exec()
        host.sig_finished.disconnect(finished)
        return float(getattr(stats[0], "tokens_per_second", 0.0)) if stats else 0.0

    turns = []
    loop = LoopCalls()
    try:
        for index in range(pairs):
            order = ("window", "worker") if index % 2 == 0 or not sent else ("worker", "window")
            turn: dict[str, float] = {}
            for path in order:
                loop.share()  # from this reply on
                started = time.thread_time()
                turn[path] = round(in_window() if path == "window" else worker_alone(), 2)
                turn[f"{path}_gui_ms"] = round((time.thread_time() - started) * 1000, 1)
                share = loop.share()
                if share is not None:
                    turn[f"{path}_handoff_share"] = share
            turns.append(turn)
    finally:
        loop.close()
        del host.generate
    return turns


def mean_of(turns: list[dict[str, float]], key: str) -> float | None:
    """The mean of `key` over the turns that have it (None where none has)."""
    values = [turn[key] for turn in turns if key in turn]
    return round(statistics.mean(values), 3) if values else None


def long_reply_writes(controller: ChatController, window: MainWindow) -> dict[str, float]:
    """LONG_MARKDOWN written into a new conversation WRITE_CHARS at a time, as streamed text
    arrives; the GUI thread's time for each write until the window is idle again."""
    controller.new_conversation()
    model = controller.model
    model.append(Message(Role.USER, PROMPT))
    row = model.append(Message(Role.ASSISTANT, "", model="benchmark",
                               state=MessageState.STREAMING))
    window.repaint()
    times = []
    for start in range(0, len(LONG_MARKDOWN), WRITE_CHARS):
        started = time.thread_time()
        model.append_text(row, LONG_MARKDOWN[start:start + WRITE_CHARS])
        QApplication.processEvents()  # the layout the write asked for, then the repaint
        QApplication.processEvents()
        times.append(time.thread_time() - started)
    model.finish(row, MessageState.DONE)
    fifth = max(1, len(times) // 5)
    early = statistics.mean(times[:fifth]) * 1000
    late = statistics.mean(times[-fifth:]) * 1000
    return {"writes": len(times), "chars": len(LONG_MARKDOWN), "early_ms": round(early, 3),
            "late_ms": round(late, 3), "growth": round(late / early, 3) if early else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=600)
    parser.add_argument("--replies", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=4,
                        help="side-by-side turns of the window and the worker alone")
    parser.add_argument("--quick", action="store_true", help="one reply of 120 tokens")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.replies, args.pairs = min(args.tokens, 120), 1, 1
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
    def start_measuring() -> None:
        last[0] = time.perf_counter()
        measuring[0] = True

    for _ in range(args.replies):
        reply = ask_in_window(controller, window, start_measuring)
        measuring[0] = False
        if reply is not None and reply.stats is not None:
            tokens += reply.stats.tokens
            rates.append(reply.stats.tokens_per_second)
    timer.stop()
    turns = side_by_side(controller, window, args.pairs)
    writes = long_reply_writes(controller, window)
    window.close()
    ratios = [turn["window"] / turn["worker"] for turn in turns
              if turn.get("window") and turn.get("worker")]
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
        "window_vs_worker_tg": round(statistics.median(ratios), 4) if ratios else None,
        "gui_ms_per_reply": {path: round(statistics.median(
            [turn[f"{path}_gui_ms"] for turn in turns]), 1) if turns else None
            for path in ("window", "worker")},
        "side_by_side_samples": turns,
        **{f"{path}_handoff_share_percent": mean_of(turns, f"{path}_handoff_share")
           for path in ("window", "worker")},
        "long_reply_write_ms": {"early": writes["early_ms"], "late": writes["late_ms"]},
        "long_reply_writes": writes["writes"],
        "long_reply_write_growth": writes["growth"],
        "target_p99_ms": 16,
        "target_max_ms": 50,
        "target_long_reply_write_growth": TARGET_WRITE_GROWTH,
        "target_window_handoff_share_percent": TARGET_HANDOFF_SHARE,
        "target_rules": {"target_p99_ms": "at_most", "target_max_ms": "at_most",
                         "target_long_reply_write_growth": "at_most",
                         "target_window_handoff_share_percent": "at_most"},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
