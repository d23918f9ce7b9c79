"""LlmWorker on its own thread, with the real starter model and with a fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams, LoadOptions
from cove.inference.worker import WorkerHost
from tests.fakes import fake_factory

ASK = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def host() -> Iterator[WorkerHost]:
    host = WorkerHost()
    yield host
    assert host.shutdown()


def test_real_model_loads_streams_and_finishes(qtbot: QtBot, host: WorkerHost,
                                               starter_model: Path) -> None:
    progress: list[float] = []
    host.sig_load_progress.connect(progress.append)
    with qtbot.waitSignal(host.sig_loaded, timeout=60_000) as loaded:
        host.load(starter_model, LoadOptions(n_ctx=1024))
    name, n_ctx, chat_format, kernels = loaded.args
    assert (name, n_ctx, chat_format) == ("SmolLM2-135M-Instruct.Q4_1", 1024,
                                          "Model's own template")
    assert kernels.startswith(("Fast CPU kernels are on: this CPU ran them",
                               "Fast AMX kernels are off", "Fast CPU kernels are off"))
    assert progress and max(progress) == pytest.approx(1.0)

    chunks: list[str] = []
    host.sig_chunk.connect(lambda _rid, text: chunks.append(text))
    with qtbot.waitSignal(host.sig_finished, timeout=60_000) as finished:
        request = host.generate(ASK, GenerationParams(max_tokens=24, seed=1))
    rid, stats, stopped = finished.args
    assert rid == request and not stopped
    assert "".join(chunks).strip()
    assert stats.tokens > 0 and stats.tokens_per_second > 0


def test_real_model_cancel(qtbot: QtBot, host: WorkerHost, starter_model: Path) -> None:
    with qtbot.waitSignal(host.sig_loaded, timeout=60_000):
        host.load(starter_model, LoadOptions(n_ctx=1024))
    chunks: list[str] = []

    def on_chunk(rid: int, text: str) -> None:
        chunks.append(text)
        if len(chunks) == 2:
            host.cancel(rid)

    host.sig_chunk.connect(on_chunk)
    story = [{"role": "user", "content": "Tell a long story."}]
    with qtbot.waitSignal(host.sig_finished, timeout=10_000) as finished:
        host.generate(story, GenerationParams(max_tokens=1000, seed=2))
    assert finished.args[2] is True
    assert len(chunks) < 100


def test_bad_model_path_fails_with_message(qtbot: QtBot, host: WorkerHost,
                                           tmp_path: Path) -> None:
    with qtbot.waitSignal(host.sig_load_failed, timeout=10_000) as failed:
        host.load(tmp_path / "absent.gguf")
    assert "does not exist" in failed.args[0]


def test_generate_without_model_fails_cleanly(qtbot: QtBot, host: WorkerHost) -> None:
    with qtbot.waitSignal(host.sig_failed, timeout=5_000) as failed:
        host.generate(ASK, GenerationParams())
    assert "No model is loaded" in failed.args[1]


def test_cancel_before_start_is_honoured(qtbot: QtBot, tmp_path: Path) -> None:
    host = WorkerHost(fake_factory(chunks=["a"] * 50, delay=0.01))
    try:
        with qtbot.waitSignal(host.sig_loaded):
            host.load(tmp_path / "fake.gguf")
        chunks: list[str] = []
        host.sig_chunk.connect(lambda _rid, text: chunks.append(text))
        request = host._next_request + 1
        host.cancel(request)  # the user pressed Stop before the worker picked it up
        with qtbot.waitSignal(host.sig_finished) as finished:
            assert host.generate(ASK, GenerationParams()) == request
        assert finished.args[2] is True
        assert chunks == []
    finally:
        assert host.shutdown()


def test_shutdown_mid_reply_is_quick_and_frees_the_model(qtbot: QtBot, tmp_path: Path) -> None:
    factory = fake_factory(chunks=["x"] * 10_000, delay=0.01)
    host = WorkerHost(factory)
    with qtbot.waitSignal(host.sig_loaded):
        host.load(tmp_path / "fake.gguf")
    with qtbot.waitSignal(host.sig_chunk):
        host.generate(ASK, GenerationParams())
    assert host.shutdown(timeout_ms=2_000)
    assert not host.thread.isRunning()
    assert factory.made[0].closed  # type: ignore[attr-defined]
