"""The RAM-only cache of conversation states: bounded, wiped, never on disk."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.inference.engine import Engine, GenerationParams, LoadOptions
from cove.inference.state_cache import MIB, CachedState, StateCache

REPLY = GenerationParams(max_tokens=12, seed=4)


def state(tokens: tuple[int, ...], size: int, key: str | None = None,
          fill: int = 7) -> CachedState:
    data = (ctypes.c_uint8 * size)()
    ctypes.memset(data, fill, size)
    return CachedState(tokens, data, key)


# The cache's own rules -----------------------------------------------------------------------


def test_the_oldest_states_go_when_the_budget_is_reached() -> None:
    cache = StateCache(budget_bytes=250)
    first, second, third = state((1, 2), 100), state((3, 4), 100), state((5, 6), 100)
    for entry in (first, second, third):
        assert cache.put(entry)
    assert cache.entries() == [third, second]
    assert cache.bytes_used == 200 <= cache.budget_bytes
    assert bytes(first.data) == bytes(100)  # the evicted state was overwritten
    cache.set_budget(150)
    assert cache.entries() == [third]


def test_a_state_over_the_whole_budget_is_not_kept() -> None:
    cache = StateCache(budget_bytes=50)
    big = state((1,), 100)
    assert not cache.put(big)
    assert len(cache) == 0 and bytes(big.data) == bytes(100)


def test_a_newer_state_of_the_same_conversation_replaces_the_older() -> None:
    cache = StateCache(budget_bytes=1000)
    cache.put(state((1, 2, 3), 10))
    cache.put(state((9, 9), 10, key="b"))
    longer = state((1, 2, 3, 4, 5), 10)
    cache.put(longer)  # extends the first: the same conversation, grown
    renamed = state((8, 8), 10, key="b")
    cache.put(renamed)  # the same conversation id
    assert cache.entries() == [renamed, longer]


def test_take_returns_the_state_sharing_the_longest_prefix() -> None:
    cache = StateCache(budget_bytes=1000)
    a, b = state((1, 2, 3, 4), 10), state((1, 2, 7, 8, 9), 10)
    cache.put(a)
    cache.put(b)
    assert cache.take((1, 2, 3, 4, 5), better_than=4) is None  # the live cache shares as much
    assert cache.take((1, 2, 3, 4, 5)) is a
    assert cache.entries() == [b]


def test_wipe_overwrites_every_state_and_empties_the_cache() -> None:
    cache = StateCache(budget_bytes=1000)
    kept = [state((i,), 64, fill=0x5A) for i in range(3)]
    for entry in kept:
        cache.put(entry)
    cache.wipe()
    assert len(cache) == 0 and cache.bytes_used == 0 and cache.entries() == []
    assert all(bytes(entry.data) == bytes(64) for entry in kept)


# With the real model -------------------------------------------------------------------------


@contextlib.contextmanager
def loaded(path: Path, n_ctx: int) -> Iterator[Engine]:
    engine = Engine(path, LoadOptions(n_ctx=n_ctx))
    engine.load()
    try:
        yield engine
    finally:
        engine.close()


def play(engine: Engine, conversation: list[dict[str, str]], question: str,
         conversation_id: str | None = None) -> int:
    """One turn; returns how many prompt tokens the KV cache already held."""
    conversation.append({"role": "user", "content": question})
    stream = engine.stream_chat(conversation, REPLY, conversation_id=conversation_id)
    conversation.append({"role": "assistant", "content": "".join(stream)})
    return stream.generation.reused_tokens


@pytest.mark.parametrize("named", [False, True], ids=["by-tokens", "by-id"])
def test_switching_back_resumes_without_reading_the_conversation_again(
        starter_model: Path, named: bool) -> None:
    with loaded(starter_model, 2048) as engine:
        a: list[dict[str, str]] = []
        b: list[dict[str, str]] = []
        for turn in range(4):
            play(engine, a, f"Tell me fact number {turn} about lighthouses.",
                 "a" if named else None)
        long_question = "Which of these words names a fish? " + ", ".join(
            ["cod", "oak", "elm", "ash", "yew", "fir"] * 8)  # long enough to be worth keeping
        play(engine, b, long_question, "b" if named else None)
        assert len(engine.state_cache) == 1  # A's state, kept while B ran
        assert engine.state_cache.bytes_used <= engine.state_cache.budget_bytes
        before = engine.stream_chat([*a, {"role": "user", "content": "x"}], REPLY)
        list(before)  # A is back: nearly all of its prompt came from the cache
        run = before.generation
        assert run.prompt_tokens > 100 and run.reused_tokens >= run.prompt_tokens - 20
        kept = engine.state_cache.entries()
        assert kept and all(entry.size > 0 for entry in kept)  # B's state, now kept
        engine.wipe_state_cache()
        assert len(engine.state_cache) == 0 and engine.state_cache.bytes_used == 0
        assert all(bytes(entry.data) == bytes(entry.size) for entry in kept)
        again = engine.stream_chat([*a, {"role": "user", "content": "y"}], REPLY)
        list(again)
        assert again.generation.reused_tokens == 0  # nothing of A is left in memory


def test_a_zero_budget_keeps_nothing(starter_model: Path) -> None:
    with loaded(starter_model, 1024) as engine:
        engine.state_cache.set_budget(0)
        a: list[dict[str, str]] = []
        play(engine, a, "Tell me about the sea in three sentences, please.")
        play(engine, a, "And about rivers?")
        play(engine, [], "Something else entirely: what is a cat?")
        assert len(engine.state_cache) == 0


SESSION = r"""
import json, os, sys
written = []

