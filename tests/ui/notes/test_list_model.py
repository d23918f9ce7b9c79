"""NoteListModel: what the notes list shows and in what order, checked by qtmodeltester."""

from __future__ import annotations

from pytestqt.modeltest import ModelTester

from cove.notes.note import NoteSummary
from cove.ui.notes.workspace import DAMAGED_TITLE, NoteListModel, Roles


def summary(note_id: str, title: str, updated: float, pinned: bool = False) -> NoteSummary:
    return NoteSummary(note_id, title, pinned, 0.0, updated, 3, 12)


def test_order_search_and_damage(qtmodeltester: ModelTester) -> None:
    model = NoteListModel()
    model.set_notes([summary("a" * 16, "Old", 1.0), summary("b" * 16, "New", 3.0),
                     summary("c" * 16, "Pinned", 0.5, pinned=True),
                     NoteSummary("d" * 16, "", False, 0.0, 0.0, 0, 0, damaged=True)])
    qtmodeltester.check(model)
    assert model.titles() == ["Pinned", "New", "Old", DAMAGED_TITLE]
    assert model.index(1).data(Roles.ID) == "b" * 16
    assert model.index(0).data(Roles.PINNED) is True
    model.upsert(summary("a" * 16, "Old, edited", 5.0))
    assert model.titles()[:2] == ["Pinned", "Old, edited"]
    model.show_only(["b" * 16, "zz"], {"b" * 16: "…a match…"})
    assert model.titles() == ["New"]
    assert model.index(0).data(0x03) == "…a match…"  # the tooltip: the matching snippet
    model.show_only(None)
    model.remove("c" * 16)
    assert model.titles() == ["Old, edited", "New", DAMAGED_TITLE]
    qtmodeltester.check(model)
