"""System prompts per conversation: a library of presets (a few ship with Cove, people add
their own) and each conversation's own settings over the model's defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str
    built_in: bool = False


BUILT_IN = (
    Preset("Concise", "Answer briefly and plainly. Use short sentences and no preamble. If a "
                      "list helps, use a short list.", True),
    Preset("Note drafter", "You help the person draft notes. Turn what they give you into "
                           "clear, well-organised notes with headings and bullet points. Keep "
                           "their facts; do not invent new ones.", True),
    Preset("Translator", "You translate. Reply with the translation only, keeping the meaning "
                         "and tone. If no language is named, translate into English; if the "
                         "text is English, translate into the language the person names.",
           True),
    Preset("Explain like a teacher", "Explain like a patient teacher: start from what the "
                                     "person likely knows, build up step by step, and give "
                                     "one small example. End with a one-line summary.", True),
)


@dataclass(frozen=True)
class ConversationSettings:
    """What one conversation uses instead of the model's defaults (None or "": the
    default). Stored sealed with the conversation."""

    preset: str = ""  # the name of the preset chosen
    system_prompt: str | None = None  # this conversation's own; None: the preset's
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    model_id: str = ""  # the model it was last used with
    project: str = ""  # the id of the project (core.projects) it belongs to

    def system_prompt_for(self, presets: list[Preset], model_default: str) -> str:
        """The system prompt a reply in this conversation sees."""
        if self.system_prompt is not None:
            return self.system_prompt
        preset = next((p for p in presets if p.name == self.preset), None)
        return preset.system_prompt if preset is not None else model_default

    def overrides(self) -> dict[str, Any]:
        """The sampling settings this conversation sets (GenerationParams field: value)."""
        values = {"temperature": self.temperature, "top_p": self.top_p,
                  "max_tokens": self.max_tokens}
        return {key: value for key, value in values.items() if value is not None}

    def to_json(self) -> str:
        """"" when everything is the default (most conversations: nothing to store)."""
        if self == ConversationSettings():
            return ""
        return json.dumps({k: v for k, v in asdict(self).items()
                           if v is not None and v != ""}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ConversationSettings:
        """Settings from `to_json`; anything unreadable or mistyped is the default."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(raw, dict):
            return cls()
        changes: dict[str, Any] = {}
        for item in fields(cls):
            value = raw.get(item.name)
            if item.name in ("preset", "model_id", "system_prompt", "project") \
                    and isinstance(value, str):
                changes[item.name] = value
            elif item.name in ("temperature", "top_p") and isinstance(value, int | float):
                changes[item.name] = float(value)
            elif item.name == "max_tokens" and isinstance(value, int):
                changes[item.name] = value
        return replace(cls(), **changes)


def presets_from_json(raw: object) -> list[Preset]:
    """The person's own presets from their stored list (anything malformed is skipped)."""
    items = raw.get("presets", []) if isinstance(raw, dict) else []
    return [Preset(str(item["name"]), str(item["system_prompt"]))
            for item in items if isinstance(item, dict)
            and isinstance(item.get("name"), str) and isinstance(item.get("system_prompt"), str)
            and item["name"].strip()]


def presets_to_json(presets: list[Preset]) -> dict[str, Any]:
    return {"presets": [{"name": p.name, "system_prompt": p.system_prompt}
                        for p in presets if not p.built_in]}