def audit(event, args):
    if event == "open" and args[0] is not None and isinstance(args[0], (str, bytes)):
        mode, flags = args[1], args[2]
        writes = flags and flags & (os.O_WRONLY | os.O_RDWR)
        if (mode and any(c in mode for c in "wax+")) or writes:
            written.append(os.fsdecode(args[0]))

from cove.inference.engine import Engine, GenerationParams, LoadOptions
engine = Engine(sys.argv[1], LoadOptions(n_ctx=1024))
engine.load()
sys.addaudithook(audit)
params = GenerationParams(max_tokens=8, seed=1)
conversations = {k: [] for k in "abc"}
for k in "abcacba":
    conv = conversations[k]
    conv.append({"role": "user", "content": f"Tell me about {k} and the sea, turn {len(conv)}."})
    reply = engine.stream_chat(conv, params, conversation_id=k)
    conv.append({"role": "assistant", "content": "".join(reply)})
kept = len(engine.state_cache)
fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
        flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
    except OSError:
        continue
    if target.startswith("/") and flags & (os.O_WRONLY | os.O_RDWR) and os.path.isfile(target):
        fds.append(target)
engine.close()
print(json.dumps({"kept": kept, "written": written, "fds": fds}))
"""


def test_a_session_with_switching_writes_no_file(starter_model: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    scratch = tmp_path / "tmp"
    work = tmp_path / "cwd"
    for folder in (home, scratch, work):
        folder.mkdir()
    env = dict(os.environ, HOME=str(home), TMPDIR=str(scratch), XDG_CACHE_HOME=str(home),
               COVE_HOME=str(tmp_path / "cove-home"))
    # The CPU check's decision is cached before the session, so its own file does not count.
    subprocess.run([sys.executable, "-c", "from cove.inference.cpu_check import shared_check;"
                    "shared_check().kernels()"], env=env, cwd=work, check=True, timeout=120)
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    result = subprocess.run([sys.executable, "-c", SESSION, str(starter_model)], env=env,
                            cwd=work, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["kept"] >= 1  # states were kept: in memory, as the test wants to see
    assert report["written"] == []
    assert report["fds"] == []
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert after - before == set()


# The worker and the app ----------------------------------------------------------------------


def test_the_worker_wipes_the_cache_of_the_real_engine(qtbot: QtBot,
                                                       starter_model: Path) -> None:
    from cove.inference.worker import WorkerHost

    host = WorkerHost()
    try:
        with qtbot.waitSignal(host.sig_loaded, timeout=60_000):
            host.load(starter_model, LoadOptions(n_ctx=1024))
        host.set_state_cache_budget_mb(64)
        a = [{"role": "user", "content": "Tell me about lighthouses in three sentences."}]
        b = [{"role": "user", "content": "What is a cat? Answer in some detail."}]
        for messages, key in ((a, "a"), (b, "b")):
            with qtbot.waitSignal(host.sig_finished, timeout=60_000):
                host.generate(messages, REPLY, conversation_id=key)
        engine = host.worker._engine
        assert isinstance(engine, Engine)
        qtbot.waitUntil(lambda: engine.state_cache.budget_bytes == 64 * MIB)
        assert len(engine.state_cache) == 1
        host.wipe_state_cache()
        qtbot.waitUntil(lambda: len(engine.state_cache) == 0, timeout=10_000)
        assert engine._decoder is not None and engine._decoder.tokens == []
    finally:
        host.shutdown()


def test_locking_the_history_wipes_the_state_cache(qtbot: QtBot, open_app) -> None:  # type: ignore[no-untyped-def]
    from cove.ui.app import _wire_state_cache
    from tests.apphelpers import set_up_with_passphrase

    app = open_app()
    set_up_with_passphrase(qtbot, app)
    wiped: list[bool] = []
    engine = app.factory.made[-1]
    engine.wipe_state_cache = lambda: wiped.append(True)  # the fake engine, watched
    _wire_state_cache(app.window, app.session, app.settings)
    app.presenter.lock()
    qtbot.waitUntil(lambda: wiped == [True], timeout=5_000)


def test_the_budget_is_a_setting_and_the_models_page_says_what_it_keeps(
        tmp_path: Path) -> None:
    from cove.settings import Settings
    from cove.ui.models.settings_page import state_cache_note

    path = tmp_path / "settings.json"
    settings = Settings()
    assert settings.state_cache_mb == 256
    settings.state_cache_mb = 64
    settings.save(path)
    assert Settings.load(path).state_cache_mb == 64
    assert "up to 64 MiB" in state_cache_note(64) and "never written to disk" in \
        state_cache_note(64)
    assert "none kept" in state_cache_note(0)
