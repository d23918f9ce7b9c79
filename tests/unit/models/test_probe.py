"""Trying a model file in a child process: real loads, damaged files, crashes and time-outs."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from cove.models import probe
from cove.models.gguf import ModelFileError, inspect_gguf
from cove.models.probe import ProbeCancelled, ProbeFailed, probe_model_file
from tests.hubserver import make_gguf

pytestmark = pytest.mark.real_model


def child_running(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Make the probe start `python -c code` instead of the real child."""
    monkeypatch.setattr(probe, "_probe_command", lambda path, *flags: [sys.executable, "-c", code])


def test_the_starter_model_passes(starter_model: Path) -> None:
    from cove.inference.cpu_check import shared_check

    # With the kernels the app would use: on a CPU that faults on the fast ones (AMX in some
    # VMs), the default would kill the child, as it would the app.
    result = probe_model_file(starter_model,
                              extra_buffers=shared_check().kernels().extra_buffers)
    assert result.path == starter_model.resolve()
    assert result.architecture == "llama"
    assert result.n_vocab == 49152
    assert result.context_length == 8192
    assert result.seconds > 0


def test_a_truncated_copy_fails_with_the_header_message(
    starter_model: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.gguf"
    with starter_model.open("rb") as source:
        cut.write_bytes(source.read(starter_model.stat().st_size // 2))
    with pytest.raises(ProbeFailed, match=r"cut\.gguf is incomplete"):
        probe_model_file(cut)


def test_a_file_that_passes_the_header_check_but_not_llama_cpp(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(make_gguf())
    inspect_gguf(fake)  # sound header: only llama.cpp can tell it is no model
    with pytest.raises(ProbeFailed, match=r"llama\.cpp could not load fake\.gguf") as caught:
        probe_model_file(fake)
    assert caught.value.exit_code == 0  # the child reported it; nothing crashed


def test_not_a_gguf_file_fails_without_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "notes.gguf"
    junk.write_bytes(b"this is not a model" * 100)
    monkeypatch.setattr(probe, "_probe_command",
                        lambda path, *flags: pytest.fail("a child started"))
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        probe_model_file(junk)


def test_a_hanging_child_is_killed_and_reported(
    starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_running(monkeypatch, "import time; time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match=r"gave up after 0\.5 seconds") as caught:
        probe_model_file(starter_model, timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.exit_code is None


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")
def test_a_crash_in_the_child_is_reported_with_its_signal(
    starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_running(monkeypatch, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(ProbeFailed) as caught:
        probe_model_file(starter_model)
    message = str(caught.value)
    assert "crashed on it (signal 11, SIGSEGV)" in message
    assert "damaged or made for a different program" in message
    assert caught.value.exit_code == -11


def test_cancel_stops_the_child(starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child_running(monkeypatch, "import time; time.sleep(60)")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProbeCancelled):
        probe_model_file(starter_model, cancel=cancel)
    assert time.monotonic() - started < 10


def test_the_child_is_offline_whatever_the_parent(
    starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    # A stand-in child that reports its own HF_HUB_OFFLINE as the "architecture".
    child_running(
        monkeypatch,
        "import json, os; print('noise from llama.cpp'); "
        f"print({probe.RESULT_MARKER!r} + json.dumps({{'ok': True, "
        "'architecture': os.environ['HF_HUB_OFFLINE'], 'n_vocab': 1, 'context_length': None}))",
    )
    assert probe_model_file(starter_model).architecture == "1"
