"""Projects: the record's round trip (in memory and through a real encrypted store), junk in it,
and a conversation's project kept in its own sealed settings."""

from __future__ import annotations

import secrets
from pathlib import Path

from cove.core.presets import ConversationSettings
from cove.core.projects import (
    RECORD,
    Project,
    projects_from_json,
    projects_to_json,
    sorted_projects,
)
from cove.paths import app_paths
from cove.storage.store import default_store_path
from tests.unit.storage.test_canary import encoded, files_holding
from tests.unit.storage.test_notes import open_store


def test_projects_round_trip_in_name_order_and_junk_is_skipped() -> None:
    work = Project.create("  Work ", "Answer as a colleague.", "model-a")
    allotment = Project.create("allotment")
    assert work.name == "Work" and len(work.id) == 16 and work.id != allotment.id
    record = projects_to_json([work, allotment])
    assert projects_from_json(record) == [allotment, work]  # by name, any case
    folded = Project("f" * 16, "Folded", folded=True)
    junk = {"projects": [{"id": "x" * 16, "name": "   "},  # no name
                         {"id": 3, "name": "Bad id"},
                         {"id": "y" * 16, "name": "Bad prompt", "system_prompt": ["no"]},
                         "not a project",
                         projects_to_json([folded])["projects"][0],
                         {"id": folded.id, "name": "Same id again"}]}
    assert projects_from_json(junk) == [folded]
    assert projects_from_json(None) == [] == projects_from_json({"projects": "nope"})
    assert sorted_projects([work, allotment]) == [allotment, work]


def test_a_conversations_project_is_in_its_settings_and_older_settings_still_read() -> None:
    settings = ConversationSettings(preset="Concise", project="a" * 16)
    assert ConversationSettings.from_json(settings.to_json()) == settings
    older = '{"preset": "Concise", "model_id": "m"}'  # written before projects
    assert ConversationSettings.from_json(older) == ConversationSettings("Concise",
                                                                         model_id="m")
    assert ConversationSettings.from_json('{"project": 7}').project == ""
    assert ConversationSettings(project="").to_json() == ""  # nothing to store


def test_projects_and_membership_round_trip_through_the_encrypted_store(
        cove_home: Path) -> None:
    canary = f"canary-{secrets.token_hex(6)}-Ünïcödé"
    path = default_store_path(app_paths().ensure())
    project = Project.create(f"Garden {canary}", f"Answer as a gardener {canary}.")
    with open_store(path) as store:
        store.save_preference(RECORD, projects_to_json([project]))
        conversation = store.create_conversation("Tomatoes")
        store.set_conversation_settings(
            conversation, ConversationSettings(project=project.id).to_json())
    with open_store(path) as store:
        assert projects_from_json(store.load_preference(RECORD)) == [project]
        summary = store.conversation_summary(conversation)
        assert ConversationSettings.from_json(summary.settings).project == project.id
    # The project's name and prompt are the person's text: sealed, like messages.
    assert files_holding(cove_home, encoded(canary)) == []
