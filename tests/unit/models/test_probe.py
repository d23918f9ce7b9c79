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


LOOPING_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
)


def test_a_template_that_loops_for_ever_is_refused_at_import(tmp_path: Path) -> None:
    hostile = tmp_path / "loops.gguf"
    hostile.write_bytes(make_gguf(chat_template=LOOPING_TEMPLATE))
    started = time.monotonic()
    with pytest.raises(ProbeFailed) as caught:
        probe_model_file(hostile, timeout_s=60)
    assert time.monotonic() - started < 30
    assert str(caught.value) == (
        "The chat template in loops.gguf took too long to render (tried in a separate "
        "process); choose another model.")
    assert caught.value.exit_code == 0  # the child said so; nothing was killed


def test_a_template_that_builds_a_huge_string_is_refused_at_import(tmp_path: Path) -> None:
    hostile = tmp_path / "huge.gguf"
    hostile.write_bytes(make_gguf(chat_template="{% set s = 'x' * (2**31) %}{{ s }}"))
    with pytest.raises(ProbeFailed, match=r"chat template in huge\.gguf tried to build text "
                                          r"too large to render"):
        probe_model_file(hostile, timeout_s=60)


def test_the_real_models_pass_the_template_check_and_the_limits(starter_model: Path,
                                                                gemma_model: Path) -> None:
    from cove.inference.cpu_check import shared_check
    from cove.models.template_guard import render_chat_template

    template = inspect_gguf(starter_model).chat_template
    # What the child renders; the whole probe of both files is tested above and below.
    assert template and "Tell me a joke." in render_chat_template(template)
    assert inspect_gguf(gemma_model).chat_template is None
    # Gemma's 262k-token vocabulary makes it the larger load: it must fit the child's limits.
    result = probe_model_file(gemma_model, timeout_s=120,
                              extra_buffers=shared_check().kernels().extra_buffers)
    assert result.architecture == "gemma3"


LIMITED_CHILD = (
    "import sys; sys.path.insert(0, {root!r}); from cove.models import probe; "
    "probe._limit_resources(memory=probe._TEMPLATE_MEMORY, cpu_seconds=1, stage='template'); "
    "{work}"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_the_child_cannot_take_gigabytes(starter_model: Path, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    # What a template that slipped past the sandbox would meet: a MemoryError, not 2 GB.
    root = str(Path(probe.__file__).resolve().parents[2])
    child_running(monkeypatch, LIMITED_CHILD.format(root=root, work=(
        "import json\ntry:\n    b = bytearray(2**31)\nexcept MemoryError:\n"
        f"    print({probe.RESULT_MARKER!r} + json.dumps({{'ok': False, 'stage': 'template', "
        "'error': 'size'}))")))
    with pytest.raises(ProbeFailed, match="too large to render"):
        probe_model_file(starter_model, timeout_s=60)


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_CPU is POSIX")
def test_the_child_cannot_spin_for_ever(starter_model: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(Path(probe.__file__).resolve().parents[2])
    child_running(monkeypatch, LIMITED_CHILD.format(root=root, work=(
        "import itertools; any(False for _ in itertools.count())")))
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="took too long to render") as caught:
        probe_model_file(starter_model, timeout_s=60)
    assert time.monotonic() - started < 20
    # An answer, not a death by signal, which the CPU check would blame on the CPU.
    assert caught.value.exit_code == 0


def test_the_probe_child_cannot_reach_a_loopback_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import select
    import socket

    model = tmp_path / "model.gguf"
    model.write_bytes(make_gguf())
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # The real child entry (child_main), with its header check swapped for a connection
        # attempt: what a hostile file that ran code in the child would try first.
        command = probe._probe_command(model)
        code = command[command.index("-c") + 1]
        command[command.index("-c") + 1] = code.replace(
            "from cove.models.probe import child_main; ",
            "import socket; from cove.models import probe; "
            "probe.inspect_gguf = lambda path: socket.create_connection("
            f"('127.0.0.1', {port}), timeout=5); child_main = probe.child_main; ",
        )
        monkeypatch.setattr(probe, "_probe_command", lambda path, *flags: command)
        with pytest.raises(ProbeFailed) as caught:
            probe_model_file(model, timeout_s=60)
        assert "Cove blocked a network connection to 127.0.0.1" in caught.value.detail
        ready, _, _ = select.select([listener], [], [], 0.5)
        assert not ready, "the child connected to the listener"
    finally:
        listener.close()
