"""Cove is provably offline: the guard sees nothing in a whole session; strace sees nothing."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cove.models.registry import ModelRegistry
from cove.paths import app_paths
from cove.privacy.guard import NetworkGuard, guard
from cove.ui import app as app_module
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.session import HistoryState
from cove.ui.models.presenter import ModelsPresenter
from cove.ui.settings.privacy_panel import PrivacyPanel, PrivacyStatus


@pytest.fixture
def armed() -> Iterator[NetworkGuard]:
    network = guard().install()
    network.attempts.clear()
    network.allowed_connections = 0
    yield network
    network.disarm()


def test_a_whole_session_opens_no_connection(qtbot: QtBot, armed: NetworkGuard,
                                            tmp_path: Path, gemma_model: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", "offline session passphrase")
    paths = app_paths(tmp_path / "home").ensure()
    ModelRegistry.for_paths(paths).import_file(gemma_model, copy=False)
    args = argparse.Namespace(smoke_test=None, model=None, max_tokens=16, seed=1, timeout=60)
    window, _smoke = app_module.start(args, paths)
    qtbot.addWidget(window)
    controller = window.controller
    # The history and the models are set up once the window has painted.
    qtbot.waitUntil(lambda: bool(window.findChildren(ModelsPresenter)), timeout=5_000)
    history = window.findChildren(HistoryPresenter)[0]
    models = window.findChildren(ModelsPresenter)[0]
    qtbot.waitUntil(lambda: controller.ready and history.session.state is HistoryState.UNLOCKED,
                    timeout=60_000)

    window.composer.set_text("Name a river.")
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()
    gemma = next(m for m in models.registry.models() if m.file == gemma_model)
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        models.switch_to(gemma)
    window.composer.set_text("Name a mountain.")
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000):
        window.composer.send_button.click()
    qtbot.waitUntil(lambda: history.session.index_ready, timeout=10_000)
    found: list[object] = []
    history.session.search("river", found.extend)
    qtbot.waitUntil(lambda: bool(found), timeout=5_000)
    target = tmp_path / "export.md"
    history.export_to(controller.model.conversation.id, target)
    qtbot.waitUntil(target.exists, timeout=5_000)

    panel = window.findChildren(PrivacyStatus)[0].open_panel()
    assert isinstance(panel, PrivacyPanel)
    assert panel.network.text() == "No connection opened since Cove started."
    assert "AES-256-GCM" in panel.encryption.text() and "Argon2id" in panel.encryption.text()
    assert panel.models.topLevelItemCount() >= 1
    # Which llama.cpp kernels run, from the CPU check, where a curious person looks.
    assert panel.kernels.text() == window.controller.kernels_summary
    assert panel.kernels.text().startswith(("Fast CPU kernels are", "Fast AMX kernels are off"))
    window.close()
    assert armed.attempts == []
    assert "PySide6.QtNetwork" not in sys.modules
    assert "PySide6.QtWebEngineCore" not in sys.modules


def test_privacy_panel_lists_blocked_attempts_and_verifies_models(
        qtbot: QtBot, armed: NetworkGuard, tmp_path: Path, starter_model: Path) -> None:
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.9", 443), timeout=1)
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    registry.ensure_starter(starter_model)
    panel = PrivacyPanel(armed, app_paths(tmp_path), None, registry)
    qtbot.addWidget(panel)
    assert "1 connection attempt(s) blocked" in panel.network.text()
    row = panel.attempts.topLevelItem(0)
    assert row.text(1) == __name__ and row.text(3) == "192.0.2.9:443"
    panel.verify_now()
    qtbot.waitUntil(lambda: panel.verify_button.isEnabled(), timeout=30_000)
    assert "matches" in panel.verify_status.text()


def test_strace_sees_no_internet_connection_from_a_real_session(tmp_path: Path,
                                                                starter_model: Path) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (make test installs it with apt-get as root)")
    log = tmp_path / "strace.log"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE="strace passphrase")
    env.pop("COVE_HOME", None)
    result = subprocess.run(
        [strace, "-f", "-e", "trace=connect,sendto,sendmsg", "-o", str(log), sys.executable,
         "-m", "cove", "--home", str(tmp_path / "home"), "--smoke-test", "Say hello.",
         "--max-tokens", "16"],
        capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0 and "ptrace" in result.stderr.lower():
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr[-2000:]
    internet = internet_calls(log)
    assert internet == [], "\n".join(internet[:10])

    # The same check does see a connection when there is one (so the test can fail).
    control = tmp_path / "control.log"
    subprocess.run([strace, "-f", "-e", "trace=connect,sendto,sendmsg", "-o", str(control),
                    sys.executable, "-c",
                    "import socket; socket.socket().connect_ex(('127.0.0.1', 9))"],
                   capture_output=True, timeout=60, check=True)
    assert internet_calls(control)


def internet_calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines()
            if re.search(r"sa_family=AF_INET6?\b", line)]
