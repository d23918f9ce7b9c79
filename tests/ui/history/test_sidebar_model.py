"""The sidebar's models obey Qt's model contract as conversations come, change and go."""

from __future__ import annotations

from cove.storage.search import SearchHit
from cove.storage.store import ConversationSummary
from cove.ui.history.search_results import SearchResultModel
from cove.ui.history.sidebar import ConversationListModel


def summary(cid: str, updated: float, pinned: bool = False) -> ConversationSummary:
    return ConversationSummary(cid, f"Conversation {cid}", pinned, 1.0, updated, 2)


def test_the_conversation_list_keeps_qts_contract_and_its_order(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = ConversationListModel()
    qtmodeltester.check(model, force_py=True)  # and it watches every change below
    model.set_all([summary("a", 10.0), summary("b", 30.0), summary("c", 20.0, pinned=True)])
    assert [model.summary(row).id for row in range(3)] == ["c", "b", "a"]  # pinned, newest
    model.upsert(summary("a", 40.0))  # a new message moves it up
    model.upsert(ConversationSummary("d", "", False, 0.0, 0.0, 0, damaged=True))
    model.remove("b")
    assert [model.summary(row).id for row in range(model.rowCount())] == ["c", "a", "d"]


def test_the_search_results_keep_qts_contract(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = SearchResultModel()
    qtmodeltester.check(model, force_py=True)  # and it watches every change below
    model.set_hits([SearchHit("a", "m1", "the river bank", ((4, 9),)),
                    SearchHit("b", "m2", "a river", ((2, 7),))], {"a": "Walks", "b": "Maps"})
    assert model.rowCount() == 2
    model.set_hits([], {})
    assert model.rowCount() == 0


def test_headings_go_above_the_first_conversation_of_each_group(qtbot) -> None:  # type: ignore[no-untyped-def]
    import time

    from cove.ui.history.sidebar import ConversationRoles, Sidebar

    now = time.time()
    sidebar = Sidebar()
    qtbot.addWidget(sidebar)
    model = sidebar.model
    model.set_all([summary("old", now - 3 * 86400), summary("new", now),
                   summary("newer", now + 1), summary("pinned", now - 90 * 86400, True)])
    groups = [model.index(row, 0).data(ConversationRoles.GROUP) for row in range(4)]
    assert groups[:3] == ["Pinned", "Today", "Today"] and groups[3] == "Previous 7 days"
    assert [model.starts_group(row) for row in range(4)] == [True, True, False, True]
    delegate = sidebar.list.itemDelegate()
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    option.initFrom(sidebar.list)
    first, second = (delegate.sizeHint(option, model.index(row, 0)).height() for row in (1, 2))
    assert first > second  # room for the "Today" heading
