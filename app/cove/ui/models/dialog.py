"""The Models window: installed models, adding a model file, and downloads from the catalogue."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cove.core.units import format_bytes, format_duration, format_memory
from cove.models.catalogue import CatalogueEntry
from cove.models.gguf import ModelFileError, check_gguf_file
from cove.models.memory import estimate_ram_bytes, fit_label
from cove.models.registry import (
    FileState,
    InstalledModel,
    ModelRegistry,
    Source,
    Storage,
)
from cove.settings import DEFAULT_CONTEXT
from cove.ui.models.listing import (
    chat_format_text,
    fit_tip,
    memory_note,
    model_list,
    total_memory_bytes,
)
from cove.ui.models.session import ModelsSession

if TYPE_CHECKING:  # the downloader pulls in huggingface_hub (a third of a second): see below
    from cove.models.download import DownloadProgress

log = logging.getLogger(__name__)

OFFLINE_TEXT = "Offline mode is on: downloads are turned off in Settings."
_ERROR_STYLE = "color: #c62828;"
_FIT_COLUMN = 5  # the same place in both lists

_SOURCE_LABELS = {
    (Source.STARTER, Storage.BUNDLED): "starter",
    (Source.CATALOGUE, Storage.OWNED): "downloaded",
    (Source.IMPORTED, Storage.OWNED): "imported (copied)",
    (Source.IMPORTED, Storage.REFERENCED): "imported (used in place)",
}


class ProgressRow(QObject):
    """A line of progress under a list (an import, a download): what is happening, a bar,
    and Cancel. Hidden while nothing runs; reports stop showing once Cancel is pressed."""

    def __init__(self, cancel: Callable[[], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.status = QLabel(parent)
        self.bar = QProgressBar(parent)
        self.cancel_button = QPushButton("Cancel", parent)
        self.cancel_button.clicked.connect(cancel)

    def layout(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.status, 2)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        return row

    def start(self, text: str) -> None:
        for widget in (self.status, self.bar, self.cancel_button):
            widget.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.show_progress(text, None, None)

    def show_progress(self, text: str, done: int | None, total: int | None) -> None:
        if not self.cancel_button.isEnabled():
            return  # the person already asked to stop: "Cancelling…" stays
        self.status.setText(text)
        if done is None or not total:
            self.bar.setRange(0, 0)  # busy, no figures
            return
        # Per mille: byte counts overflow the bar's 32-bit range for large models.
        self.bar.setRange(0, 1000)
        self.bar.setValue(min(1000, int(done * 1000 / total)))

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")

    def finish(self) -> None:
        for widget in (self.status, self.bar, self.cancel_button):
            widget.setVisible(False)


class ModelManagerDialog(QDialog):
    """Lists installed models, adds model files, downloads catalogue models.

    A view over the ModelsSession, which does everything slow in the background, so the
    window never freezes. Build a new dialog each time the window is opened; closing it
    cancels a download or import in progress, without waiting for it.
    """

    sig_use = Signal(object)
    """The person chose an InstalledModel to use now."""
    sig_removed = Signal(str)
    """A model (by id) was removed from the registry, and its file deleted if Cove owned it."""
    sig_added = Signal(object)
    """An InstalledModel was added by an import or a download."""

    def __init__(
        self,
        session: ModelsSession,
        catalogue_entries: Sequence[CatalogueEntry],
        current_model_id: str | None,
        total_ram_bytes: int | None = None,
        parent: QWidget | None = None,
        offline: bool = False,
        context_of: Callable[[InstalledModel], int] | None = None,
    ) -> None:
        """`context_of` gives the context length a model runs with (its own settings), for
        the RAM figures; None: the usual 4,096 tokens."""
        super().__init__(parent)
        self.setWindowTitle("Models")
        self._context_of = context_of or (lambda _model: DEFAULT_CONTEXT)
        self.setAcceptDrops(True)
        self.resize(920, 620)
        self._session = session
        self._registry: ModelRegistry = session.registry
        self._entries = list(catalogue_entries)
        self._current_id = current_model_id
        self._total_ram = total_ram_bytes if total_ram_bytes is not None else total_memory_bytes()
        self._offline = offline
        # Formula estimates until the files' own headers are read (in the background).
        self._measured_ram: dict[str, int] = {}
        self._removing_names: dict[str, str] = {}  # model id -> name, while it goes
        self._connections = [
            (session.sig_import_progress, self._show_import_progress),
            (session.sig_imported, self._import_done),
            (session.sig_import_failed, self._import_failed),
            (session.sig_download_progress, self._show_download_progress),
            (session.sig_downloaded, self._download_done),
            (session.sig_download_failed, self._download_failed),
            (session.sig_removed, self._removed),
            (session.sig_remove_failed, self._remove_failed),
            (session.sig_measured, self._measured),
        ]
        for signal, slot in self._connections:
            # Automatic: queued for download progress (emitted on the network lane's thread),
            # direct for the rest, so the window is up to date when the session says so.
            signal.connect(slot)
        self._build()
        self.refresh()
        self._measure_installed()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.memory_label = QLabel(memory_note(self._total_ram), self)
        self.memory_label.setWordWrap(True)

        self.installed_view = self._tree(
            ("Name", "Size", "Quantization", "Parameters", "RAM needed", "Fit", "Source",
             "Chat format")
        )
        self.installed_view.itemSelectionChanged.connect(self._update_buttons)
        self.installed_view.itemActivated.connect(lambda *_: self._use_selected())
        self.use_button = QPushButton("Use", self)
        self.use_button.clicked.connect(self._use_selected)
        self.remove_button = QPushButton("Remove…", self)
        self.remove_button.clicked.connect(self._ask_remove)
        self.add_button = QPushButton("Add Model File…", self)
        self.add_button.setToolTip("Add a .gguf file from this computer (or drop one here).")
        self.add_button.clicked.connect(self.choose_file)
        self.import_row = ProgressRow(self.cancel_import, self)
        self.import_status = self.import_row.status
        self.import_progress = self.import_row.bar
        self.import_cancel_button = self.import_row.cancel_button
        self.installed_message = self._message_label()

        installed_buttons = QHBoxLayout()
        installed_buttons.addWidget(self.use_button)
        installed_buttons.addWidget(self.remove_button)
        installed_buttons.addStretch(1)
        installed_buttons.addWidget(self.add_button)
        import_row = self.import_row.layout()
        installed_box = QGroupBox("On this computer", self)
        installed_layout = QVBoxLayout(installed_box)
        installed_layout.addWidget(self.installed_view)
        installed_layout.addLayout(installed_buttons)
        installed_layout.addLayout(import_row)
        installed_layout.addWidget(self.installed_message)

        self.catalogue_view = self._tree(
            ("Name", "Parameters", "Quantization", "Download size", "RAM needed", "Fit",
             "Licence")
        )
        self.catalogue_view.itemSelectionChanged.connect(self._update_buttons)
        self.download_button = QPushButton("Download", self)
        self.download_button.clicked.connect(self._download_selected)
        self.download_row = ProgressRow(self.cancel_download, self)
        self.download_status = self.download_row.status
        self.download_progress = self.download_row.bar
        self.download_cancel_button = self.download_row.cancel_button
        self.offline_label = QLabel(OFFLINE_TEXT, self)
        self.offline_label.setWordWrap(True)
        self.download_message = self._message_label()

        download_row = self.download_row.layout()
        download_row.insertWidget(0, self.download_button)
        download_row.addStretch(1)  # keeps the Download button its own size when idle
        catalogue_box = QGroupBox("Available to download", self)
        catalogue_layout = QVBoxLayout(catalogue_box)
        catalogue_layout.addWidget(self.catalogue_view)
        catalogue_layout.addWidget(self.offline_label)
        catalogue_layout.addLayout(download_row)
        catalogue_layout.addWidget(self.download_message)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.memory_label)
        layout.addWidget(installed_box, 2)
        layout.addWidget(catalogue_box, 3)
        layout.addWidget(buttons)

        self.offline_label.setVisible(self._offline)
        self.import_row.finish()
        self.download_row.finish()

    def _tree(self, columns: tuple[str, ...]) -> QTreeWidget:
        return model_list(columns, self)

    def _message_label(self) -> QLabel:
        label = QLabel(self)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # -- reading the lists ---------------------------------------------------------------

    @property
    def current_model_id(self) -> str | None:
        return self._current_id

    @property
    def import_busy(self) -> bool:
        return self._session.import_busy

    @property
    def download_busy(self) -> bool:
        return self._session.download_busy

    def selected_model(self) -> InstalledModel | None:
        item = self.installed_view.currentItem()
        if item is None or not item.isSelected():
            return None
        return self._registry.get(item.data(0, Qt.ItemDataRole.UserRole))

    def selected_entry(self) -> CatalogueEntry | None:
        item = self.catalogue_view.currentItem()
        if item is None or not item.isSelected():
            return None
        entry_id = item.data(0, Qt.ItemDataRole.UserRole)
        return next((entry for entry in self._entries if entry.id == entry_id), None)

    def select_model(self, model_id: str) -> None:
        _select(self.installed_view, model_id)

    def select_entry(self, entry_id: str) -> None:
        _select(self.catalogue_view, entry_id)

    def ram_needed(self, model: InstalledModel) -> int:
        """From the file's own header once measured; the catalogue's formula until then."""
        return self._measured_ram.get(model.id) or estimate_ram_bytes(model.size)

    def refresh(self) -> None:
        """Rebuild both lists from the registry, keeping the selections."""
        models = self._registry.models()
        selected_model = _selected_key(self.installed_view)
        selected_entry = _selected_key(self.catalogue_view)
        self.installed_view.clear()
        for model in models:
            self.installed_view.addTopLevelItem(self._installed_item(model))
        self.catalogue_view.clear()
        installed = _installed_entry_ids(self._entries, models)
        for entry in self._entries:
            if entry.id not in installed:
                self.catalogue_view.addTopLevelItem(self._catalogue_item(entry))
        if selected_model:
            _select(self.installed_view, selected_model)
        if selected_entry:
            _select(self.catalogue_view, selected_entry)
        self._update_buttons()

    def _installed_item(self, model: InstalledModel) -> QTreeWidgetItem:
        ram = self.ram_needed(model)
        missing = self._registry.file_state(model) is FileState.MISSING
        name = model.name
        if model.id == self._current_id:
            name += " (in use)"
        if missing:
            name += " (file missing)"
        item = QTreeWidgetItem([
            name,
            format_bytes(model.size),
            str(model.metadata.get("quantization") or "—"),
            str(model.metadata.get("parameters") or "—"),
            format_memory(ram),
            fit_label(ram, self._total_ram),
            _SOURCE_LABELS.get((model.source, model.storage), model.source.value),
            chat_format_text(model),
        ])
        item.setData(0, Qt.ItemDataRole.UserRole, model.id)
        item.setToolTip(0, model.path)
        item.setToolTip(_FIT_COLUMN, self._fit_tip(ram))
        if model.id == self._current_id:
            font = QFont(item.font(0))
            font.setBold(True)
            item.setFont(0, font)
        return item

    def _catalogue_item(self, entry: CatalogueEntry) -> QTreeWidgetItem:
        ram = entry.ram_bytes or (estimate_ram_bytes(entry.size_bytes)
                                  if entry.size_bytes else None)
        item = QTreeWidgetItem([
            entry.name,
            entry.parameters or "—",
            entry.quantization or "—",
            format_bytes(entry.size_bytes),
            format_memory(ram),
            fit_label(ram, self._total_ram),
            entry.licence or "—",
        ])
        item.setData(0, Qt.ItemDataRole.UserRole, entry.id)
        item.setToolTip(_FIT_COLUMN, self._fit_tip(ram))
        if entry.notes:
            item.setToolTip(0, entry.notes)
        return item

    def _fit_tip(self, ram: int | None) -> str:
        if ram is None:
            return "The catalogue does not give this model's size."
        return fit_tip(ram, self._total_ram)

    def _update_buttons(self) -> None:
        model = self.selected_model()
        usable = (
            model is not None
            and model.id != self._current_id
            and model.id not in self._session.removing
            and self._registry.file_state(model) is not FileState.MISSING
        )
        self.use_button.setEnabled(usable)
        if model is not None and model.storage is Storage.BUNDLED:
            self.remove_button.setEnabled(False)
            self.remove_button.setToolTip(
                "The starter model ships with Cove and cannot be removed."
            )
        elif model is not None and model.id == self._current_id:
            self.remove_button.setEnabled(False)
            self.remove_button.setToolTip(
                "This model is in use: choose another model before removing it."
            )
        else:
            self.remove_button.setEnabled(
                model is not None and model.id not in self._session.removing)
            self.remove_button.setToolTip("")
        self.add_button.setEnabled(not self.import_busy)
        self.download_button.setEnabled(
            not self._offline and not self.download_busy and self.selected_entry() is not None
        )
        self.download_button.setToolTip(OFFLINE_TEXT if self._offline else "")

    def _measure_installed(self) -> None:
        """Read each file's header in the background for a RAM figure from its own shape."""
        models = [model for model in self._registry.models()
                  if model.id not in self._measured_ram]
        if models:
            self._session.measure(models, self._context_of)

    def _measured(self, found: dict[str, int]) -> None:
        self._measured_ram.update(found)
        self.refresh()

    # -- using and removing --------------------------------------------------------------

    def _use_selected(self) -> None:
        model = self.selected_model()
        if model is None or not self.use_button.isEnabled():
            return
        self._current_id = model.id
        self.refresh()
        self.sig_use.emit(model)

    def _ask_remove(self) -> None:
        model = self.selected_model()
        if model is None or not self.remove_button.isEnabled():
            return
        if model.storage is Storage.OWNED:
            text = (f"Remove {model.name}? Cove deletes its file ({format_bytes(model.size)}) "
                    "from its models folder.")
        else:
            text = (f"Remove {model.name} from Cove's list? Your file stays where it is:\n"
                    f"{model.path}")
        box = QMessageBox(QMessageBox.Icon.Question, "Remove Model", text,
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirm-remove")
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # open(), not exec(): no nested event loop while the background work reports back.
        box.finished.connect(
            lambda _result: self.remove_model(model) if box.clickedButton() is remove else None
        )
        box.open()

    def remove_model(self, model: InstalledModel) -> None:
        """Remove `model` in the background, without asking (the button asks first)."""
        if model.id in self._session.removing:
            return
        self._removing_names[model.id] = model.name
        self._session.remove(model)
        self._update_buttons()
        self._say(self.installed_message, f"Removing {model.name}…")

    def _removed(self, model_id: str) -> None:
        self._measured_ram.pop(model_id, None)
        name = self._removing_names.pop(model_id, "The model")
        self._say(self.installed_message, f"{name} was removed.")
        self.refresh()
        self.sig_removed.emit(model_id)

    def _remove_failed(self, model_id: str, message: str) -> None:
        self._removing_names.pop(model_id, None)
        self._say(self.installed_message, message, error=True)
        self.refresh()

    # -- adding a file -------------------------------------------------------------------

    def choose_file(self) -> None:
        """Ask for a .gguf file, then how to keep it, then add it."""
        name, _filter = QFileDialog.getOpenFileName(
            self, "Add Model File", str(Path.home()),
            "GGUF model files (*.gguf);;All files (*)",
        )
        if name:
            self.ask_copy_then_import(Path(name))

    def ask_copy_then_import(self, path: Path) -> None:
        """Ask whether to copy `path` into Cove's models folder or use it where it is; a file
        whose first bytes already show it cannot be a model is refused before asking."""
        try:
            check_gguf_file(path)  # a few bytes: no need to wait for the background
        except ModelFileError as error:
            self._say(self.installed_message, str(error), error=True)
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Add Model File",
                          f"How should Cove keep {path.name}?",
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("copy-or-reference")
        box.setInformativeText(
            "Copy into Cove's models folder: Cove keeps its own copy, so the original can be "
            "moved or deleted (uses the disk space twice).\n"
            "Use where it is: no copy; the model stops working if the file moves."
        )
        copy = box.addButton("Copy into Cove", QMessageBox.ButtonRole.AcceptRole)
        in_place = box.addButton("Use Where It Is", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(copy)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(_result: int) -> None:
            clicked = box.clickedButton()
            if clicked is copy:
                self.import_file(path, copy=True)
            elif clicked is in_place:
                self.import_file(path, copy=False)

        box.finished.connect(chosen)
        box.open()

    def import_file(self, path: Path, copy: bool) -> bool:
        """Add a model file in the background: header check, trial load, then hash (and copy).

        The trial load runs llama.cpp in a child process (models.probe), so a file that
        crashes it costs that process only. Errors appear in the dialog. Returns False when
        another import is still running.
        """
        path = Path(path)
        if not self._session.import_file(path, copy):
            self._say(self.installed_message,
                      "Cove is still adding another file; wait for it or cancel it first.",
                      error=True)
            return False
        self._say(self.installed_message, "")
        self.import_row.start(f"Checking {path.name}…")
        self._update_buttons()
        return True

    def cancel_import(self) -> None:
        if self.import_busy:
            self._session.cancel_import()
            self.import_row.cancelling()

    def _show_import_progress(self, step: str, done: int | None, total: int | None) -> None:
        if self.import_busy:
            self.import_row.show_progress(step, done, total)

    def _import_finished(self) -> None:
        self.import_row.finish()

    def _import_done(self, model: InstalledModel, known: bool) -> None:
        self._import_finished()
        if known:
            self._say(self.installed_message, f"{model.name} is already installed.")
        else:
            self._say(self.installed_message, f"{model.name} was added and is ready to use.")
        self.refresh()
        self.select_model(model.id)
        self._measure_installed()
        if not known:
            self.sig_added.emit(model)

    def _import_failed(self, message: str, cancelled: bool) -> None:
        self._import_finished()
        self._say(self.installed_message, message, error=not cancelled)
        self.refresh()

    # -- drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._judge_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._judge_drag(event)

    def _judge_drag(self, event: QDragMoveEvent) -> None:
        if not self.import_busy and _dropped_model(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_model(event.mimeData())
        if path is None or self.import_busy:
            event.ignore()
            return
        event.acceptProposedAction()
        self.ask_copy_then_import(path)

    # -- downloading ---------------------------------------------------------------------

    def _download_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.start_download(entry)

    def start_download(self, entry: CatalogueEntry) -> bool:
        """Download `entry` in the background and add it; False when it cannot start now.

        A cancelled download keeps its partial file, so starting it again resumes.
        """
        if self._offline:
            self._say(self.download_message, OFFLINE_TEXT, error=True)
            return False
        if self.download_busy:
            running = self._session.download_entry
            self._say(self.download_message,
                      f"Cove is still downloading {running.name if running else 'another model'}"
                      "; wait for it or cancel it first.", error=True)
            return False
        self._session.download(entry)
        self._say(self.download_message, "")
        self.download_row.start(f"Connecting for {entry.name}…")
        self._update_buttons()
        return True

    def cancel_download(self) -> None:
        """Stop the download; what arrived so far is kept for the next attempt."""
        if self.download_busy:
            self._session.cancel_download()
            self.download_row.cancelling()

    def _show_download_progress(self, report: DownloadProgress) -> None:
        entry = self._session.download_entry
        if entry is None:
            return  # a late report after the download ended
        name = entry.name
        if report.phase == "connecting":
            text = f"Connecting for {name}…"
        elif report.phase == "checking":
            text = f"Checking what was downloaded earlier: {_of(report.done, report.total)}"
        elif report.phase == "verifying":
            text = f"Checking the download of {name}…"
        else:
            text = _of(report.done, report.total)
            if report.speed:
                text += f" · {format_bytes(report.speed)}/s"
            if report.eta is not None:
                text += f" · about {format_duration(report.eta)} left"
        busy = report.phase in ("connecting", "verifying")
        self.download_row.show_progress(text, None if busy else report.done,
                                        None if busy else report.total)

    def _download_finished(self) -> None:
        self.download_row.finish()

    def _download_done(self, model: InstalledModel) -> None:
        self._download_finished()
        self._say(self.download_message, f"{model.name} is downloaded and ready to use.")
        self.refresh()
        self.select_model(model.id)
        self._measure_installed()
        self.sig_added.emit(model)

    def _download_failed(self, message: str, cancelled: bool) -> None:
        self._download_finished()
        self._say(self.download_message, message, error=not cancelled)
        self.refresh()

    # -- closing -------------------------------------------------------------------------

    def stop_work(self) -> None:
        """Cancel the download and the import in progress, and stop listening: nothing
        waits on the GUI thread; a download resumes from its partial file next time."""
        self._session.stop()
        for signal, slot in self._connections:
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)
        self._connections = []

    def done(self, result: int) -> None:
        self.stop_work()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_work()  # also when closed without being shown (QDialog only rejects then)
        super().closeEvent(event)

    # -- messages ------------------------------------------------------------------------

    def _say(self, label: QLabel, text: str, error: bool = False) -> None:
        label.setStyleSheet(_ERROR_STYLE if error else "")
        label.setText(text)


# -- helpers --------------------------------------------------------------------------------


def _items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    found = (tree.topLevelItem(row) for row in range(tree.topLevelItemCount()))
    return [item for item in found if item is not None]


def _selected_key(tree: QTreeWidget) -> str | None:
    item = tree.currentItem()
    if item is None or not item.isSelected():
        return None
    return str(item.data(0, Qt.ItemDataRole.UserRole))


def _select(tree: QTreeWidget, key: str) -> None:
    for item in _items(tree):
        if item.data(0, Qt.ItemDataRole.UserRole) == key:
            tree.setCurrentItem(item)
            item.setSelected(True)
            return


def _installed_entry_ids(
    entries: Sequence[CatalogueEntry], models: Sequence[InstalledModel]
) -> set[str]:
    """Catalogue entries already on this computer: downloaded, or the same file imported."""
    ids = {model.catalogue_id for model in models if model.catalogue_id}
    hashes = {model.sha256 for model in models}
    ids.update(entry.id for entry in entries if entry.sha256 and entry.sha256 in hashes)
    return {entry_id for entry_id in ids if entry_id}


def _dropped_model(mime: QMimeData) -> Path | None:
    """The one local .gguf file being dragged, if that is what it is."""
    if not mime.hasUrls():
        return None
    urls = mime.urls()
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = Path(urls[0].toLocalFile())
    return path if path.suffix.lower() == ".gguf" else None


def _of(done: int, total: int | None) -> str:
    return f"{format_bytes(done)} of {format_bytes(total)}" if total else format_bytes(done)
