"""The About dialog: version, llama.cpp's build and CPU variant, licences of what Cove bundles
and of each installed model (the facts come from cove.build_info)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cove import APP_NAME, __version__
from cove.build_info import (
    LLAMA_NOTICE,
    QT_NOTICE,
    bundled_licences,
    llama_build,
    model_licences,
    token_loop,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AboutText:
    """What each tab says, as plain text (also what the tests read)."""

    build: str
    models: str
    licences: str


def gather(kernels_summary: str = "") -> AboutText:
    """Reads small files only (the registry, the catalogue, package metadata or the bundle's
    licences.json) and asks llama.cpp for its build line: well under 100 ms."""
    from cove.paths import app_paths

    llama = llama_build()
    build_lines = [f"{APP_NAME} {__version__}", "", f"llama.cpp: {llama.describe()}."]
    if kernels_summary:
        build_lines.append(kernels_summary)
    loop = token_loop()
    if loop:
        build_lines.append(loop)
    if llama.system_info:
        build_lines += ["", f"llama.cpp was built to use: {llama.system_info}"]

    try:
        from cove.models.catalogue import load_catalogue
        from cove.models.registry import ModelRegistry

        installed = ModelRegistry.for_paths(app_paths()).models()
        catalogue = {entry.id: entry.licence for entry in load_catalogue() if entry.licence}
    except Exception as error:  # the dialog still opens; the models tab says why
        log.warning("about: installed models not read (%s)", type(error).__name__)
        models_text = "The list of installed models could not be read."
    else:
        licences = model_licences(installed, catalogue)
        models_text = ("\n".join(f"{m.name}: {m.licence}" for m in licences) if licences
                       else "No models are installed yet.")
        models_text = ("Each model comes with its own licence, which applies to what you do "
                       "with it.\n\n" + models_text)

    packages = bundled_licences()
    licence_lines = [QT_NOTICE, "", LLAMA_NOTICE, "",
                     f"{APP_NAME} itself: Apache-2.0.", "",
                     "Python packages bundled with Cove (from their metadata):"]
    licence_lines += [f"  {p.name} {p.version}: {p.licence}" for p in packages]
    return AboutText("\n".join(build_lines), models_text, "\n".join(licence_lines))


class AboutDialog(QDialog):
    def __init__(self, text: AboutText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.resize(640, 480)
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{APP_NAME} {__version__}</b><br>Chat with language models that "
                       "run on this computer. Nothing you type leaves it.")
        title.setWordWrap(True)
        layout.addWidget(title)
        self.tabs = QTabWidget()
        for name, body in (("Build", text.build), ("Models", text.models),
                           ("Licences", text.licences)):
            page = QPlainTextEdit(body)
            page.setReadOnly(True)
            self.tabs.addTab(page, name)
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def tab_text(self, name: str) -> str:
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == name:
                page = self.tabs.widget(index)
                assert isinstance(page, QPlainTextEdit)
                return page.toPlainText()
        raise KeyError(name)


def show_about(parent: QWidget, kernels_summary: str = "") -> AboutDialog:
    dialog = AboutDialog(gather(kernels_summary), parent)
    dialog.open()  # window-modal, without a nested event loop
    return dialog
