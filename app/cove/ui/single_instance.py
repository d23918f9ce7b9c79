"""Brings the window forward when another launch of Cove asks (cove.instance's socket)."""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Qt, Signal
from PySide6.QtWidgets import QWidget

from cove.instance import PrimaryInstance

log = logging.getLogger(__name__)


class ActivationListener(QObject):
    """Watches the instance socket on the GUI thread (a QSocketNotifier: no thread, and no
    QtNetwork); each launch that asks raises `window`."""

    sig_activated = Signal()
    """Another launch asked this Cove to come forward, and the window was raised."""

    def __init__(self, instance: PrimaryInstance, window: QWidget) -> None:
        super().__init__(window)
        self._instance = instance
        self._window = window
        self._notifier = QSocketNotifier(instance.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_ready)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    def stop(self) -> None:
        """Stop answering and let go of the store (the notifier first: it must not watch a
        closed descriptor)."""
        self._notifier.setEnabled(False)
        self._instance.close()

    def _on_ready(self) -> None:
        if self._instance.accept_activation():
            log.info("another launch asked for this window: brought forward")
            bring_forward(self._window, self._instance.last_token)
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
