from __future__ import annotations

import json
from pathlib import Path

from cove.settings import DEFAULT_CONTEXT, ModelSettings, Settings


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(model_path="/models/x.gguf", auto_lock_minutes=5)
    settings.set_model_settings("a" * 16, ModelSettings(n_ctx=2048, temperature=0.2))
    settings.save(path)
    assert Settings.load(path) == settings
    assert Settings.load(path).model_settings("a" * 16).n_ctx == 2048
    assert not path.with_suffix(".tmp").exists()


def test_bad_values_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({
        "auto_lock_minutes": "soon", "offline_mode": 1, "unknown": 5, "model_path": None,
        "models": {"m1": {"n_ctx": "lots", "temperature": 1, "top_k": 2.5, "max_tokens": True,
                          "top_p": 7.0, "repeat_penalty": float("nan")},
                   "m2": "not a dict"}}))
    settings = Settings.load(path)
    assert settings.auto_lock_minutes == 0 and settings.offline_mode is False
    model = settings.model_settings("m1")
    assert model.n_ctx == DEFAULT_CONTEXT  # mistyped: default
    assert model.temperature == 1.0  # an int where a float belongs is fine
    assert model.top_k == ModelSettings().top_k  # not a whole number
    assert model.max_tokens == ModelSettings().max_tokens  # a bool is not a number here
    assert model.top_p == 1.0  # clamped into range
    assert model.repeat_penalty == ModelSettings().repeat_penalty
    assert "m2" not in settings.models


def test_model_defaults_follow_the_context_it_was_trained_on() -> None:
    settings = Settings()
    assert settings.model_settings("new", 2048).n_ctx == 2048
    assert settings.model_settings("new", 32768).n_ctx == DEFAULT_CONTEXT
    assert settings.model_settings(None, None).n_ctx == DEFAULT_CONTEXT
    settings.set_model_settings("big", ModelSettings(n_ctx=16384))
    assert settings.model_settings("big", 8192).n_ctx == 8192  # never above its training
    settings.forget_model("big")
    assert "big" not in settings.models


def test_only_load_settings_need_a_reload() -> None:
    base = ModelSettings()
    assert not base.load_differs(ModelSettings(temperature=0.1, top_k=3, max_tokens=20))
    assert base.load_differs(ModelSettings(n_ctx=1024))
    assert base.load_differs(ModelSettings(n_threads=1))
    assert base.load_differs(ModelSettings(n_gpu_layers=10))


def test_unreadable_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    assert Settings.load(tmp_path / "missing.json") == Settings()


def test_global_generation_settings_of_version_1_become_every_models_starting_point(
        tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "model_path": "/m/x.gguf", "n_ctx": 8192,
                                "n_threads": 1, "temperature": 0.3, "top_p": 0.9,
                                "max_tokens": 512, "auto_lock_minutes": 5}))
    settings = Settings.load(path)
    assert settings.model_path == "/m/x.gguf" and settings.auto_lock_minutes == 5
    model = settings.model_settings("never-configured", 32768)
    assert (model.n_ctx, model.n_threads, model.temperature, model.top_p, model.max_tokens) == (
        8192, 1, 0.3, 0.9, 512)
    assert model.top_k == ModelSettings().top_k  # not in version 1: the usual default
    assert settings.model_settings("small", 2048).n_ctx == 2048  # still within its training
    settings.set_model_settings("own", ModelSettings(temperature=1.2))
    assert settings.model_settings("own", 32768).temperature == 1.2  # its own wins
    settings.save(path)
    assert Settings.load(path).model_settings("never-configured", 32768).temperature == 0.3


def test_a_models_settings_become_the_engines_options_and_params() -> None:
    from cove.inference.engine import GenerationParams, LoadOptions

    assert ModelSettings().load_options() == LoadOptions()  # one set of defaults
    assert ModelSettings().generation_params() == GenerationParams()
    chosen = ModelSettings(n_ctx=2048, n_threads=3, n_gpu_layers=7, temperature=0.2,
                           top_p=0.5, top_k=10, repeat_penalty=1.3, max_tokens=64)
    options = chosen.load_options(LoadOptions(seed=9, fast_kernels="off"))
    assert (options.n_ctx, options.n_threads, options.n_gpu_layers) == (2048, 3, 7)
    assert (options.seed, options.fast_kernels) == (9, "off")  # the rest from the base
    params = chosen.generation_params(seed=4)
    assert params == GenerationParams(temperature=0.2, top_p=0.5, top_k=10,
                                      repeat_penalty=1.3, max_tokens=64, seed=4)
    assert chosen.generation_params(max_tokens=8).max_tokens == 8  # --max-tokens wins
    assert ModelSettings(n_threads=0).load_options().threads() >= 1  # 0: automatic


def test_an_installed_model_runs_with_its_own_settings_within_what_it_was_trained_on() -> None:
    from cove.models.registry import InstalledModel

    short = InstalledModel.from_json({
        "id": "s" * 16, "name": "Short", "path": "/m/short.gguf", "size": 1, "sha256": "0" * 64,
        "source": "imported", "storage": "referenced", "added_at": "", "verified_at": "",
        "mtime_ns": 0,
        "metadata": {"context_length": 2048}})
    settings = Settings()
    assert short.trained_context == 2048
    assert settings.for_model(short).n_ctx == 2048  # the default 4,096 would not fit
    settings.set_model_settings(short.id, ModelSettings(n_ctx=1024, temperature=0.3))
    assert settings.for_model(short) == ModelSettings(n_ctx=1024, temperature=0.3)
    assert settings.for_model(None) == ModelSettings()  # a file that is not installed
