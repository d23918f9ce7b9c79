"""The engine with the real starter model: streaming, cancel, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cove.inference.engine import Engine, EngineError, GenerationParams, LoadOptions, physical_cores

ASK = [{"role": "user", "content": "Name three colours."}]


def test_streams_non_empty_text_with_stats(real_engine: Engine) -> None:
    stream = real_engine.stream_chat(ASK, GenerationParams(max_tokens=24, seed=1))
    chunks = list(stream)
    assert len(chunks) > 1
    assert "".join(chunks).strip()
    assert stream.text == "".join(chunks)
    stats = stream.stats
    assert stats is not None and stats.model == "SmolLM2-135M-Instruct.Q4_1"
    assert 0 < stats.tokens <= 24
    assert stats.tokens_per_second > 0
    assert 0 < stats.ttft_seconds <= stats.seconds
    assert not stream.stopped


def test_same_seed_same_reply(real_engine: Engine) -> None:
    params = GenerationParams(max_tokens=16, seed=7, temperature=0.8)
    first = "".join(real_engine.stream_chat(ASK, params))
    second = "".join(real_engine.stream_chat(ASK, params))
    assert first == second


def test_cancel_stops_within_a_second(real_engine: Engine) -> None:
    cancel = threading.Event()
    prompt = [{"role": "user", "content": "Write a very long story about the sea."}]
    stream = real_engine.stream_chat(prompt, GenerationParams(max_tokens=1500, seed=3), cancel)
    stopped_at = None
    count = 0
    for _chunk in stream:
        count += 1
        if count == 3:
            cancel.set()
            stopped_at = time.perf_counter()
    assert stopped_at is not None
    assert time.perf_counter() - stopped_at < 1.0
    assert stream.stopped
    assert count == 3


def test_bad_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        Engine(tmp_path / "missing.gguf").load()


def test_non_gguf_file_never_reaches_llama(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model " * 100)
    with pytest.raises(EngineError, match="not a GGUF model file"):
        Engine(fake).load()


def test_truncated_gguf_is_a_clear_error(tmp_path: Path, starter_model: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with starter_model.open("rb") as source:
        cut.write_bytes(source.read(2_000_000))
    with pytest.raises(EngineError, match=r"cut\.gguf is damaged.*Download it again"):
        Engine(cut).load()


def test_prompt_longer_than_context_is_a_clear_error(starter_model: Path) -> None:
    engine = Engine(starter_model, LoadOptions(n_ctx=256))
    engine.load()
    try:
        huge = [{"role": "user", "content": "word " * 2000}]
        with pytest.raises(EngineError, match="model can read only"):
            engine.stream_chat(huge, GenerationParams(max_tokens=32))
        # The engine still works afterwards.
        assert "".join(engine.stream_chat(ASK, GenerationParams(max_tokens=8, seed=1)))
    finally:
        engine.close()


def test_load_progress_reported_and_can_abort(starter_model: Path) -> None:
    seen: list[float] = []
    engine = Engine(starter_model, LoadOptions(n_ctx=256))
    engine.load(lambda value: seen.append(value) or True)
    engine.close()
    assert seen and seen[-1] == pytest.approx(1.0)
    assert not engine.loaded

    from cove.inference.engine import LoadCancelled

    with pytest.raises(LoadCancelled):
        Engine(starter_model, LoadOptions(n_ctx=256)).load(lambda _value: False)


def test_threads_default_to_physical_cores() -> None:
    assert LoadOptions().threads() == physical_cores() >= 1
    assert LoadOptions(n_threads=3).threads() == 3


def test_model_without_template_gets_a_builtin_format(gemma_model: Path) -> None:
    engine = Engine(gemma_model, LoadOptions(n_ctx=512))
    engine.load()
    try:
        assert engine.chat_format_label.startswith("Gemma")
        reply = "".join(engine.stream_chat(ASK, GenerationParams(max_tokens=12, seed=1)))
        assert reply.strip()
    finally:
        engine.close()


def test_a_system_prompt_reaches_gemma_inside_its_first_turn(gemma_model: Path) -> None:
    engine = Engine(gemma_model, LoadOptions(n_ctx=512))
    engine.load()
    try:
        seen: list[list[dict[str, str]]] = []
        real = engine._formatter

        def watching(**kwargs: Any) -> Any:  # the real formatter, watched
            seen.append(kwargs["messages"])
            return real(**kwargs)

        engine._formatter = watching
        system = [{"role": "system", "content": "Answer in French."}]
        reply = "".join(engine.stream_chat(system + ASK, GenerationParams(max_tokens=8, seed=1)))
        assert reply.strip()
        assert [m["role"] for m in seen[0]] == ["user"]
        assert seen[0][0]["content"].startswith("Answer in French.\n\n")
    finally:
        engine.close()


def test_starter_uses_its_own_template(real_engine: Engine) -> None:
    assert real_engine.chat_format_label == "Model's own template"


LOOPING_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
)


def test_a_chat_template_that_loops_for_ever_fails_the_reply_quickly(
    starter_model: Path, tmp_path: Path
) -> None:
    from tests.unit.models.retemplate import with_chat_template

    hostile = with_chat_template(starter_model, tmp_path / "loops.gguf", LOOPING_TEMPLATE)
    engine = Engine(hostile, LoadOptions(n_ctx=512))
    engine.load()
    try:
        assert engine.chat_format is None  # the file's own template, as for any model
        started = time.monotonic()
        with pytest.raises(EngineError) as caught:
            list(engine.stream_chat(ASK, GenerationParams(max_tokens=4)))
        assert time.monotonic() - started < 10
        assert str(caught.value) == (
            "The model's chat template took too long to render; choose another model.")
    finally:
        engine.close()


def test_a_chat_template_that_builds_a_huge_string_costs_no_gigabytes(
    starter_model: Path, tmp_path: Path
) -> None:
    import resource

    from tests.unit.models.retemplate import with_chat_template

    hostile = with_chat_template(starter_model, tmp_path / "huge.gguf",
                                 "{% set s = 'x' * (2**31) %}{{ s }}")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    engine = Engine(hostile, LoadOptions(n_ctx=512))
    engine.load()  # llama-cpp-python's own Jinja would fold the 2 GB string while compiling
    try:
        with pytest.raises(EngineError, match="tried to build text too large to render"):
            list(engine.stream_chat(ASK, GenerationParams(max_tokens=4)))
    finally:
        engine.close()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 500


def test_a_tokenize_error_quoting_the_prompt_becomes_a_sentence_without_it(
    real_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-9d41-secret-prompt"

    def failing_tokenize(text: bytes, *args: Any, **kwargs: Any) -> list[int]:
        # llama-cpp-python's own message when tokenizing fails quotes the text.
        raise RuntimeError(f'Failed to tokenize: text="{text!r}" n_tokens=-1')

    monkeypatch.setattr(real_engine._llm, "tokenize", failing_tokenize)
    with pytest.raises(EngineError) as caught:
        real_engine.stream_chat([{"role": "user", "content": canary}], GenerationParams())
    assert canary not in str(caught.value)
    assert "internal error (RuntimeError)" in str(caught.value)
