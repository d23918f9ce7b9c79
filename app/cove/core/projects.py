"""Projects: named folders of conversations, each with its own default system prompt and model.

The list is one sealed preference record ("projects"); a conversation names its project in its
own settings (`ConversationSettings.project`), so moving one touches only that conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cove.core.conversation import new_id

RECORD = "projects"  # the sealed preference record: {"projects": [{"id", "name", ...}]}
NO_PROJECT = ""


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    system_prompt: str = ""  # "" : the model's default
    model_id: str = ""  # "" : whichever model is in use
    folded: bool = False  # its conversations are hidden in the sidebar

    @classmethod
    def create(cls, name: str, system_prompt: str = "", model_id: str = "") -> Project:
        return cls(new_id(), name.strip(), system_prompt, model_id)


def sorted_projects(projects: list[Project]) -> list[Project]:
    """The sidebar's order: by name, as a person reads it."""
    return sorted(projects, key=lambda project: (project.name.casefold(), project.id))


def projects_from_json(raw: object) -> list[Project]:
    """Projects from their stored record; a malformed entry (or a second with the same id)
    is skipped, so one bad entry cannot hide the rest."""
    items = raw.get("projects", []) if isinstance(raw, dict) else []
    projects: dict[str, Project] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        pid, name = item.get("id"), item.get("name")
        prompt, model = item.get("system_prompt", ""), item.get("model_id", "")
        if not (isinstance(pid, str) and pid and isinstance(name, str) and name.strip()
                and isinstance(prompt, str) and isinstance(model, str)) or pid in projects:
            continue
        projects[pid] = Project(pid, name.strip(), prompt, model, item.get("folded") is True)
    return sorted_projects(list(projects.values()))


def projects_to_json(projects: list[Project]) -> dict[str, Any]:
    return {"projects": [{"id": p.id, "name": p.name, "system_prompt": p.system_prompt,
                          "model_id": p.model_id, "folded": p.folded} for p in projects]}
