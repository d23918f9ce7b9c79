"""Typed, versioned settings that say nothing about conversations (those are encrypted).

Each installed model has its own runtime settings (`ModelSettings`: context length, threads,
GPU layers, sampling), keyed by the model's id. A model's default system prompt is text a
person typed, so it lives in the encrypted history (`HistorySession.system_prompts`), never
here.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.core.fsutil import write_json_atomic
from cove.inference.engine import GenerationParams, LoadOptions

if TYPE_CHECKING:
    from cove.models.registry import InstalledModel

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEFAULT_CONTEXT = LoadOptions.n_ctx  # tokens; a model trained on less gets its own length


@dataclass(frozen=True)
class ModelSettings:
    """How one model is loaded and how it samples. Values outside LIMITS are clamped.

    The defaults are the engine's own (LoadOptions, GenerationParams): written once, there.
    """

    n_ctx: int = DEFAULT_CONTEXT  # context length in tokens
    n_threads: int = LoadOptions.n_threads  # CPU threads; 0: one per physical core
    n_gpu_layers: int = LoadOptions.n_gpu_layers  # layers on the GPU (a GPU build only)
    temperature: float = GenerationParams.temperature
    top_p: float = GenerationParams.top_p
    top_k: int = GenerationParams.top_k  # 0: off
    repeat_penalty: float = GenerationParams.repeat_penalty  # 1.0: off
    max_tokens: int = GenerationParams.max_tokens  # longest reply, in tokens
    # Reasoning models whose template has a switch (Qwen3's enable_thinking): think first.
    thinking: bool = LoadOptions.thinking

    def load_options(self, base: LoadOptions | None = None) -> LoadOptions:
        """How the engine loads the model with these settings; the rest from `base`."""
        return replace(base or LoadOptions(), n_ctx=self.n_ctx, n_threads=self.n_threads,
                       n_gpu_layers=self.n_gpu_layers, thinking=self.thinking)

    def generation_params(self, *, max_tokens: int | None = None,
                          seed: int | None = None) -> GenerationParams:
        """How the engine samples with these settings; `max_tokens` and `seed`, when given
        (the command line, tests), win over the model's own."""
        return GenerationParams(temperature=self.temperature, top_p=self.top_p,
                                top_k=self.top_k, repeat_penalty=self.repeat_penalty,
                                max_tokens=max_tokens or self.max_tokens, seed=seed)

    @classmethod
    def for_model(cls, context_length: int | None) -> ModelSettings:
        """The defaults for a model trained on `context_length` tokens (None: unknown)."""
        if context_length and context_length > 0:
            return cls(n_ctx=int(max(LIMITS["n_ctx"][0], min(DEFAULT_CONTEXT, context_length))))
        return cls()

    @classmethod
    def from_json(cls, raw: object, defaults: ModelSettings | None = None) -> ModelSettings:
        """Read what was saved; anything missing or mistyped keeps its default."""
        settings = defaults or cls()
        if not isinstance(raw, dict):
            return settings
        changes: dict[str, Any] = {}
        for item in fields(cls):
            value = raw.get(item.name)
            default = getattr(settings, item.name)
            if isinstance(default, bool):
                if isinstance(value, bool):
                    changes[item.name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(default, int) and not float(value).is_integer():
                continue
            changes[item.name] = type(default)(value)
        return replace(settings, **changes).clamped()

    def clamped(self) -> ModelSettings:
        changes: dict[str, Any] = {}
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                value = getattr(ModelSettings(), name)
            changes[name] = type(value)(min(high, max(low, value)))
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def load_differs(self, other: ModelSettings) -> bool:
        """Whether switching between the two needs the model loaded again."""
        return (self.n_ctx, self.n_threads, self.n_gpu_layers, self.thinking) != (
            other.n_ctx, other.n_threads, other.n_gpu_layers, other.thinking)


LIMITS: dict[str, tuple[float, float]] = {
    "n_ctx": (256, 131072),
    "n_threads": (0, 256),
    "n_gpu_layers": (0, 999),
    "temperature": (0.0, 2.0),
    "top_p": (0.05, 1.0),
    "top_k": (0, 200),
    "repeat_penalty": (1.0, 2.0),
    "max_tokens": (16, 32768),
}


_GLOBAL_V1 = ("n_ctx", "n_threads", "temperature", "top_p", "max_tokens")


@dataclass
class Settings:
    """Non-secret settings. Never put prompt, reply or note text (or a system prompt) here."""

    version: int = SCHEMA_VERSION
    model_path: str = ""  # the model to load at start; empty: the starter model
    auto_lock_minutes: int = 0  # lock the history after this long without input; 0: never
    offline_mode: bool = False  # forbid even model downloads
    # Where the window was (Qt's saveGeometry / saveState, base64) and the conversation open
    # when it closed (a random id: no title, no text), restored at the next start/unlock.
    window_geometry: str = ""
    window_splitter: str = ""
    last_conversation: str = ""
    # llama.cpp's extra CPU buffer types (AMX, repacked weights): "auto" checks this CPU once
    # (cove.inference.cpu_check); "on" or "off" forces it. COVE_FAST_KERNELS overrides.
    fast_kernels: str = "auto"
    # How the window looks: "system", "light" or "dark"; an accent colour ("#rrggbb", empty:
    # Cove's own); the text size in points (0: the system's). Nothing here is user text.
    theme: str = "system"
    accent: str = ""
    font_size: int = 0
    # The chat: whether Enter sends (Shift+Enter: a new line) or Ctrl+Enter sends (Enter: a
    # new line, for people who write long messages); the model and speed under replies.
    ctrl_enter_sends: bool = False
    show_reply_details: bool = True
    model_titles: bool = True  # the loaded model names a conversation after its first reply
    # Memory (MiB) for the model states of recent conversations, so switching back to one
    # costs no re-reading. RAM only, wiped at lock; 0 keeps none.
    state_cache_mb: int = 256
    models: dict[str, Any] = field(default_factory=dict)  # model id -> ModelSettings.to_json()
    # What a model without its own settings starts from (empty: ModelSettings' defaults).
    # Only written by the migration from version 1, whose generation settings were global.
    model_defaults: dict[str, Any] = field(default_factory=dict)

    def model_settings(self, model_id: str | None,
                       context_length: int | None = None) -> ModelSettings:
        """The runtime settings of one model: what was saved, else its defaults."""
        defaults = ModelSettings.for_model(context_length)
        if self.model_defaults:
            defaults = ModelSettings.from_json(self.model_defaults, defaults)
        saved = ModelSettings.from_json(self.models.get(model_id), defaults) if model_id \
            else defaults
        if context_length and saved.n_ctx > context_length:
            saved = replace(saved, n_ctx=max(int(LIMITS["n_ctx"][0]), context_length))
        return saved

    def for_model(self, model: InstalledModel | None) -> ModelSettings:
        """The settings an installed model runs with: its own, else the defaults for the
        context it was trained on; a file that is not installed (None) gets the defaults."""
        if model is None:
            return self.model_settings(None)
        return self.model_settings(model.id, model.trained_context)

    def set_model_settings(self, model_id: str, settings: ModelSettings) -> None:
        self.models[model_id] = settings.clamped().to_json()

    def forget_model(self, model_id: str) -> None:
        self.models.pop(model_id, None)

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read settings; anything missing, mistyped or unreadable falls back to its default."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            log.warning("settings unreadable (%s); using defaults", type(error).__name__)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        settings = cls()
        for item in fields(cls):
            value = raw.get(item.name)
            default = getattr(settings, item.name)
            if item.name == "version" or value is None:
                continue
            if type(value) is type(default):
                setattr(settings, item.name, value)
        settings.models = {str(key): value for key, value in settings.models.items()
                           if isinstance(value, dict)}
        if raw.get("version") == 1 and not settings.model_defaults:
            # Version 1 kept one set of generation settings for every model: they become
            # the starting point of each model's own, so nothing the person chose is lost.
            legacy = {key: raw[key] for key in _GLOBAL_V1 if key in raw}
            checked = ModelSettings.from_json(legacy).to_json()
            settings.model_defaults = {key: checked[key] for key in legacy}
        return settings

    def save(self, path: Path) -> None:
        """Write atomically, so a crash mid-write leaves the old file whole."""
        write_json_atomic(path, asdict(self))
