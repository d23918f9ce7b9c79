"""The real app: a second `cove` on the same store brings the first one's window forward and
exits, instead of opening the store twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cove.instance import instance_name


def test_second_launch_exits_and_the_first_window_comes_forward(
        tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime),
               COVE_PASSPHRASE="one instance only")
    env.pop("COVE_HOME", None)
    first = subprocess.Popen([sys.executable, "-m", "cove", "--home", str(home)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        socket_path = runtime / f"{instance_name(home / 'data')}.sock"
        deadline = time.monotonic() + 60
        while not socket_path.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert socket_path.exists(), first.stderr.read() if first.poll() is not None else ""
        second = subprocess.run([sys.executable, "-m", "cove", "--home", str(home)], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "Cove is already open: its window was brought forward." in second.stdout
        assert first.poll() is None  # the first one goes on
        log_file = home / "logs" / "cove.log"
        deadline = time.monotonic() + 10
        while "brought forward" not in log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "another launch asked for this window: brought forward" in log_file.read_text()
    finally:
        first.terminate()
        first.wait(30)
