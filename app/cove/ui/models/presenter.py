"""ModelsPresenter: the installed models in the window: quick switcher, Models window, drops,
the Models page of Settings, and each model's own runtime settings and system prompt."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from cove.core.conversation import Conversation
from cove.core.units import format_bytes
from cove.inference.engine import gpu_offload_supported
from cove.models.gguf import GGUFInfo
from cove.models.memory import estimate_ram_bytes, fit_label
from cove.models.registry import InstalledModel, ModelRegistry
from cove.models.starter import starter_model_path
from cove.settings import ModelSettings
from cove.ui.chat.window import MainWindow
from cove.ui.models.listing import total_memory_bytes
from cove.ui.models.session import ModelsSession
from cove.ui.models.settings_page import ModelSettingsPage
from cove.ui.settings.presenter import SettingsPresenter
from cove.ui.tasks import TaskManager

if TYPE_CHECKING:
    from cove.ui.history.session import HistorySession
    from cove.ui.settings.dialog import SettingsDialog

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
    """The model picker's line: name, quantization and file size ("SmolLM2 · Q8_0 · 138 MB")."""
    parts = [model.name, model.metadata.get("quantization") or "",
             format_bytes(model.size) if model.size else ""]
    return " · ".join(part for part in parts if part)


def model_for_path(models: Iterable[InstalledModel],
                   path: Path | None) -> InstalledModel | None:
    """The model among `models` whose file is `path`, if any."""
    if path is None:
        return None
    wanted = path.expanduser().resolve()
    return next((model for model in models if model.file.resolve() == wanted), None)


