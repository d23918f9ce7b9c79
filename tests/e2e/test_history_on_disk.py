"""What lands on disk: a whole session with a canary, through the real app, leaves no trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytestqt.qtbot import QtBot

from tests.apphelpers import Opener, chat, set_up_with_passphrase

CANARY = "Zebracanary4417"
PASSPHRASE = "a passphrase for the canary test"


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def files_containing(root: Path, text: str) -> list[Path]:
    needles = encodings(text)
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                found.append(path)
    return found


def run_cove(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE=PASSPHRASE)
    env.pop("COVE_HOME", None)
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_smoke_session_is_saved_encrypted_and_readable_from_the_cli(
        tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    result = run_cove(home, "--smoke-test", f"Repeat after me exactly: {CANARY}",
                      "--max-tokens", "24", "--seed", "2")
    assert result.returncode == 0, result.stderr
    reply = "\n".join(result.stdout.strip().splitlines()[:-1]).strip()
    assert (home / "data" / "cove.db").is_file()
    assert files_containing(home, CANARY) == []
    if len(reply) >= 8:
        assert files_containing(home, reply[:8]) == []

    listed = run_cove(home, "history", "list")
    assert listed.returncode == 0, listed.stderr
    conversation_id, count, title = listed.stdout.strip().split("\t")
    assert count == "2" and CANARY in title
    exported = run_cove(home, "history", "export", conversation_id)
    assert exported.returncode == 0
    assert f"Repeat after me exactly: {CANARY}" in exported.stdout
    assert reply.splitlines()[0] in exported.stdout
    assert "SmolLM2-135M-Instruct.Q4_1" in exported.stdout  # which model wrote it

    wrong = subprocess.run(
        [sys.executable, "-m", "cove", "--home", str(home), "history", "list"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=dict(os.environ, COVE_PASSPHRASE="wrong one"))
    assert wrong.returncode == 1 and "not right" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_canary_in_prompt_and_reply_never_reaches_disk_even_after_delete(
        qtbot: QtBot, open_app: Opener, tmp_path: Path, cove_home: Path) -> None:
    app = open_app(chunks=["The ", "answer ", "is ", CANARY, " indeed."])
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, f"Please say {CANARY}")
    assert CANARY in app.window.controller.model.message(1).text
    assert files_containing(tmp_path, CANARY) == []
    app.presenter.confirmed_delete(app.window.sidebar.model.summary(0).id)
    qtbot.waitUntil(lambda: app.window.sidebar.model.rowCount() == 0, timeout=5_000)
    app.window.close()
    assert files_containing(tmp_path, CANARY) == []
    assert "PySide6.QtNetwork" not in sys.modules
    assert "PySide6.QtWebEngineCore" not in sys.modules
