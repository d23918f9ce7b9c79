"""The privacy panel (network status, where data lives, encryption, model provenance, which
CPU kernels run) and the status bar button that opens it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cove.models.registry import InstalledModel, ModelRegistry
from cove.paths import AppPaths
from cove.privacy.guard import NetworkGuard, guard
from cove.ui.chat.window import MainWindow
from cove.ui.tasks import Lane, Task, TaskManager

if TYPE_CHECKING:
    from cove.ui.history.session import HistorySession


def network_summary(guard: NetworkGuard) -> str:
    if not guard.installed:
        return "The network guard is not running."
    if not guard.attempts and not guard.allowed_connections and not guard.downloads_started:
        return "No connection opened since Cove started."
    lines = []
    if guard.downloads_started:
        count = guard.downloads_started
        lines.append(f"{count} model download{'s' if count != 1 else ''} you started"
                     + (f" ({guard.allowed_connections} connection(s))."
                        if guard.allowed_connections else "."))
    if guard.attempts:
        lines.append(f"{len(guard.attempts)} connection attempt(s) blocked:")
    else:
        lines.append("No other connection was attempted.")
    return "\n".join(lines)


def _section(title: str) -> QLabel:
    label = QLabel(f"<b>{title}</b>")
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class PrivacyPanel(QDialog):
    def __init__(self, guard: NetworkGuard, paths: AppPaths, key_details: dict[str, Any] | None,
                 registry: ModelRegistry | None, parent: QWidget | None = None,
                 kernels: str = "", tasks: TaskManager | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Privacy")
        self.resize(760, 620)
        self.guard = guard
        self.registry = registry
        self.tasks = tasks if tasks is not None else TaskManager(self)
        self._verifying: Task | None = None

        self.network = QLabel(network_summary(guard), self)
        self.network.setWordWrap(True)
        self.attempts = QTreeWidget(self)
        self.attempts.setHeaderLabels(["When", "Asked by", "Kind", "Destination"])
        self.attempts.setRootIsDecorated(False)
        for attempt in guard.attempts:
            QTreeWidgetItem(self.attempts, [
                time.strftime("%H:%M:%S", time.localtime(attempt.when)), attempt.module,
                attempt.event.removeprefix("socket."), attempt.destination])
        self.attempts.setVisible(bool(guard.attempts))

        places = QTreeWidget(self)
        places.setHeaderLabels(["What", "Where"])
        places.setRootIsDecorated(False)
        for what, where in (
                ("Conversation history (encrypted)", paths.data / "cove.db"),
                ("Model files", paths.models), ("Settings (no conversation text)",
                                                paths.settings_file),
                ("Log (events only, never text)", paths.log_file),
                ("Cache", paths.cache)):
            QTreeWidgetItem(places, [what, str(where)])
        places.resizeColumnToContents(0)
        places.setMaximumHeight(130)

        self.encryption = QLabel(self._encryption_text(key_details), self)
        self.encryption.setWordWrap(True)

        self.models = QTreeWidget(self)
        self.models.setHeaderLabels(["Model", "Source", "Licence", "SHA-256", "Verified"])
        self.models.setRootIsDecorated(False)
        self.verify_button = QPushButton("Verify Now", self)
        self.verify_button.setToolTip("Hash every model file again and compare")
        self.verify_button.clicked.connect(self.verify_now)
        self.verify_status = QLabel(self)
        self.verify_progress = QProgressBar(self)
        self.verify_progress.hide()
        self._fill_models()

        self.kernels = QLabel(kernels or "No model has been loaded yet.", self)
        self.kernels.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(_section("Network"))
        layout.addWidget(self.network)
        layout.addWidget(self.attempts)
        layout.addWidget(_section("Where your data lives"))
        layout.addWidget(places)
        layout.addWidget(_section("Encryption"))
        layout.addWidget(self.encryption)
        layout.addWidget(_section("Models"))
        layout.addWidget(self.models, 1)
        layout.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.verify_progress)
        layout.addWidget(self.verify_status)
        layout.addWidget(_section("llama.cpp on this CPU"))
        layout.addWidget(self.kernels)
        layout.addWidget(buttons)
        self.finished.connect(self._closed)

    @staticmethod
    def _encryption_text(details: dict[str, Any] | None) -> str:
        if not details or not details.get("source"):
            return "The history is not set up or not open yet."
        text = (f"Every saved conversation is encrypted with {details['cipher']}. The key is "
                + ("kept in the system keyring." if details["source"] == "keyring"
                   else "unlocked with your passphrase."))
        kdf = details.get("kdf")
        if isinstance(kdf, dict):
            text += (f" Passphrase key derivation: Argon2id, {int(kdf['memory_kib']) // 1024} "
                     f"MiB memory, {kdf['iterations']} passes, {kdf['lanes']} lane(s).")
        return text

    def _fill_models(self) -> None:
        self.models.clear()
        for model in self.registry.models() if self.registry else []:
            licence = str(model.metadata.get("license") or model.metadata.get("licence") or "")
            QTreeWidgetItem(self.models, [model.name, model.source.value, licence,
                                          model.sha256, model.verified_at[:19]])
        self.models.resizeColumnToContents(0)

    def verify_now(self) -> None:
        registry = self.registry
        if registry is None:
            return
        models = registry.models()
        self.verify_button.setEnabled(False)
        self.verify_progress.setRange(0, 0)
        self.verify_progress.show()
        self.verify_status.setText(f"Checking {len(models)} model file(s)…")

        def verify() -> list[tuple[InstalledModel, str]]:
            problems = []
            for model in models:
                try:
                    registry.recheck(model)
                except Exception as error:  # each file's problem is reported, the rest go on
                    problems.append((model, str(error)))
            return problems

        self._verifying = self.tasks.run(
            verify, self._verified,
            lambda error: self._verified([(models[0], str(error))] if models else []),
            lane=Lane.MODELS)

    def _closed(self, _result: int) -> None:
        if self._verifying is not None:  # hashing goes on; nothing is shown any more
            self._verifying.drop()

    def _verified(self, problems: list[tuple[InstalledModel, str]]) -> None:
        self.verify_progress.hide()
        self.verify_button.setEnabled(True)
        self._fill_models()
        if problems:
            self.verify_status.setText("\n".join(message for _model, message in problems))
            self.verify_status.setStyleSheet("color: #c62828;")
        else:
            self.verify_status.setText("Every model file matches its recorded SHA-256.")
            self.verify_status.setStyleSheet("color: #2e7d32;")


class PrivacyStatus(QObject):
    """Keeps the status bar's privacy button true, and opens the privacy panel."""

    def __init__(self, window: MainWindow, session: HistorySession, registry: ModelRegistry,
                 paths: AppPaths, tasks: TaskManager) -> None:
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.session = session
        self.registry = registry
        self.paths = paths
        self.panel: PrivacyPanel | None = None
        window.privacy_button.clicked.connect(self.open_panel)
        window.privacy_action.triggered.connect(self.open_panel)
        timer = QTimer(self)
        timer.timeout.connect(self.refresh)
        timer.start(2000)

    def refresh(self) -> None:
        network = guard()
        blocked = len(network.attempts)
        button = self.window.privacy_button
        if blocked:
            button.setText(f"Blocked {blocked} connection attempt(s)")
            button.setStyleSheet("color: #c62828;")
        elif network.allowed_connections:
            button.setText("Private: only your model downloads")
            button.setStyleSheet("")
        else:
            button.setText("Private: no connections" if network.installed
                           else "Network guard off")
            button.setStyleSheet("")

    def open_panel(self) -> PrivacyPanel:
        store = self.session.store
        details = store.key_details() if store is not None else None
        self.panel = PrivacyPanel(guard(), self.paths, details, self.registry, self.window,
                                  kernels=self.window.controller.kernels_summary,
                                  tasks=self.tasks)
        self.panel.open()
        return self.panel