class ModelsPresenter(QObject):
    """Which model runs, and how: loads a model with its own settings and system prompt.

    `max_tokens` and `seed`, when given (command line, tests), override every model's own.
    """

    def __init__(self, window: MainWindow, registry: ModelRegistry,
                 settings: SettingsPresenter | None = None,
                 session: HistorySession | None = None, *, max_tokens: int | None = None,
                 seed: int | None = None, tasks: TaskManager | None = None) -> None:
        """`settings`: the app's SettingsPresenter (this presenter adds the Models page and
        saves through it); None makes one that keeps settings in memory."""
        super().__init__(window)
        self.window = window
        self.registry = registry
        self.settings_presenter = settings or SettingsPresenter(window)
        self.settings = self.settings_presenter.settings
        self.history = session
        self.controller = window.controller
        self._own_tasks = tasks is None
        self.tasks = tasks if tasks is not None else TaskManager(self)
        # Hashing, importing, downloading and reading headers: in the background, here.
        self.session = ModelsSession(registry, self.tasks, self.settings.fast_kernels, self)
        """The models' background work: the Models window and the Models page show it."""
        self._models: list[InstalledModel] = []
        self.dialog: Any = None
        self.page: ModelSettingsPage | None = None
        self._max_tokens = max_tokens
        self._seed = seed
        self.current: InstalledModel | None = None  # the model loaded or loading, if installed
        self.runtime = ModelSettings()  # the settings it was loaded with
        if session is not None:
            session.sig_system_prompts.connect(self._apply_runtime)
        window.model_combo.activated.connect(self._on_combo)
        window.models_action.triggered.connect(lambda: self.open_manager())
        window.sig_files_dropped.connect(self._on_dropped)
        window.sig_model_file_chosen.connect(self.load_path)
        self.settings_presenter.sig_opened.connect(self.add_settings_page)
        self.settings_presenter.sig_accepted.connect(self._take_open_page)
        self.settings_presenter.sig_applied.connect(self._apply_settings)
        window.sig_closed.connect(self._close)
        self.controller.sig_model_loading.connect(lambda _name: self._select_current())
        # Each conversation remembers the model it was last used with.
        self.controller.sig_reply_finished.connect(lambda *_: self._remember_model())
        self.controller.sig_conversation_changed.connect(self._model_of_conversation)
        self.refresh()

    def _remember_model(self) -> None:
        conversation = self.controller.model.conversation
        if self.current is not None and conversation.settings.model_id != self.current.id:
            self.controller.set_conversation_settings(
                replace(conversation.settings, model_id=self.current.id))

    def _model_of_conversation(self, conversation: Conversation) -> None:
        """Opening a conversation brings back the model it was used with; a model that
        would not fit this computer's memory is loaded only if the person says so."""
        wanted = conversation.settings.model_id
        if not wanted or self.current is None or wanted == self.current.id \
                or self.controller.busy:
            return
        model = next((m for m in self._models if m.id == wanted), None)
        if model is None:
            return  # removed since: the model in use stays
        needed = estimate_ram_bytes(model.size, self.settings.for_model(model).n_ctx,
                                    model.metadata or None)
        if fit_label(needed, total_memory_bytes()) == "won't fit":
            answer = QMessageBox.question(
                self.window, "Load the Conversation's Model?",
                f"This conversation was written with {model.name}, which needs about "
                f"{format_bytes(needed)} of memory: more than this computer can spare. "
                f"Load it anyway, or keep {self.current.name}?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.window.messages.status(f"Switching to {model.name}, this conversation's model",
                                    4000)
        self.switch_to(model)

    def start(self) -> None:
        """Register the starter model in the background (its hash is taken once)."""
        self.session.ensure_starter(lambda _model: self.refresh())

    def refresh(self) -> None:
        self._models = self.registry.models()
        if self.current is None:
            # Loaded before it was registered (the starter on a first run): now it has an id.
            self.current = model_for_path(self._models, self.controller.model_path)
        combo = self.window.model_combo
        combo.blockSignals(True)
        combo.clear()
        for model in self._models:
            combo.addItem(describe(model), model.id)
        combo.setEnabled(bool(self._models))
        combo.blockSignals(False)
        self._select_current()

    def _select_current(self) -> None:
        model = model_for_path(self._models, self.controller.model_path)
        combo = self.window.model_combo
        combo.setCurrentIndex(combo.findData(model.id) if model is not None else -1)

    def _on_combo(self, row: int) -> None:
        if 0 <= row < len(self._models):
            self.switch_to(self._models[row])

    def switch_to(self, model: InstalledModel) -> None:
        """Load another model: a running reply stops, the old model is released first."""
        if self.registry.needs_recheck(model):
            self.window.messages.status(f"Checking {model.name}…", 0)
            self.session.recheck(model, self._load, self.window.messages.error)
            return
        self._load(model)

    def load_path(self, path: Path) -> None:
        """Load a model file (at start, or File > Open Model File): with its own settings and
        system prompt when it is installed, else with the defaults and none."""
        model = model_for_path(self.registry.models(), path)
        if model is not None:
            self.switch_to(model)  # its hash is checked first if the file changed
        elif path == starter_model_path():
            self._start_load(None, path, None)  # ships with Cove; registered in the background
        else:
            # Not installed, so never tried: a child process tries it before this process
            # does (once per file), so a file that crashes llama.cpp cannot take the window.
            self.session.check_unregistered(
                path, lambda checked: self._start_load(None, checked, None),
                lambda message: self._refused(path, message),
                lambda step, _done, _total: self.window.messages.status(step, 0))

    def _refused(self, path: Path, message: str) -> None:
        self.window.messages.status("", 1)
        if self.controller.ready:  # the model in use stays; only the new file is refused
            self.window.messages.error(message)
        else:
            self.controller.fail_load(path.stem, message)

    def _load(self, model: InstalledModel) -> None:
        self._start_load(model, model.file, model.chat_format)
        self.settings.model_path = model.path
        self.settings_presenter.save()

    def _start_load(self, model: InstalledModel | None, path: Path,
                    chat_format: str | None) -> None:
        self.current = model
        self.runtime = self.settings.for_model(model)
        options = replace(self.runtime.load_options(self.controller.load_options),
                          fast_kernels=self.settings.fast_kernels)
        self._apply_runtime()
        self.controller.load_model(path, chat_format, options)

    def _apply_runtime(self) -> None:
        """Give the chat the current model's sampling settings and system prompt."""
        model = self.current
        runtime = self.settings.for_model(model)
        prompts = self.history.system_prompts if self.history is not None else {}
        self.controller.configure(
            params=runtime.generation_params(
                max_tokens=self._max_tokens,
                seed=self._seed if self._seed is not None else self.controller.params.seed),
            system_prompt=prompts.get(model.id, "") if model else "")

    # The Models page of Settings -------------------------------------------------------

    def add_settings_page(self, dialog: SettingsDialog) -> ModelSettingsPage:
        """Put the Models page first in the Settings dialog; OK applies its edits."""
        from cove.ui.models.listing import total_memory_bytes

        session = self.history
        prompts = session.system_prompts if session is not None and session.unlocked else None
        models = self.registry.models()
        page = ModelSettingsPage(models, self.current.id if self.current else None,
                                 self.settings, prompts, gpu_offload_supported(),
                                 total_memory_bytes(), dialog)
        page.sig_use.connect(lambda model: self._use_from_page(page, model))
        page.sig_manage.connect(lambda: self.open_manager(dialog))
        dialog.add_page("Models", page, first=True)
        self.page = page

        def read(infos: dict[str, GGUFInfo]) -> None:
            if self.page is page:
                page.set_infos(infos)

        self.session.read_headers(models, read)
        dialog.finished.connect(lambda _result: setattr(self, "page", None))
        return page

    def _take_open_page(self, _dialog: SettingsDialog) -> None:
        if self.page is not None:
            self._take_page(self.page)

    def _take_page(self, page: ModelSettingsPage) -> None:
        """Move the page's edits into the settings (saved by the SettingsPresenter) and its
        system prompts into the encrypted history."""
        edits, prompts = page.results()
        for model_id, values in edits.items():
            model = self.registry.get(model_id)
            if model is None:
                continue
            if values != self.settings.for_model(model):
                self.settings.set_model_settings(model_id, values)
        if prompts is not None and self.history is not None and self.history.unlocked:
            self.history.save_system_prompts(prompts)

    def _apply_settings(self) -> None:
        """After Settings' OK: reload the model in use when how it loads has changed, else
        give the chat its new sampling settings and system prompt."""
        current = self.current
        if current is not None and self.settings.for_model(current).load_differs(
                self.runtime):
            self.window.messages.status(f"Loading {current.name} with its new settings…", 0)
            self._start_load(current, current.file, current.chat_format)
        else:
            self._apply_runtime()

    def _use_from_page(self, page: ModelSettingsPage, model: InstalledModel) -> None:
        self._take_page(page)
        self.switch_to(model)  # saves the settings, the page's edits with them
        page.set_current(model.id)

    def _forget(self, model_id: str) -> None:
        """A removed model's settings and system prompt go with it."""
        self.refresh()
        self.settings.forget_model(model_id)
        self.settings_presenter.save()
        session = self.history
        if session is not None and session.unlocked and model_id in session.system_prompts:
            session.save_system_prompts({key: text for key, text in
                                         session.system_prompts.items() if key != model_id})

    def open_manager(self, parent: QWidget | None = None) -> Any:
        """The Models window, over `parent` (the Settings dialog) or the main window."""
        from cove.models.catalogue import CatalogueError, load_catalogue
        from cove.ui.models.dialog import ModelManagerDialog

        try:
            entries = load_catalogue()
        except CatalogueError as error:
            self.window.messages.error(f"The model catalogue cannot be read: {error}")
            entries = []
        current = model_for_path(self._models, self.controller.model_path)
        self.session.fast_kernels = self.settings.fast_kernels
        dialog = ModelManagerDialog(self.session, entries, current.id if current else None,
                                    parent=parent or self.window,
                                    offline=self.settings.offline_mode,
                                    context_of=lambda model: self.settings.for_model(model).n_ctx)
        dialog.sig_use.connect(self.switch_to)
        dialog.sig_removed.connect(self._forget)
        dialog.sig_added.connect(lambda _model: self.refresh())
        dialog.finished.connect(lambda _result: self._manager_closed())
        dialog.open()
        self.dialog = dialog
        return dialog

    def _manager_closed(self) -> None:
        self.refresh()
        if self.page is not None:
            self.page.set_models(self._models, self.settings)

    def _on_dropped(self, paths: list[Path]) -> None:
        models = [path for path in paths if path.suffix.lower() == ".gguf"]
        if not models:
            self.window.messages.error("Only GGUF model files (.gguf) can be added.")
            return
        dialog = self.open_manager()
        dialog.ask_copy_then_import(models[0])  # copy in, or use where it is: the user's call

    def _close(self) -> None:
        self.session.stop()
        if self._own_tasks:
            self.tasks.shutdown(wait=False)
