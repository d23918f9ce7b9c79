"""What the two model lists share (the Models window, the Models page of Settings): the
list widget, the note on what fits, the fit tooltip and the chat format in words."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QWidget

from cove.core.units import format_memory
from cove.models.chat_format import OWN_TEMPLATE_LABEL
from cove.models.memory import FIT_SHARE, TIGHT_SHARE
from cove.models.registry import InstalledModel


def chat_format_text(model: InstalledModel) -> str:
    """Which chat format the model is given, in words."""
    return model.chat_format_label or (OWN_TEMPLATE_LABEL if model.chat_format is None
                                       else model.chat_format)


def memory_note(total_ram: int) -> str:
    """What "fits" means on this computer, for the top of a model list."""
    return (f"This computer has {format_memory(total_ram)} of memory. A model fits when it "
            f"needs at most {FIT_SHARE:.0%} of it, is tight up to {TIGHT_SHARE:.0%}, and won't "
            "fit above that.")


def model_list(columns: Sequence[str], parent: QWidget) -> QTreeWidget:
    """A flat, single-selection list with one column per fact, as both model lists use."""
    tree = QTreeWidget(parent)
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(list(columns))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return tree


def total_memory_bytes() -> int:
    """This computer's physical memory."""
    import psutil

    return int(psutil.virtual_memory().total)


def fit_tip(ram: int, total_ram: int, n_ctx: int | None = None) -> str:
    """The fit column's tooltip: the share of this computer's memory the model needs."""
    if total_ram <= 0:
        return ""
    at = f" at a context of {n_ctx} tokens" if n_ctx else ""
    return f"Needs about {ram / total_ram:.0%} of this computer's memory{at}."
