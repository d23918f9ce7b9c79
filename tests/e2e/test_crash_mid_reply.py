"""Cove killed by a signal in the middle of a reply (a CPU fault, the OOM killer) keeps what was
saved: the question, and the reply as far as its last save, marked unfinished."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real_model,
              pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")]

PASSPHRASE = "a passphrase for the crash test"
PROMPT = "Write a very long story about a dragon, at least 2000 words, in many chapters."
SAVED = re.compile(r"reply saved: (\d+) characters")
REPLY = re.compile(r"## Assistant \([^)]*\) · [^\n]*\n\n(?P<text>.*?)\n\n"
                   r"_Interrupted: Cove closed before this reply finished\._", re.S)


def environment() -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE=PASSPHRASE)
    env.pop("COVE_HOME", None)
    return env


def cove(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, env=environment(),
                          stdin=subprocess.DEVNULL)


def saved_reply(home: Path) -> str | None:
    """The unfinished reply as the history has it now (None: none saved)."""
    listed = cove(home, "history", "list")
    if listed.returncode != 0 or not listed.stdout.strip():
        return None
    exported = cove(home, "history", "export", listed.stdout.split("\t", 1)[0])
    assert PROMPT in exported.stdout
    match = REPLY.search(exported.stdout)
    return match.group("text") if match else None


def characters_saved(log_file: Path) -> int:
    """How long the reply was at its newest save, from the --debug log (0: not saved yet)."""
    try:
        found = SAVED.findall(log_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return 0
    return int(found[-1]) if found else 0


def reply_cut_mid_way(home: Path, kill_with: signal.Signals) -> tuple[int, int]:
    """Start a reply in the real app and kill it once part of the reply is saved. Returns
    the characters saved by then and the exit status, or (0, 0) if the reply ended first."""
    for seed in (5, 1, 9, 13, 21):  # a small model may end a story early; try another
        folder = home / f"seed-{seed}"
        app = subprocess.Popen(
            [sys.executable, "-m", "cove", "--home", str(folder), "--debug", "--smoke-test",
             PROMPT, "--max-tokens", "4000", "--seed", str(seed)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(),
            stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 240
            saved = 0
            while app.poll() is None and time.monotonic() < deadline and saved < 20:
                time.sleep(0.05)
                saved = characters_saved(folder / "logs" / "cove.log")
            if saved and app.poll() is None:
                limits = Path(f"/proc/{app.pid}/limits")
                if limits.exists():  # a crash writes no core file with the conversation in it
                    assert re.search(r"Max core file size\s+0\s", limits.read_text())
                os.kill(app.pid, kill_with)
                return saved, app.wait(timeout=60)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
        shutil.rmtree(folder)
    return 0, 0


@pytest.mark.parametrize("kill_with", [signal.SIGKILL, signal.SIGILL],
                         ids=["SIGKILL", "SIGILL"])
def test_a_reply_cut_by_a_signal_keeps_its_saved_text(
        tmp_path: Path, starter_model: Path, kill_with: signal.Signals) -> None:
    saved, status = reply_cut_mid_way(tmp_path, kill_with)
    assert saved, "every reply ended before a part of it was saved"
    assert status == -kill_with
    [home] = tmp_path.iterdir()
    assert not [p for p in home.rglob("core*") if p.is_file()], "a core file was written"
    reply = saved_reply(home)
    assert reply is not None and len(reply) >= saved
