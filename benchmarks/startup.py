"""Start-up time: process start to Cove's window shown, and to the starter model ready.

Each start is a fresh child process; the parent notes the wall clock just before spawning it,
the child reports the wall clock at its window's first paint and when the model is ready.
The Cove child does what `python -m cove` does (offline environment, folders under a fresh
temporary home, logging, then cove.ui.app.start) without parsing a command line; only the
cache folder is carried from start to start, as an installed Cove keeps it, so the one-time
CPU check (cove.inference.cpu_check) runs in the unmeasured first start only. The same
run times a bare QApplication showing one empty QMainWindow, so the ratio says what Cove adds
on this machine. Targets: window under 1 s, and under 2x the bare window. Medians of a few
alternating starts, after one unmeasured start of each to warm the file cache and Python's
bytecode cache: an installed Cove runs compiled modules (pip compiles them as it installs, and
the frozen app holds nothing else), so the children may write __pycache__ even where this
shell says not to (PYTHONDONTWRITEBYTECODE, set on the project's machines); without that,
every start compiled Cove's 40-odd modules from source again, some 50 ms that no installed
Cove spends, while the bare window's PySide6 came compiled from its wheel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

KEPT_CACHE_ENV = "COVE_BENCH_KEPT_CACHE"  # a cache folder carried from start to start
TARGET_WINDOW_SECONDS = 1.0
TARGET_WINDOW_VS_BARE = 2.0


def child_main(kind: str) -> int:
    """Runs in the child: show the window, report times, quit once there is nothing to wait for."""
    marks: dict[str, Any] = {"imports_started": time.time()}
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "shown" not in marks:
                marks["shown"] = time.time()
                QTimer.singleShot(0, maybe_quit)
            return False

    def maybe_quit() -> None:
        if "shown" in marks and (kind == "bare" or "ready" in marks or "failed" in marks):
            window.close()
            QApplication.quit()

    painter = FirstPaint()
    home = ""
    if kind == "bare":
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = QMainWindow()
        window.installEventFilter(painter)
        window.resize(900, 700)
        window.show()
    else:
        os.environ["COVE_HOME"] = home = tempfile.mkdtemp(prefix="cove-startup-")
        # The CPU check's record, as a second start of an installed Cove finds it: the check
        # runs once per llama.cpp build and CPU, in the unmeasured first start.
        kept = os.environ.get(KEPT_CACHE_ENV)
        if kept:
            shutil.copytree(kept, Path(home) / "cache", dirs_exist_ok=True)
        from cove.cli.main import offline_environment
        from cove.logging_setup import setup_logging
        from cove.paths import app_paths

        offline_environment()
        paths = app_paths().ensure()
        setup_logging(paths.log_file)
        from cove.ui.app import start

        args = argparse.Namespace(smoke_test=None, model=None, max_tokens=None, seed=None,
                                  timeout=60)
        window, _smoke = start(args, paths)
        app = QApplication.instance()
        # start() has shown the window and queued the load; neither a paint nor the model's
        # ready signal can arrive before the event loop runs, so watching from here misses none.
        window.installEventFilter(painter)

        def on_ready(*_args: object) -> None:
            marks["ready"] = time.time()
            maybe_quit()

        def on_failed(message: str) -> None:
            marks["failed"] = message
            maybe_quit()

        window.controller.sig_model_ready.connect(on_ready)
        window.controller.sig_model_failed.connect(on_failed)
    QTimer.singleShot(60_000, QApplication.quit)
    app.exec()
    if kind == "cove":
        window.controller.shutdown()
        kept = os.environ.get(KEPT_CACHE_ENV)
        if kept:
            shutil.copytree(Path(home) / "cache", kept, dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
    common.emit(marks)
    return 0 if "shown" in marks and "failed" not in marks else 1


def one_start(kind: str, kept_cache: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind]
    env = {**common.child_env(), KEPT_CACHE_ENV: kept_cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules (docstring)
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                            env=env)
    if result.returncode != 0:
        raise common.ChildFailed(f"{kind} start failed: {common.tail(result.stderr, 600)}")
    marks = common.last_json_line(result.stdout)
    times = {"window": marks["shown"] - started,
             "interpreter": marks["imports_started"] - started}
    if "ready" in marks:
        times["ready"] = marks["ready"] - started
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two starts of each")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--child", choices=("bare", "cove"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child)
    starter = common.starter_model()
    if starter.path is None:
        common.emit({"benchmark": "startup", "skipped": starter.missing})
        return 0
    repeats = args.repeats or (2 if args.quick else 5)
    common.progress(f"startup: {repeats} starts each of Cove and a bare window")
    kept_cache = tempfile.mkdtemp(prefix="cove-startup-cache-")
    try:
        one_start("bare", kept_cache)  # warm the file cache for Qt and Python
        one_start("cove", kept_cache)  # and run the CPU check once, as a first start does
        bare: list[dict[str, float]] = []
        cove: list[dict[str, float]] = []
        for _ in range(repeats):
            bare.append(one_start("bare", kept_cache))
            cove.append(one_start("cove", kept_cache))
    finally:
        shutil.rmtree(kept_cache, ignore_errors=True)
    window = common.median([r["window"] for r in cove])
    bare_window = common.median([r["window"] for r in bare])
    ready = [r["ready"] for r in cove if "ready" in r]
    common.emit({
        "benchmark": "startup",
        "model": starter.path.name,
        "repeats": repeats,
        "window_seconds": round(window, 3),
        "model_ready_seconds": round(common.median(ready), 3) if ready else None,
        "bare_window_seconds": round(bare_window, 3),
        "window_vs_bare": round(window / bare_window, 3) if bare_window else None,
        "interpreter_seconds": round(common.median([r["interpreter"] for r in cove]), 3),
        "window_samples": [round(r["window"], 3) for r in cove],
        "bare_window_samples": [round(r["window"], 3) for r in bare],
        "target_window_seconds": TARGET_WINDOW_SECONDS,
        "target_window_vs_bare": TARGET_WINDOW_VS_BARE,
        "target_rules": {"target_window_seconds": "at_most", "target_window_vs_bare": "at_most"},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
