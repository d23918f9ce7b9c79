"""Notes in the chat's projects: moved in and out by the row's menu, shown under the project's
heading above the date groups, and kept in the note's sealed body. A real encrypted store and
the real ProjectsPresenter; a fake model."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from cove.ui.history.projects import ProjectsPresenter
from cove.ui.notes.presenter import NotesPresenter
from cove.ui.notes.session import NotesSession
from cove.ui.notes.workspace import Roles
from tests.apphelpers import Opener, set_up_with_passphrase
from tests.ui.history.test_projects import make_project
from tests.ui.notes.conftest import NotesApp
from tests.ui.notes.test_workspace import new_note, type_and_save


def headed_rows(na: NotesApp) -> list[str]:
    """The notes list as a person reads it: "▸ Heading" above each group, then its titles."""
    model, shown = na.workspace.model, []
    for row in range(model.rowCount()):
        index = model.index(row)
        if model.starts_group(row):
            shown.append(f"▸ {index.data(Roles.GROUP)}")
        shown.append(f"  {index.data()}")
    return shown


def menu_texts(na: NotesApp, row: int) -> list[str]:
    return [a.text() for a in na.workspace.row_menu(na.workspace.model.index(row)).actions()]


def choose(na: NotesApp, title: str, item: str) -> None:
    """The row's menu > Move to Project > `item`."""
    model = na.workspace.model
    row = next(r for r in range(model.rowCount()) if model.index(r).data() == title)
    menu = na.workspace.row_menu(model.index(row))
    move = next(a.menu() for a in menu.actions() if a.text() == "Move to Project")
    assert isinstance(move, QMenu)
    next(a for a in move.actions() if a.text() == item).trigger()


def test_a_note_moves_into_a_project_survives_a_reload_and_moves_out(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    notes = NotesSession(app.session, app.window)
    presenter = NotesPresenter(app.window, notes)
    projects = ProjectsPresenter(app.window, app.session)
    presenter.follow_projects(projects)
    with qtbot.waitSignal(notes.sig_listed, timeout=10_000):
        set_up_with_passphrase(qtbot, app)
    na = NotesApp(app, notes, presenter)
    presenter.toggle()
    ids = {}
    for title in ("Seeds", "Letters"):
        ids[title] = new_note(qtbot, na)
        type_and_save(qtbot, na, title)
    assert "Move to Project" not in menu_texts(na, 0)  # nothing to move into yet
    garden = make_project(qtbot, app, projects, "Garden")
    assert [p.name for p in na.workspace.projects] == ["Garden"]
    assert headed_rows(na) == ["▸ Today", "  Letters", "  Seeds"]

    with qtbot.waitSignal(notes.sig_summary, timeout=5_000):
        choose(na, "Seeds", "Garden")
    assert headed_rows(na) == ["▸ Garden", "  Seeds", "▸ Today", "  Letters"]
    move = na.workspace.row_menu(na.workspace.model.index(0)).actions()[2].menu()
    assert isinstance(move, QMenu)
    assert [(a.text(), a.isChecked()) for a in move.actions() if a.text()] == [
        ("Garden", True), ("Remove from Project", False)]

    store = app.session.store
    assert store is not None
    store.notes.forget()  # read and decrypted again from the file
    assert store.notes.load_note(ids["Seeds"]).project == garden.id
    assert store.notes.load_note(ids["Letters"]).project == ""
    with qtbot.waitSignal(notes.sig_listed, timeout=5_000):
        notes.refresh()
    assert headed_rows(na) == ["▸ Garden", "  Seeds", "▸ Today", "  Letters"]

    with qtbot.waitSignal(notes.sig_summary, timeout=5_000):
        choose(na, "Seeds", "Remove from Project")
    assert headed_rows(na) == ["▸ Today", "  Seeds", "  Letters"]
    store.notes.forget()
    assert store.notes.load_note(ids["Seeds"]).project == ""
