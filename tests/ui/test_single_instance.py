"""ui/single_instance: a second launch's request raises the running window."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from cove.instance import PrimaryInstance, activate, claim
from cove.instance_pipe import PipeInstance, activate_pipe, claim_pipe
from cove.ui.single_instance import ActivationListener


def launch_raises_window(qtbot: QtBot, primary: PrimaryInstance | PipeInstance,
                         launch: Callable[[], bool], token: str) -> ActivationListener:
    """A minimized window listening on `primary` comes forward when `launch()` asks, and
    takes the launch's token; the listener, still running."""
    window = QWidget()
    qtbot.addWidget(window)
    window.showMinimized()
    listener = ActivationListener(primary, window)
    answers: list[bool] = []
    # The other launch blocks on its answer, so it runs off the GUI thread, as a second
    # process would; the window's event loop answers it.
    # With the token its desktop gave it, which Qt's Wayland plugin reads from the
    # environment when the window activates (a compositor raises a window only with one).
    other = threading.Thread(target=lambda: answers.append(launch()))
    with qtbot.waitSignal(listener.sig_activated, timeout=5_000):
        other.start()
    other.join(5)
    assert answers == [True]
    assert window.isVisible() and not window.isMinimized()
    assert os.environ.get("XDG_ACTIVATION_TOKEN") == token
    return listener


# The offscreen platform has no window stacking; a desktop's does.
@pytest.mark.qt_log_ignore("This plugin does not support raise")
def test_a_second_launch_brings_a_minimized_window_forward(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_ACTIVATION_TOKEN", raising=False)  # restored after the test
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    primary = claim(tmp_path / "data", folder=runtime)
    assert primary is not None
    listener = launch_raises_window(
        qtbot, primary, lambda: activate(primary.socket_path, token="wl-token_42"),
        "wl-token_42")
    listener.stop()
    assert not primary.socket_path.exists()
    assert claim(tmp_path / "data", folder=runtime, wait_s=0.2) is not None  # let go


@pytest.mark.qt_log_ignore("This plugin does not support raise")
def test_on_windows_a_launch_over_the_named_pipe_brings_the_window_forward(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # instance_pipe's own thread answers the pipe; a queued signal brings the request to the
    # window. Run with the AF_UNIX family, which has the named pipe's interface.
    monkeypatch.delenv("XDG_ACTIVATION_TOKEN", raising=False)
    address = str(tmp_path / "cove.pipe")
    primary = claim_pipe(tmp_path / "data", family="AF_UNIX", address=address)
    assert primary is not None
    listener = launch_raises_window(
        qtbot, primary, lambda: activate_pipe(address, "AF_UNIX", token="pipe-token_7"),
        "pipe-token_7")
    listener.stop()
    assert "cove-instance" not in {thread.name for thread in threading.enumerate()}
    again = claim_pipe(tmp_path / "data", family="AF_UNIX", address=address, wait_s=0.2)
    assert again is not None  # let go
    again.close()
