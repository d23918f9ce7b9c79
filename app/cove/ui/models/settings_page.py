"""The Models page of Settings: switch models, and each model's own runtime settings.

Lists the installed models with size, quantization, the memory each needs at its context
length, and whether that fits this computer. The form below edits the selected model's
settings (context length, CPU threads, GPU layers when llama.cpp can offload, sampling,
longest reply) and its default system prompt. Nothing is saved until the dialog is accepted
or "Use This Model" is pressed; `results()` hands the edits to ModelsPresenter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cove.core.units import format_bytes, format_memory
from cove.inference.engine import physical_cores
from cove.models.gguf import GGUFInfo
from cove.models.memory import estimate_ram_bytes, fit_label
from cove.models.registry import InstalledModel
from cove.settings import LIMITS, ModelSettings, Settings
from cove.ui.models.listing import chat_format_text, fit_tip, memory_note, model_list

COLUMNS = ("Name", "Size", "Quantization", "RAM needed", "Fit")
_RAM_COLUMN = 3
_FIT_COLUMN = 4
LOCKED_PROMPT_TEXT = "Unlock your history to see or change the system prompt."


def state_cache_note(budget_mb: int) -> str:
    """What the Models page says about the memory kept for recent conversations."""
    if budget_mb <= 0:
        return ("Recent conversations: none kept in memory, so switching back to one reads "
                "it again (state_cache_mb in settings.json).")
    return (f"Recent conversations: up to {budget_mb} MiB of memory "
            "keeps the model's reading of them, so switching back answers at once. It is "
            "never written to disk and locking forgets it (state_cache_mb in settings.json).")


class ModelSettingsPage(QWidget):
    sig_use = Signal(object)
    """Load this InstalledModel now (its edits are applied first)."""
    sig_manage = Signal()
    """Open the Models window (download, add, remove)."""

    def __init__(self, models: Sequence[InstalledModel], current_id: str | None,
                 settings: Settings, prompts: dict[str, str] | None, gpu_offload: bool,
                 total_ram: int, parent: QWidget | None = None) -> None:
        """`prompts` None: the history is locked, so system prompts cannot be shown."""
        super().__init__(parent)
        self._models = {model.id: model for model in models}
        self._settings = settings
        self._current_id = current_id
        self._edits = {model.id: settings.for_model(model) for model in models}
        self._prompts = dict(prompts) if prompts is not None else None
        self._infos: dict[str, GGUFInfo] = {}
        self._total_ram = total_ram
        self._shown: str | None = None  # the model whose settings the form holds
        self._build(gpu_offload)
        for model in models:
            self.model_view.addTopLevelItem(self._item(model))
        self.select_model(current_id or (models[0].id if models else ""))
        self._update()

    # -- building ------------------------------------------------------------------------

    def _build(self, gpu_offload: bool) -> None:
        memory = QLabel(memory_note(self._total_ram), self)
        memory.setWordWrap(True)
        self.state_cache_note = QLabel(state_cache_note(self._settings.state_cache_mb), self)
        self.state_cache_note.setWordWrap(True)
        view = self.model_view = model_list(COLUMNS, self)
        view.currentItemChanged.connect(lambda *_: self._show_selected())
        view.itemActivated.connect(lambda *_: self._use())
        self.use_button = QPushButton("Use This Model", self)
        self.use_button.setToolTip("Save this model's settings and load it now.")
        self.use_button.clicked.connect(self._use)
        self.manage_button = QPushButton("Download or Add Models…", self)
        self.manage_button.clicked.connect(self.sig_manage)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        buttons.addWidget(self.manage_button)

        self.form_box = QGroupBox(self)
        form = QFormLayout(self.form_box)
        self.n_ctx = self._spin("n_ctx", 256)
        self.n_ctx.valueChanged.connect(lambda _value: self._update_ram())
        self.n_threads = self._spin("n_threads", 1)
        self.n_threads.setSpecialValueText(f"One per physical core ({physical_cores()})")
        self.n_gpu_layers = self._spin("n_gpu_layers", 1)
        self.n_gpu_layers.setSpecialValueText("None (CPU only)")
        self.temperature = self._double("temperature", 0.05)
        self.top_p = self._double("top_p", 0.05)
        self.top_k = self._spin("top_k", 1)
        self.top_k.setSpecialValueText("Off")
        self.repeat_penalty = self._double("repeat_penalty", 0.05)
        self.repeat_penalty.setSpecialValueText("Off")
        self.max_tokens = self._spin("max_tokens", 64)
        self.thinking = QCheckBox("Think before answering", self)
        self.thinking.setToolTip(
            "For reasoning models whose chat template has a switch for it (such as Qwen3). "
            "Off: they answer at once. Other models are not affected.")
        self.system_prompt = QPlainTextEdit(self)
        self.system_prompt.setPlaceholderText(
            "Instructions the model sees before every conversation, e.g. "
            "“Answer briefly and in plain English.”")
        self.system_prompt.setTabChangesFocus(True)
        self.system_prompt.setMaximumHeight(90)
        self.chat_format = QLabel(self)
        self.reset_button = QPushButton("Reset to Defaults", self)
        self.reset_button.clicked.connect(self._reset)
        form.addRow("Context length (tokens):", self.n_ctx)
        form.addRow("CPU threads:", self.n_threads)
        form.addRow("GPU layers:", self.n_gpu_layers)
        form.setRowVisible(self.n_gpu_layers, gpu_offload)
        form.addRow("Temperature:", self.temperature)
        form.addRow("Top-p:", self.top_p)
        form.addRow("Top-k:", self.top_k)
        form.addRow("Repeat penalty:", self.repeat_penalty)
        form.addRow("Longest reply (tokens):", self.max_tokens)
        form.addRow("Reasoning:", self.thinking)
        form.addRow("System prompt:", self.system_prompt)
        form.addRow("Chat format:", self.chat_format)
        note = QLabel("Context length, threads and GPU layers take effect when the model "
                      "loads; Cove reloads the model in use when you press OK.", self)
        note.setWordWrap(True)
        form.addRow(note)
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.reset_button)
        reset_row.addStretch(1)
        form.addRow(reset_row)
        self.gpu_offload = gpu_offload
        self.empty_label = QLabel("No model is installed. Download or add one first.", self)

        layout = QVBoxLayout(self)
        layout.addWidget(memory)
        layout.addWidget(self.state_cache_note)
        layout.addWidget(view, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.form_box, 2)

    def _spin(self, name: str, step: int) -> QSpinBox:
        box = QSpinBox(self)
        low, high = LIMITS[name]
        box.setRange(int(low), int(high))
        box.setSingleStep(step)
        box.setAccelerated(True)
        return box

    def _double(self, name: str, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        low, high = LIMITS[name]
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        return box

    def _item(self, model: InstalledModel) -> QTreeWidgetItem:
        item = QTreeWidgetItem([model.name, format_bytes(model.size),
                                str(model.metadata.get("quantization") or "—"), "", ""])
        item.setData(0, Qt.ItemDataRole.UserRole, model.id)
        item.setToolTip(0, model.path)
        self._fill_item(item)
        return item

    # -- reading -------------------------------------------------------------------------

    @property
    def shown_model_id(self) -> str | None:
        return self._shown

    def rows(self) -> list[list[str]]:
        """The list as shown: one list of column texts per row."""
        return [[item.text(column) for column in range(len(COLUMNS))] for item in self._items()]

    def _items(self) -> list[QTreeWidgetItem]:
        view = self.model_view
        return [item for row in range(view.topLevelItemCount())
                if (item := view.topLevelItem(row)) is not None]

    def ram_needed(self, model_id: str) -> int:
        """At the context length in the form; from the file's header once it is read."""
        model = self._models[model_id]
        n_ctx = self._edits[model_id].n_ctx
        info = self._infos.get(model_id)
        return info.estimate_ram_bytes(n_ctx) if info is not None else estimate_ram_bytes(
            model.size)

    def results(self) -> tuple[dict[str, ModelSettings], dict[str, str] | None]:
        """Every model's settings as edited, and the system prompts (None: history locked)."""
        self._keep_form()
        return dict(self._edits), (dict(self._prompts) if self._prompts is not None else None)

    # -- changing ------------------------------------------------------------------------

    def select_model(self, model_id: str) -> None:
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole) == model_id:
                self.model_view.setCurrentItem(item)
                return

    def set_models(self, models: Sequence[InstalledModel], settings: Settings) -> None:
        """The installed models changed (added or removed in the Models window)."""
        self._keep_form()
        shown = self._shown
        self._models = {model.id: model for model in models}
        self._edits = {model.id: self._edits.get(model.id) or settings.for_model(model)
                       for model in models}
        if self._prompts is not None:
            self._prompts = {key: text for key, text in self._prompts.items()
                             if key in self._models}
        self._shown = None
        self.model_view.clear()
        for model in models:
            self.model_view.addTopLevelItem(self._item(model))
        for wanted in (shown, self._current_id, next(iter(self._models), None)):
            if wanted in self._models:
                self.select_model(wanted)
                break
        self._update()

    def set_current(self, model_id: str | None) -> None:
        """Mark the model in use (after "Use This Model" loaded it)."""
        self._current_id = model_id
        self._refresh_items()
        self._update()

    def set_infos(self, infos: dict[str, GGUFInfo]) -> None:
        """Headers read in the background: RAM figures from each file's own shape."""
        self._infos.update(infos)
        self._refresh_items()

    def _refresh_items(self) -> None:
        for item in self._items():
            self._fill_item(item)

    def _fill_item(self, item: QTreeWidgetItem) -> None:
        model_id = item.data(0, Qt.ItemDataRole.UserRole)
        model = self._models[model_id]
        ram = self.ram_needed(model_id)
        current = model_id == self._current_id
        item.setText(0, f"{model.name} (in use)" if current else model.name)
        font = QFont(item.font(0))
        font.setBold(current)
        item.setFont(0, font)
        item.setText(_RAM_COLUMN, format_memory(ram))
        item.setText(_FIT_COLUMN, fit_label(ram, self._total_ram))
        item.setToolTip(_FIT_COLUMN, fit_tip(ram, self._total_ram, self._edits[model_id].n_ctx))

    def _show_selected(self) -> None:
        self._keep_form()
        item = self.model_view.currentItem()
        self._shown = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if self._shown is not None:
            self._fill_form(self._shown)
        self._update()

    def _fill_form(self, model_id: str) -> None:
        model = self._models[model_id]
        values = self._edits[model_id]
        trained = model.trained_context
        self.form_box.setTitle(f"Settings for {model.name}")
        self.n_ctx.blockSignals(True)  # the list's RAM figure follows once all is filled
        self.n_ctx.setMaximum(trained or int(LIMITS["n_ctx"][1]))
        self.n_ctx.setValue(values.n_ctx)
        self.n_ctx.blockSignals(False)
        self.n_ctx.setToolTip(f"{model.name} was trained on {trained} tokens of context."
                              if trained else "")
        self.n_threads.setValue(values.n_threads)
        self.n_gpu_layers.setValue(values.n_gpu_layers)
        self.temperature.setValue(values.temperature)
        self.top_p.setValue(values.top_p)
        self.top_k.setValue(values.top_k)
        self.repeat_penalty.setValue(values.repeat_penalty)
        self.thinking.setChecked(values.thinking)
        self.max_tokens.setValue(values.max_tokens)
        if self._prompts is None:
            self.system_prompt.setPlainText("")
            self.system_prompt.setPlaceholderText(LOCKED_PROMPT_TEXT)
        else:
            self.system_prompt.setPlainText(self._prompts.get(model_id, ""))
        self.system_prompt.setEnabled(self._prompts is not None)
        self.chat_format.setText(chat_format_text(model))

    def _form_values(self, model_id: str) -> ModelSettings:
        return replace(
            self._edits[model_id],
            n_ctx=self.n_ctx.value(),
            n_threads=self.n_threads.value(),
            n_gpu_layers=self.n_gpu_layers.value(),
            temperature=round(self.temperature.value(), 3),
            top_p=round(self.top_p.value(), 3),
            top_k=self.top_k.value(),
            repeat_penalty=round(self.repeat_penalty.value(), 3),
            max_tokens=self.max_tokens.value(),
            thinking=self.thinking.isChecked(),
        ).clamped()

    def _keep_form(self) -> None:
        """Move what the form shows into the edits of the model it belongs to."""
        if self._shown is None or self._shown not in self._models:
            return
        self._edits[self._shown] = self._form_values(self._shown)
        if self._prompts is not None:
            text = self.system_prompt.toPlainText()
            if text.strip():
                self._prompts[self._shown] = text
            else:
                self._prompts.pop(self._shown, None)

    def _update_ram(self) -> None:
        if self._shown is None:
            return
        self._edits[self._shown] = replace(self._edits[self._shown], n_ctx=self.n_ctx.value())
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole) == self._shown:
                self._fill_item(item)

    def _reset(self) -> None:
        if self._shown is None:
            return
        self._edits[self._shown] = self._settings.model_settings(
            None, self._models[self._shown].trained_context)
        if self._prompts is not None:
            self._prompts.pop(self._shown, None)
        self._fill_form(self._shown)
        self._update_ram()

    def _use(self) -> None:
        if self._shown is not None and self._shown != self._current_id:
            self.sig_use.emit(self._models[self._shown])

    def _update(self) -> None:
        has_models = bool(self._models)
        self.form_box.setVisible(has_models)
        self.empty_label.setVisible(not has_models)
        self.use_button.setEnabled(self._shown is not None and self._shown != self._current_id)
