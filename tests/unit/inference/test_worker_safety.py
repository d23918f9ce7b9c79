"""The worker's failures: no prompt text in the log, and no abort when a thread will not stop."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams, LoadOptions
from cove.inference.worker import WorkerHost

CANARY = "canary-51c7-typed-by-a-person"


def test_an_error_quoting_the_prompt_never_reaches_the_log(
    qtbot: QtBot, starter_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_file = tmp_path / "cove.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    cove_log = logging.getLogger("cove")
    cove_log.addHandler(handler)
    host = WorkerHost()
    try:
        with qtbot.waitSignal(host.sig_loaded, timeout=60_000):
            host.load(starter_model, LoadOptions(n_ctx=512))
        llm = host.worker._engine._llm  # type: ignore[union-attr]

        def failing_tokenize(text: bytes, *args: object, **kwargs: object) -> list[int]:
            # llama-cpp-python's own message when tokenizing fails quotes the text.
            raise RuntimeError(f'Failed to tokenize: text="{text!r}" n_tokens=-1')

        llm.tokenize = failing_tokenize
        with caplog.at_level(logging.DEBUG), \
                qtbot.waitSignal(host.sig_failed, timeout=30_000) as failed:
            host.generate([{"role": "user", "content": CANARY}], GenerationParams(max_tokens=4))
    finally:
        assert host.shutdown()
        cove_log.removeHandler(handler)
        handler.close()
    assert CANARY not in failed.args[1]
    assert "RuntimeError" in failed.args[1]  # the person is told something went wrong
    records = [r for r in caplog.records if r.name.startswith("cove")]
    assert any("RuntimeError" in r.getMessage() for r in records)
    for record in records:
        formatted = logging.Formatter().format(record)
        assert CANARY not in formatted
    assert CANARY not in log_file.read_text(encoding="utf-8")
    assert "RuntimeError" in log_file.read_text(encoding="utf-8")


STUCK_WORKER = textwrap.dedent("""
    import threading, time
    from PySide6.QtCore import QCoreApplication
    from cove.inference.engine import GenerationParams
    from cove.inference.worker import WorkerHost

    app = QCoreApplication([])
    started = threading.Event()

    class StuckEngine:
        # Like llama.cpp rendering or decoding in native code: it never looks at cancel.
        name, n_ctx, chat_format_label, kernels_summary = "stuck", 512, "", ""

        def __init__(self, path, options):
            pass

        def load(self, on_progress=None):
            pass

        def stream_chat(self, messages, params, cancel=None):
            started.set()
            time.sleep(30)
            return iter(())

        def close(self):
            pass

    host = WorkerHost(StuckEngine)
    host.load("stuck.gguf")
    host.generate([{"role": "user", "content": "hi"}], GenerationParams())
    if not started.wait(20):
        raise SystemExit("the reply never started")
    print("stopped in time:", host.shutdown(timeout_ms=200), flush=True)
    del host  # what the window's teardown does to it
    app.quit()
""")


def test_a_thread_that_will_not_stop_ends_the_app_cleanly_not_with_an_abort(
    tmp_path: Path,
) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_WORKER, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**_env(), "QT_QPA_PLATFORM": "offscreen"})
    assert "stopped in time: False" in done.stdout
    assert "Destroyed while thread" not in done.stderr
    assert "the model was still working when Cove closed" in done.stderr
    assert done.returncode == 1  # an exit, not an abort (-6); not success either


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
