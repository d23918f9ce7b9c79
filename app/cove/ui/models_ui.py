"""ModelsPresenter: the installed models in the window: quick switcher, Models window, drops."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from cove.models.registry import InstalledModel, ModelRegistry
from cove.settings import Settings
from cove.ui.main_window import MainWindow
from cove.ui.tasks import TaskRunner

log = logging.getLogger(__name__)


def find_model(registry: ModelRegistry, wanted: str) -> InstalledModel | None:
    """An installed model by id, name, catalogue id or file name (any case)."""
    key = wanted.strip().lower()
    for model in registry.models():
        names = {model.id, model.name, model.catalogue_id or "", model.file.name,
                 model.file.stem}
        if key in {name.lower() for name in names if name}:
            return model
    return None


def describe(model: InstalledModel) -> str:
    quantization = model.metadata.get("quantization") or ""
    return f"{model.name} ({quantization})" if quantization else model.name


class ModelsPresenter(QObject):
    def __init__(self, window: MainWindow, registry: ModelRegistry,
                 settings: Settings | None = None, settings_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.registry = registry
        self.settings = settings or Settings()
        self.settings_path = settings_path
        self.controller = window.controller
        self.tasks = TaskRunner("cove-models", parent=self)
        self._models: list[InstalledModel] = []
        self.dialog: Any = None
        window.model_combo.activated.connect(self._on_combo)
        window.models_action.triggered.connect(self.open_manager)
        window.sig_files_dropped.connect(self._on_dropped)
        window.sig_closed.connect(self._close)
        self.controller.sig_model_loading.connect(lambda _name: self._select_current())
        self.refresh()

    def start(self) -> None:
        """Register the starter model in the background (its hash is taken once)."""
        self.tasks.run(self.registry.ensure_starter, lambda _model: self.refresh(),
                       lambda e: log.warning("starter not registered: %s", type(e).__name__))

    def refresh(self) -> None:
        self._models = self.registry.models()
        combo = self.window.model_combo
        combo.blockSignals(True)
        combo.clear()
        for model in self._models:
            combo.addItem(describe(model), model.id)
        combo.setEnabled(bool(self._models))
        combo.blockSignals(False)
        self._select_current()

    def _select_current(self) -> None:
        current = self.controller.model_path
        combo = self.window.model_combo
        for row, model in enumerate(self._models):
            if current is not None and model.file == current:
                combo.setCurrentIndex(row)
                return
        combo.setCurrentIndex(-1)

    def _on_combo(self, row: int) -> None:
        if 0 <= row < len(self._models):
            self.switch_to(self._models[row])

    def switch_to(self, model: InstalledModel) -> None:
        """Load another model: a running reply stops, the old model is released first."""
        if self.registry.needs_recheck(model):
            self.window.statusBar().showMessage(f"Checking {model.name}…")
            self.tasks.run(lambda: self.registry.recheck(model), self._load,
                           lambda error: self.window.banner.show_message(str(error)))
            return
        self._load(model)

    def _load(self, model: InstalledModel) -> None:
        self.controller.load_model(model.file, model.chat_format)
        self.settings.model_path = model.path
        if self.settings_path is not None:
            try:
                self.settings.save(self.settings_path)
            except OSError as error:
                log.warning("settings not saved: %s", type(error).__name__)

    def open_manager(self) -> Any:
        from cove.models.catalogue import CatalogueError, load_catalogue
        from cove.ui.model_manager import ModelManagerDialog

        try:
            entries = load_catalogue()
        except CatalogueError as error:
            self.window.banner.show_message(f"The model catalogue cannot be read: {error}")
            entries = []
        current = next((m.id for m in self._models if m.file == self.controller.model_path),
                       None)
        dialog = ModelManagerDialog(self.registry, entries, current, parent=self.window,
                                    offline=self.settings.offline_mode)
        dialog.sig_use.connect(self.switch_to)
        dialog.sig_removed.connect(lambda _id: self.refresh())
        dialog.sig_added.connect(lambda _model: self.refresh())
        dialog.finished.connect(lambda _result: self.refresh())
        dialog.open()
        self.dialog = dialog
        return dialog

    def _on_dropped(self, paths: list[Path]) -> None:
        models = [path for path in paths if path.suffix.lower() == ".gguf"]
        if not models:
            self.window.banner.show_message("Only GGUF model files (.gguf) can be added.")
            return
        dialog = self.open_manager()
        dialog.ask_copy_then_import(models[0])  # copy in, or use where it is: the user's call

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.stop_work()
        self.tasks.shutdown(wait=False)
