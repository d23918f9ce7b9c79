"""A conversation's own settings: its preset or system prompt and its sampling, over the
model's defaults; and the library of presets (Cove's and the person's own, stored sealed).

The header's preset button picks a preset for the conversation on screen (a new chat
included); *Chat > Conversation Settings…* edits everything and manages presets."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove.core.conversation import Conversation
from cove.core.presets import (
    BUILT_IN,
    ConversationSettings,
    Preset,
    presets_from_json,
    presets_to_json,
)
from cove.ui import icons, theme

if TYPE_CHECKING:
    from cove.ui.chat.window import MainWindow
    from cove.ui.history.session import HistorySession

log = logging.getLogger(__name__)

PRESETS = "prompt_presets"  # sealed record: {"presets": [{"name", "system_prompt"}]}
NO_PRESET = "Model's default"


class ConversationSettingsDialog(QDialog):
    """Edit one conversation's preset, system prompt and sampling; save presets."""

    def __init__(self, settings: ConversationSettings, presets: list[Preset],
                 model_prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Conversation Settings")
        self.resize(620, 520)
        self.presets = list(presets)
        self._model_prompt = model_prompt
        self.preset = QComboBox(self)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setTabChangesFocus(True)
        self.prompt.setPlaceholderText("Instructions the model sees before this conversation")
        self.prompt.setMinimumHeight(140)
        self.temperature = self._double(0.0, 2.0, 0.05, settings.temperature)
        self.top_p = self._double(0.05, 1.0, 0.05, settings.top_p)
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(15, 32768)
        self.max_tokens.setSingleStep(64)
        self.max_tokens.setSpecialValueText(NO_PRESET)
        self.max_tokens.setValue(settings.max_tokens or 15)
        self.save_button = QPushButton("Save as Preset…", self)
        self.delete_button = QPushButton("Delete Preset", self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset, 1)
        preset_row.addWidget(self.save_button)
        preset_row.addWidget(self.delete_button)
        form = QFormLayout()
        form.addRow("Preset:", preset_row)
        form.addRow("System prompt:", self.prompt)
        form.addRow("Temperature:", self.temperature)
        form.addRow("Top-p:", self.top_p)
        form.addRow("Longest reply (tokens):", self.max_tokens)
        note = QLabel("Empty fields use the model's own settings (Settings > Models). These "
                      "apply to this conversation only and are kept with it, encrypted.", self)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self._fill_presets(settings.preset)
        self._prompt_is_custom = settings.system_prompt is not None
        self.prompt.setPlainText(settings.system_prompt_for(self.presets, model_prompt))
        self.prompt.textChanged.connect(self._prompt_edited)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.save_button.clicked.connect(self._save_preset)
        self.delete_button.clicked.connect(self._delete_preset)
        self._update_buttons()

    def _double(self, low: float, high: float, step: float, value: float | None) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setRange(low - step, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setSpecialValueText(NO_PRESET)
        box.setValue(value if value is not None else low - step)
        return box

    def _fill_presets(self, chosen: str) -> None:
        self.preset.blockSignals(True)
        self.preset.clear()
        self.preset.addItem(NO_PRESET, "")
        for preset in self.presets:
            self.preset.addItem(preset.name + ("" if preset.built_in else " (yours)"),
                                preset.name)
        index = self.preset.findData(chosen)
        self.preset.setCurrentIndex(max(index, 0))
        self.preset.blockSignals(False)

    def _chosen(self) -> Preset | None:
        name = self.preset.currentData()
        return next((p for p in self.presets if p.name == name), None)

    def _preset_chosen(self) -> None:
        preset = self._chosen()
        self.prompt.blockSignals(True)
        self.prompt.setPlainText(preset.system_prompt if preset else self._model_prompt)
        self.prompt.blockSignals(False)
        self._prompt_is_custom = False
        self._update_buttons()

    def _prompt_edited(self) -> None:
        self._prompt_is_custom = True

    def _update_buttons(self) -> None:
        preset = self._chosen()
        self.delete_button.setEnabled(preset is not None and not preset.built_in)

    def _save_preset(self) -> None:
        name, accepted = QInputDialog.getText(self, "Save as Preset", "Name of the preset:")
        name = name.strip()
        if not accepted or not name:
            return
        if any(p.name == name and p.built_in for p in self.presets):
            name += " (mine)"
        self.presets = [p for p in self.presets if p.name != name]
        self.presets.append(Preset(name, self.prompt.toPlainText()))
        self._fill_presets(name)
        self._prompt_is_custom = False
        self._update_buttons()

    def _delete_preset(self) -> None:
        preset = self._chosen()
        if preset is not None and not preset.built_in:
            self.presets = [p for p in self.presets if p.name != preset.name]
            self._fill_presets("")
            self._preset_chosen()

    def result_settings(self, before: ConversationSettings) -> ConversationSettings:
        def optional(box: QDoubleSpinBox) -> float | None:
            return None if box.value() < box.minimum() + 1e-9 else round(box.value(), 2)

        return replace(
            before, preset=str(self.preset.currentData() or ""),
            system_prompt=self.prompt.toPlainText() if self._prompt_is_custom else None,
            temperature=optional(self.temperature), top_p=optional(self.top_p),
            max_tokens=None if self.max_tokens.value() == self.max_tokens.minimum()
            else self.max_tokens.value())


class PresetsPresenter(QObject):
    """The preset button in the header, the Conversation Settings dialog, and the library
    of presets kept sealed in the history."""

    def __init__(self, window: MainWindow, session: HistorySession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.controller = window.controller
        self.own: list[Preset] = []
        self._changed_here = False  # presets saved since unlock: a late read must not undo
        button = self.button = QToolButton(window)
        button.setObjectName("headerButton")
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setIconSize(QSize(16, 16))
        button.setToolTip("This conversation's preset: its system prompt (Chat > "
                          "Conversation Settings… for more)")
        button.setAccessibleName("Preset")
        self.menu = QMenu(button)
        button.setMenu(self.menu)
        self.menu.aboutToShow.connect(self._fill_menu)
        window.add_header_widget(button)
        self.action = QAction("Conversation &Settings…", window)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+,"))
        self.action.triggered.connect(self.open_dialog)
        window.add_chat_action(self.action)
        self.controller.sig_conversation_changed.connect(lambda *_: self.refresh())
        self.controller.sig_settings_changed.connect(lambda *_: self.refresh())
        session.sig_state.connect(self._on_state)
        self.refresh()

    @property
    def presets(self) -> list[Preset]:
        return list(BUILT_IN) + self.own

    def _on_state(self, state: str, _message: str) -> None:
        from cove.ui.history.session import HistoryState

        unlocked = state == HistoryState.UNLOCKED
        self.button.setEnabled(unlocked)
        self.action.setEnabled(unlocked)
        if unlocked and self.session.store is not None:
            store = self.session.store
            self.session.tasks.run(lambda: store.load_preference(PRESETS), self._loaded,
                                   lambda e: log.warning("presets not read: %s",
                                                         type(e).__name__))
        elif not unlocked:
            self._changed_here = False
            self._set_own([])  # locked: the person's presets are user text

    def _loaded(self, record: dict[str, Any] | None) -> None:
        if not self._changed_here:
            self._set_own(presets_from_json(record))

    def _set_own(self, own: list[Preset]) -> None:
        self.own = own
        self.controller.presets = self.presets
        self.refresh()

    def refresh(self) -> None:
        """The button names the conversation's preset (or says it has its own prompt)."""
        settings = self.controller.model.conversation.settings
        if settings.system_prompt is not None:
            label = "Own prompt"
        else:
            label = settings.preset or "No preset"
        self.button.setText(label)
        self.button.setIcon(icons.icon("sparkles", theme.current().dim))

    def _fill_menu(self) -> None:
        self.menu.clear()
        current = self.controller.model.conversation.settings
        for name in ["", *[p.name for p in self.presets]]:
            action = self.menu.addAction(name or NO_PRESET,
                                         lambda name=name: self.choose(name))
            action.setCheckable(True)
            action.setChecked(current.preset == name and current.system_prompt is None)
        self.menu.addSeparator()
        self.menu.addAction(self.action)

    def choose(self, name: str) -> None:
        """Use the preset `name` ("" for the model's default) in this conversation."""
        settings = self.controller.model.conversation.settings
        self.controller.set_conversation_settings(
            replace(settings, preset=name, system_prompt=None))

    def open_dialog(self) -> ConversationSettingsDialog:
        conversation: Conversation = self.controller.model.conversation
        # What the conversation falls back to: its project's prompt, else the model's.
        fallback = (self.controller.project_prompts.get(conversation.settings.project)
                    or self.controller.system_prompt)
        dialog = ConversationSettingsDialog(conversation.settings, self.presets, fallback,
                                            self.window)

        def accepted() -> None:
            self.controller.set_conversation_settings(
                dialog.result_settings(conversation.settings))
            own = [p for p in dialog.presets if not p.built_in]
            if own != self.own:
                self._changed_here = True
                self._set_own(own)
                self._save_own()

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog

    def _save_own(self) -> None:
        store = self.session.store
        if store is None:
            return
        record = presets_to_json(self.own)
        self.session.tasks.run(lambda: store.save_preference(PRESETS, record), None,
                               lambda e: self.window.messages.error(
                                   f"Your presets could not be saved ({type(e).__name__})."))
