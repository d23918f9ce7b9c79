"""Brings the window forward when another launch of Cove asks (cove.instance's socket, or
cove.instance_pipe's named pipe on Windows)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Qt, Signal
from PySide6.QtWidgets import QWidget

from cove.instance import PrimaryInstance

if TYPE_CHECKING:  # imported on Windows only (multiprocessing.connection costs startup time)
    from cove.instance_pipe import PipeInstance

log = logging.getLogger(__name__)


class ActivationListener(QObject):
    """Watches the instance socket on the GUI thread (a QSocketNotifier: no thread, and no
    QtNetwork), or on Windows takes the requests the named pipe's own thread answers (a
    queued signal); each launch that asks raises `window`."""

    sig_activated = Signal()
    """Another launch asked this Cove to come forward, and the window was raised."""

    _sig_request = Signal(str)  # from the pipe's thread: a launch asked, with its token

    def __init__(self, instance: PrimaryInstance | PipeInstance, window: QWidget) -> None:
        super().__init__(window)
        self._instance = instance
        self._window = window
        self._notifier: QSocketNotifier | None = None
        if isinstance(instance, PrimaryInstance):
            self._notifier = QSocketNotifier(instance.fileno(), QSocketNotifier.Type.Read, self)
            self._notifier.activated.connect(self._on_ready)
        else:  # the named pipe (Windows)
            self._sig_request.connect(self._on_request, Qt.ConnectionType.QueuedConnection)
            instance.serve(self._sig_request.emit)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    def stop(self) -> None:
        """Stop answering and let go of the store (the notifier first: it must not watch a
        closed descriptor)."""
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        self._instance.close()

    def _on_ready(self) -> None:
        assert isinstance(self._instance, PrimaryInstance)
        if self._instance.accept_activation():
            self._on_request(self._instance.last_token)

    def _on_request(self, token: str) -> None:
        log.info("another launch asked for this window: brought forward")
        bring_forward(self._window, token)
        self.sig_activated.emit()


def bring_forward(window: QWidget, token: str = "") -> None:
    """Show, raise and activate `window`. `token` is the launch's activation token: Qt's
    Wayland plugin takes XDG_ACTIVATION_TOKEN from the environment when it activates a
    window (and clears it), and a compositor gives the focus only with a fresh one."""
    if token:
        os.environ["XDG_ACTIVATION_TOKEN"] = token
    if window.isMinimized():
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
