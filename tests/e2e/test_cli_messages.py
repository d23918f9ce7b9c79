"""The real `cove` command: what a person sees when a folder, the passphrase or the terminal
is not what Cove expects. Sentences, never tracebacks, and nothing left open to others."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from cove.core.conversation import Message, Role
from cove.paths import app_paths
from cove.storage.crypto import KdfParams
from cove.storage.store import ConversationStore, default_store_path

PASSPHRASE = "a passphrase for the terminal test"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX terminals and permissions")


def environment(**extra: str | bytes) -> dict[str, str | bytes]:
    env: dict[str, str | bytes] = {
        key: value for key, value in os.environ.items()
        if key not in ("COVE_HOME", "COVE_PASSPHRASE")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def cove(home: Path, *args: str, **extra: str | bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=environment(**extra))


def make_history(home: Path) -> None:
    paths = app_paths(home).ensure()
    with ConversationStore.open(default_store_path(paths)) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        conversation = store.create_conversation("Plans")
        store.append_message(conversation, Message(Role.USER, "hello"))


def test_a_file_as_cove_home_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    result = cove(home, "history", "list")
    assert result.returncode == 1
    assert result.stderr == (f"cove: cannot use the folder {home}: a file stands where the "
                             "folder should be; move it away or choose another home.\n")


def test_a_passphrase_variable_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_history(home)
    result = cove(home, "history", "list", COVE_PASSPHRASE=b"caf\xe9")  # Latin-1, not UTF-8
    assert result.returncode == 1
    assert result.stderr.startswith("cove: COVE_PASSPHRASE is not valid UTF-8 text")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_start_makes_an_existing_tree_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_history(home)
    for folder in (home, home / "data", home / "logs"):
        os.chmod(folder, 0o755)
    (home / "logs" / "cove.log").write_text("")
    os.chmod(home / "logs" / "cove.log", 0o644)
    os.chmod(home / "data" / "cove.db", 0o644)
    result = cove(home, "history", "list", COVE_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 0, result.stderr
    for path in [home, *home.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path


def _at_a_terminal(home: Path, keys: bytes) -> tuple[int, str]:
    """Run `cove history list` with a pseudo-terminal as its terminal, type `keys` at the
    passphrase prompt, and return its exit code and everything it wrote."""
    leader, follower = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        [sys.executable, "-m", "cove", "--home", str(home), "history", "list"],
        stdin=follower, stdout=follower, stderr=follower, env=environment(),
        start_new_session=True, preexec_fn=take_terminal)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"passphrase:" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 1.0)[0]:
                seen += os.read(leader, 4096)
        os.write(leader, keys)
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 1.0)[0]:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif child.poll() is not None:
                break
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(leader)
    return code, seen.decode("utf-8", "replace")


@pytest.mark.parametrize(("keys", "exit_code", "sentence"), [
    (b"\x04", 1, "No passphrase was typed, so the history stays locked."),  # Ctrl-D
    (b"\x03", 130, "Stopped; the history stays locked."),  # Ctrl-C
], ids=["ctrl-d", "ctrl-c"])
def test_leaving_the_terminal_prompt_is_a_sentence(
        tmp_path: Path, keys: bytes, exit_code: int, sentence: str) -> None:
    home = tmp_path / "home"
    make_history(home)
    code, seen = _at_a_terminal(home, keys)
    assert code == exit_code, seen
    assert sentence in seen
    assert "Traceback" not in seen
