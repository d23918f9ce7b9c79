"""All of a model's llama.cpp work runs on the worker's one thread.

llama.cpp (built with OpenMP, as llama-cpp-python builds it on Linux) waits at the barriers
between the operations of a token by spinning, but libgomp spins only 1,000 times once it
manages more threads than there are CPUs, and then sleeps. Every thread that starts
llama.cpp work gets a team of its own that outlives the work, so a model run from a second
thread (loaded on one thread and run on another, or warmed up on the GUI thread) sleeps
and wakes at every barrier: measured here, about 280 context switches a token and 8 to 12%
slower generation. The worker loads and runs its model on its own QThread only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import glob, os, sys
from PySide6.QtCore import QCoreApplication, QEventLoop
from cove.inference.engine import Engine, GenerationParams, LoadOptions
from cove.inference.worker import WorkerHost

def waits():
    # Every thread's voluntary context switches: a thread that sleeps and is woken.
    total = 0
    for status in glob.glob(f"/proc/{os.getpid()}/task/*/status"):
        try:
            with open(status) as file:
                text = file.read()
        except OSError:  # the thread ended
            continue
        total += int(text.split("voluntary_ctxt_switches:")[1].split()[0])
    return total

model, elsewhere_first = sys.argv[1], sys.argv[2] == "1"
app = QCoreApplication([])
ask = [{"role": "user", "content": "Tell me a long story about a fox."}]
if elsewhere_first:  # llama.cpp run on this thread first: what the worker must never do
    engine = Engine(model, LoadOptions(n_ctx=512))
    engine.load()
    "".join(engine.stream_chat(ask, GenerationParams(max_tokens=4, seed=1)))
host = WorkerHost()
loop = QEventLoop()
host.sig_loaded.connect(loop.quit)
host.sig_load_failed.connect(lambda message: (print(message), loop.quit()))
host.load(model, LoadOptions(n_ctx=1024))
loop.exec()
finished = []
host.sig_finished.connect(lambda _rid, stats, _stopped: (finished.append(stats), loop.quit()))
host.sig_failed.connect(lambda _rid, message: (print(message), loop.quit()))
before = waits()
host.generate(ask, GenerationParams(max_tokens=64, seed=1))
loop.exec()
print(finished[0].tokens, waits() - before)
host.shutdown()
"""


def _waits_per_token(model: Path, elsewhere_first: bool) -> float:
    result = subprocess.run([sys.executable, "-c", CHILD, str(model),
                             "1" if elsewhere_first else "0"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    tokens, waits = (int(word) for word in result.stdout.split()[-2:])
    assert tokens >= 32
    return waits / tokens


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_reply_keeps_llama_cpps_threads_spinning(starter_model: Path) -> None:
    from cove.inference.engine import physical_cores

    assert _waits_per_token(starter_model, elsewhere_first=False) < 5
    # The measure tells the difference: run from a second thread, every barrier sleeps
    # (where libgomp's teams outnumber the CPUs: no spare hyper-threads).
    if os.cpu_count() == physical_cores():
        assert _waits_per_token(starter_model, elsewhere_first=True) > 50
