"""Projects in the window: made from the menu, conversations moved in by menu and by drag and
drop, the project's prompt and model used by its chats, folding, deleting (the conversations
stay), and the list kept sealed across a lock. A real encrypted history throughout; a fake
engine, and the real starter model for the prompt the model reads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMenu, QMessageBox
from pytestqt.qtbot import QtBot

from cove.core.presets import ConversationSettings
from cove.core.projects import RECORD, Project, projects_from_json
from cove.inference.engine import Engine, GenerationParams, LoadOptions
from cove.models.registry import ModelRegistry
from cove.storage.crypto import KdfParams
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.projects import ANY_MODEL, ProjectDialog, ProjectsPresenter
from cove.ui.history.session import HistorySession, HistoryState
from cove.ui.history.sidebar import ConversationRoles
from cove.ui.models.presenter import ModelsPresenter
from tests.apphelpers import PASSPHRASE, Opened, Opener, chat, set_up_with_passphrase
from tests.hubserver import make_gguf

PROMPT = "You answer as a careful gardener, naming plants by their Latin names."


def with_projects(qtbot: QtBot, open_app: Opener,
                  registry: ModelRegistry | None = None) -> tuple[Opened, ProjectsPresenter]:
    app = open_app()
    projects = ProjectsPresenter(app.window, app.session, registry)
    set_up_with_passphrase(qtbot, app)
    return app, projects


def accept(dialog: ProjectDialog, name: str, prompt: str = "", model: str = "") -> None:
    dialog.name.setText(name)
    dialog.prompt.setPlainText(prompt)
    if model:
        dialog.model.setCurrentIndex(dialog.model.findText(model))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def make_project(qtbot: QtBot, app: Opened, projects: ProjectsPresenter, name: str,
                 prompt: str = "", model: str = "") -> Project:
    projects.new_action.trigger()  # Chat > New Project…
    dialog = projects.dialog
    assert dialog is not None and dialog.windowTitle() == "New Project"
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()  # a project needs a name
    accept(dialog, name, prompt, model)
    return next(p for p in projects.projects if p.name == name)


def rows(app: Opened) -> list[str]:
    """The sidebar as a person reads it: "▸ Name" for a heading, "  Title" under it."""
    model, view = app.window.sidebar.model, app.window.sidebar.list
    shown = []
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if view.isRowHidden(row):
            continue
        if index.data(ConversationRoles.HEADING):
            shown.append(f"▸ {index.data()}")
        else:
            indent = "  " if index.data(ConversationRoles.PROJECT) else ""
            shown.append(indent + index.data())
    return shown


def stored_project(app: Opened, conversation_id: str) -> str:
    store = app.session.store
    assert store is not None
    return ConversationSettings.from_json(
        store.conversation_summary(conversation_id).settings).project


def click_heading(qtbot: QtBot, app: Opened, project_id: str, plus: bool = False) -> None:
    sidebar = app.window.sidebar
    index = sidebar.model.index(sidebar.model.heading_row(project_id), 0)
    rect = sidebar.list.visualRect(index)
    point = (sidebar.delegate.plus_rect(rect, index).center() if plus
             else rect.adjusted(30, 0, 0, 0).center())
    qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=point)


def menu_action(menu: QMenu, *path: str):  # type: ignore[no-untyped-def]
    """The action at `path` ("Move to Project", "Garden") in a menu and its submenus."""
    for action in menu.actions():
        if action.text() == path[0]:
            if len(path) == 1:
                return action
            return menu_action(action.menu(), *path[1:])
    raise AssertionError(f"no {path[0]!r} in {[a.text() for a in menu.actions()]}")


def test_a_new_project_shows_above_the_dates_and_its_chats_read_its_prompt(
        qtbot: QtBot, open_app: Opener) -> None:
    app, projects = with_projects(qtbot, open_app)
    controller = app.window.controller
    controller.configure(system_prompt="The model's own default.")
    chat(qtbot, app, "A chat outside any project")
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)
    assert rows(app) == ["▸ Garden", "A chat outside any project"]
    sidebar = app.window.sidebar
    for hovered, target in ((0, -1), (-1, 0)):  # painted plain, hovered and as a drop target
        sidebar.delegate.hovered_row, sidebar.delegate.drop_row = hovered, target
        assert not sidebar.list.viewport().grab().isNull()
    sidebar.delegate.hovered_row = sidebar.delegate.drop_row = -1
    store = app.session.store
    assert store is not None
    qtbot.waitUntil(lambda: projects_from_json(store.load_preference(RECORD)) == [garden],
                    timeout=5_000)
    # The heading's "+" starts a chat in the project: its prompt is what the model reads.
    click_heading(qtbot, app, garden.id, plus=True)
    assert controller.model.conversation.settings.project == garden.id
    chat(qtbot, app, "When do I sow beans?")
    engine = app.factory.made[-1]
    assert engine.seen[-1][0] == {"role": "system", "content": PROMPT}
    assert rows(app) == ["▸ Garden", "  When do I sow beans?", "A chat outside any project"]
    assert stored_project(app, controller.model.conversation.id) == garden.id
    # A conversation's own preset still comes first; outside, the model's default stays.
    controller.set_conversation_settings(replace(controller.model.conversation.settings,
                                                 preset="Concise"))
    chat(qtbot, app, "And peas?")
    assert engine.seen[-1][0]["content"].startswith("Answer briefly")
    app.window.new_conversation()
    chat(qtbot, app, "Something else")
    assert engine.seen[-1][0]["content"] == "The model's own default."


def test_moving_in_and_out_by_the_menu_shown_or_not(qtbot: QtBot, open_app: Opener) -> None:
    app, projects = with_projects(qtbot, open_app)
    controller, sidebar = app.window.controller, app.window.sidebar
    chat(qtbot, app, "Older chat")
    older = controller.model.conversation.id
    app.window.new_conversation()
    chat(qtbot, app, "Shown chat")
    shown = controller.model.conversation.id
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)
    # The conversation on screen, through its menu.
    menu = sidebar.context_menu(sidebar.model.index(sidebar.model.row_of(shown), 0))
    menu_action(menu, "Move to Project", "Garden").trigger()
    assert rows(app) == ["▸ Garden", "  Shown chat", "Older chat"]
    assert stored_project(app, shown) == garden.id
    chat(qtbot, app, "Now in the garden")
    assert app.factory.made[-1].seen[-1][0]["content"] == PROMPT
    # One that is not open moves on the storage lane.
    menu = sidebar.context_menu(sidebar.model.index(sidebar.model.row_of(older), 0))
    assert menu_action(menu, "Move to Project", "Garden").isChecked() is False
    menu_action(menu, "Move to Project", "Garden").trigger()
    qtbot.waitUntil(lambda: rows(app) == ["▸ Garden", "  Shown chat", "  Older chat"],
                    timeout=5_000)
    assert stored_project(app, older) == garden.id
    menu = sidebar.context_menu(sidebar.model.index(sidebar.model.row_of(older), 0))
    assert menu_action(menu, "Move to Project", "Garden").isChecked()
    menu_action(menu, "Move to Project", "Remove from Project").trigger()
    qtbot.waitUntil(lambda: rows(app) == ["▸ Garden", "  Shown chat", "Older chat"],
                    timeout=5_000)
    assert stored_project(app, older) == ""


def test_move_to_a_new_project_from_the_menu(qtbot: QtBot, open_app: Opener) -> None:
    app, projects = with_projects(qtbot, open_app)
    sidebar = app.window.sidebar
    chat(qtbot, app, "Tax questions")
    menu = sidebar.context_menu(sidebar.model.index(0, 0))
    menu_action(menu, "Move to Project", "New Project…").trigger()
    dialog = projects.dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    accept(dialog, "Paperwork")
    assert rows(app) == ["▸ Paperwork", "  Tax questions"]


def drag(app: Opened, conversation_id: str, onto_row: int,
         point: QPointF | None = None) -> None:
    """Drag a conversation's row and drop it on another row (or at `point`), as the list's
    own drag does (the same mime data, the same events on the viewport)."""
    sidebar = app.window.sidebar
    model, viewport = sidebar.model, sidebar.list.viewport()
    data = model.mimeData([model.index(model.row_of(conversation_id), 0)])
    assert isinstance(data, QMimeData)
    point = point or QPointF(sidebar.list.visualRect(model.index(onto_row, 0)).center())
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for event in (QDragEnterEvent(point.toPoint(), Qt.DropAction.MoveAction, data, buttons,
                                  keys),
                  QDragMoveEvent(point.toPoint(), Qt.DropAction.MoveAction, data, buttons,
                                 keys)):
        QApplication.sendEvent(viewport, event)
        assert event.isAccepted()
    heading = model.index(onto_row, 0).data(ConversationRoles.PROJECT)
    assert sidebar.delegate.drop_row == (model.heading_row(heading) if heading else -1)
    drop = QDropEvent(point, Qt.DropAction.MoveAction, data, buttons, keys, QEvent.Type.Drop)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted() and sidebar.delegate.drop_row == -1


def test_drag_a_conversation_onto_a_project_and_back_out(qtbot: QtBot, open_app: Opener,
                                                         tmp_path: Path) -> None:
    app, projects = with_projects(qtbot, open_app)
    controller, model = app.window.controller, app.window.sidebar.model
    chat(qtbot, app, "First")
    first = controller.model.conversation.id
    app.window.new_conversation()
    chat(qtbot, app, "Second")
    second = controller.model.conversation.id
    garden = make_project(qtbot, app, projects, "Garden")
    make_project(qtbot, app, projects, "Work")
    drag(app, first, model.heading_row(garden.id))  # not open: the storage lane
    qtbot.waitUntil(lambda: rows(app) == ["▸ Garden", "  First", "▸ Work", "Second"],
                    timeout=5_000)
    drag(app, second, model.row_of(first))  # onto a row of the project: into it too
    assert rows(app) == ["▸ Garden", "  Second", "  First", "▸ Work"]
    assert (stored_project(app, first), stored_project(app, second)) == (garden.id, garden.id)
    # Dropped below everything: out of the project, back under its date.
    viewport = app.window.sidebar.list.viewport()
    drag(app, second, -1, QPointF(10, viewport.height() - 5))
    assert rows(app) == ["▸ Garden", "  First", "▸ Work", "Second"]
    assert stored_project(app, second) == ""
    # A file dragged over the list is not a conversation: it goes on to the window, which
    # takes files (a model to add, a text file for the composer) as before.
    files = QMimeData()
    files.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    with qtbot.assertNotEmitted(app.window.sidebar.sig_move_to_project):
        enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, files,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted() and app.window.sidebar.delegate.drop_row == -1


def test_fold_rename_settings_and_delete_keeps_the_conversations(
        qtbot: QtBot, open_app: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    app, projects = with_projects(qtbot, open_app)
    controller = app.window.controller
    controller.configure(system_prompt="The model's own default.")
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)
    click_heading(qtbot, app, garden.id, plus=True)
    chat(qtbot, app, "Beans")
    beans = controller.model.conversation.id
    click_heading(qtbot, app, garden.id)  # folds it
    assert rows(app) == ["▸ Garden"]
    store = app.session.store
    assert store is not None
    qtbot.waitUntil(lambda: projects_from_json(store.load_preference(RECORD))[0].folded,
                    timeout=5_000)
    # Renamed, it stays folded; Enter on its heading unfolds it.
    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "getText", lambda *_args: ("Allotment", True))
    menu = app.window.sidebar.context_menu(app.window.sidebar.model.index(0, 0))
    menu_action(menu, "Rename Project…").trigger()
    assert rows(app) == ["▸ Allotment"]
    sidebar = app.window.sidebar
    sidebar.list.setCurrentIndex(sidebar.model.index(sidebar.model.heading_row(garden.id), 0))
    qtbot.keyClick(sidebar.list, Qt.Key.Key_Return)
    assert rows(app) == ["▸ Allotment", "  Beans"]
    menu_action(app.window.sidebar.project_menu(garden.id), "Project Settings…").trigger()
    dialog = projects.dialog
    assert dialog is not None and dialog.name.text() == "Allotment"
    assert dialog.prompt.toPlainText() == PROMPT and dialog.model.currentText() == ANY_MODEL
    qtbot.addWidget(dialog)
    accept(dialog, "Allotment", "Answer in one line.")
    chat(qtbot, app, "Peas")
    assert app.factory.made[-1].seen[-1][0]["content"] == "Answer in one line."
    # Deleting the project keeps its conversation, moved out (on screen and on disk).
    monkeypatch.setattr(QMessageBox, "exec", lambda box: next(
        b for b in box.buttons() if b.text() == "Delete Project").click())
    menu_action(app.window.sidebar.project_menu(garden.id), "Delete Project…").trigger()
    assert rows(app) == ["Beans"]
    qtbot.waitUntil(lambda: stored_project(app, beans) == "", timeout=5_000)
    assert controller.model.conversation.id == beans
    assert controller.model.conversation.settings.project == ""
    qtbot.waitUntil(lambda: projects_from_json(store.load_preference(RECORD)) == [],
                    timeout=5_000)
    chat(qtbot, app, "Still here")
    assert app.factory.made[-1].seen[-1][0]["content"] == "The model's own default."


def test_locking_forgets_the_projects_and_unlocking_reads_them_back(
        qtbot: QtBot, open_app: Opener) -> None:
    app, projects = with_projects(qtbot, open_app)
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)
    chat(qtbot, app, "Kept")
    app.window.sidebar.sig_move_to_project.emit(app.window.controller.model.conversation.id,
                                                garden.id)
    store = app.session.store
    assert store is not None
    qtbot.waitUntil(lambda: store.load_preference(RECORD) is not None, timeout=5_000)
    app.presenter.lock()
    assert projects.projects == [] and app.window.controller.project_prompts == {}
    assert app.window.sidebar.model.projects() == [] and not projects.new_action.isEnabled()
    page = app.window.unlock_page
    qtbot.keyClicks(page.passphrase, PASSPHRASE)
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda state, _m: state == HistoryState.UNLOCKED):
        page.primary.click()
    qtbot.waitUntil(lambda: rows(app) == ["▸ Garden", "  Kept"], timeout=5_000)
    assert app.window.controller.project_prompts == {garden.id: PROMPT}


def test_a_new_chat_in_a_project_loads_the_projects_model(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    small_file, other_file = tmp_path / "small.gguf", tmp_path / "other.gguf"
    small_file.write_bytes(make_gguf(name="Small Chat"))
    other_file.write_bytes(make_gguf(name="Other Chat"))
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    small = registry.import_file(small_file, copy=False)
    other = registry.import_file(other_file, copy=False)
    app, projects = with_projects(qtbot, open_app, registry)
    models = ModelsPresenter(app.window, registry, app.settings, app.session)
    controller = app.window.controller
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
        models.switch_to(small)
    project = make_project(qtbot, app, projects, "Other work", PROMPT, model="Other Chat")
    assert project.model_id == other.id
    with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
        click_heading(qtbot, app, project.id, plus=True)
    assert models.current == other and app.factory.made[-1].path == other.file
    chat(qtbot, app, "Hello")
    assert app.factory.made[-1].seen[-1][0]["content"] == PROMPT
    assert controller.model.conversation.settings.model_id == other.id


@pytest.mark.real_model
def test_the_real_model_reads_the_projects_prompt(qtbot: QtBot, tmp_path: Path,
                                                  starter_model: Path) -> None:
    engines: list[Engine] = []

    def factory(path: Path, options: LoadOptions) -> Engine:
        engines.append(Engine(path, options))
        return engines[-1]

    controller = ChatController(factory, GenerationParams(max_tokens=8, seed=5),
                                LoadOptions(n_ctx=1024))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    session = HistorySession(tmp_path / "cove.db", parent=window,
                             kdf_params=KdfParams.at_floor(), keyring_timeout_s=0.5)
    app = Opened(window, session, HistoryPresenter(window, session), None)
    projects = ProjectsPresenter(window, session)
    window.show()
    with qtbot.waitSignal(controller.sig_model_ready, timeout=60_000):
        controller.load_model(starter_model)
    with qtbot.waitSignal(session.sig_state, timeout=10_000,
                          check_params_cb=lambda state, _m: state == HistoryState.SETUP):
        session.open()
    set_up_with_passphrase(qtbot, app)
    controller.configure(system_prompt="Be brief.")
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)

    def prompt_tokens(question: str) -> int:
        with qtbot.waitSignal(controller.sig_reply_finished, timeout=60_000) as finished:
            window.composer.set_text(question)
            window.composer.send_button.click()
        reply = controller.last_reply()
        assert reply is not None and reply.text.strip()
        return int(finished.args[0].prompt_tokens)

    outside = prompt_tokens("Which plant is this?")
    click_heading(qtbot, app, garden.id, plus=True)
    inside = prompt_tokens("Which plant is this?")
    engine = engines[-1]
    # The rendered prompt grew by exactly the project's prompt in place of the default.
    extra = engine.count_tokens(PROMPT) - engine.count_tokens("Be brief.")
    assert abs((inside - outside) - extra) <= 2
    window.close()


def test_the_list_with_projects_keeps_qts_contract_and_its_order(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    from cove.storage.store import ConversationSummary
    from cove.ui.history.sidebar import ConversationListModel

    garden, work = Project("a" * 16, "Garden"), Project("b" * 16, "Work")

    def summary(cid: str, updated: float, project: str = "") -> ConversationSummary:
        settings = ConversationSettings(project=project).to_json()
        return ConversationSummary(cid, cid.title(), False, 1.0, updated, 2, settings=settings)

    model = ConversationListModel()
    qtmodeltester.check(model, force_py=True)  # and it watches every change below
    model.set_all([summary("loose", 30.0), summary("beans", 10.0, garden.id),
                   summary("peas", 20.0, garden.id), summary("lost", 40.0, "c" * 16)])
    model.set_projects([garden, work])
    titles = [model.index(row, 0).data() for row in range(model.rowCount())]
    assert titles == ["Garden", "Peas", "Beans", "Work", "Lost", "Loose"]  # unknown: loose
    assert [model.starts_group(row) for row in range(6)] == [False] * 4 + [True, False]
    model.upsert(summary("loose", 50.0, work.id))  # moved into Work
    model.remove("beans")
    model.set_folded(garden.id, True)
    assert [model.index(row, 0).data() for row in range(model.rowCount())] == \
        ["Garden", "Peas", "Work", "Loose", "Lost"]
    assert model.folded_at(1) and not model.folded_at(3)
    assert model.index(0, 0).data(ConversationRoles.COUNT) == 1
    assert model.ids_in(work.id) == ["loose"]
    data = model.mimeData([model.index(1, 0)])
    assert bytes(data.data("application/x-cove-conversation").data()) == b"peas"


def test_opening_a_conversation_in_a_folded_project_unfolds_it(
        qtbot: QtBot, open_app: Opener) -> None:
    app, projects = with_projects(qtbot, open_app)
    controller = app.window.controller
    garden = make_project(qtbot, app, projects, "Garden", PROMPT)
    click_heading(qtbot, app, garden.id, plus=True)
    chat(qtbot, app, "Beans")
    beans = controller.model.conversation.id
    click_heading(qtbot, app, garden.id)  # folds it, with the open conversation inside
    assert rows(app) == ["▸ Garden"]
    app.window.new_conversation()
    sidebar = app.window.sidebar
    with qtbot.waitSignal(controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(beans)))
    assert rows(app) == ["▸ Garden", "  Beans"]  # unfolded: the open one is never hidden
    assert sidebar.current_id() == beans
    assert not sidebar.list.isRowHidden(sidebar.model.row_of(beans))
