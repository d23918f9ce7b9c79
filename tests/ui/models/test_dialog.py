"""The Models window with real files: fit labels, imports, removal and loopback downloads."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants as hf_constants
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton, QTreeWidget
from pytestqt.qtbot import QtBot

from cove.core.units import format_memory
from cove.models.catalogue import CatalogueEntry, load_catalogue
from cove.models.gguf import inspect_gguf
from cove.models.registry import ModelRegistry, Source, Storage
from cove.ui.models.dialog import OFFLINE_TEXT, ModelManagerDialog
from cove.ui.models.session import ModelsSession
from tests.hubserver import HubServer, make_gguf, serving

GIB = 1024**3
NAME, SIZE, QUANT, PARAMS, RAM, FIT, SOURCE, FORMAT = range(8)
REPO = "cove-tests/tiny-GGUF"
FILE = "tiny-F32.gguf"
# About 2 MB: enough chunks to cancel in, small enough to stay fast.
CONTENT = make_gguf(name="Tiny", tensors=[("token_embd.weight", (512, 1024))], fill=b"\x01\x02")
TINY = CatalogueEntry(
    id="tiny",
    name="Tiny",
    repo_id=REPO,
    filename=FILE,
    size_bytes=len(CONTENT),
    sha256=hashlib.sha256(CONTENT).hexdigest(),
    quantization="F32",
    parameters="524K",
    licence="apache-2.0",
)

Maker = Callable[..., ModelManagerDialog]
pytestmark = pytest.mark.real_model


@pytest.fixture(scope="session")
def starter_registry_file(tmp_path_factory: pytest.TempPathFactory, starter_model: Path) -> Path:
    """A registry holding the starter, hashed once for the whole session."""
    folder = tmp_path_factory.mktemp("registry")
    ModelRegistry(folder / "models.json", folder / "models").ensure_starter(starter_model)
    return folder / "models.json"


@pytest.fixture
def registry(tmp_path: Path, starter_registry_file: Path) -> ModelRegistry:
    shutil.copy(starter_registry_file, tmp_path / "models.json")
    return ModelRegistry(tmp_path / "models.json", tmp_path / "models")


@pytest.fixture
def empty_registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models.json", tmp_path / "models")


@pytest.fixture
def make_dialog(qtbot: QtBot) -> Iterator[Maker]:
    dialogs: list[ModelManagerDialog] = []

    def make(registry: ModelRegistry, entries: Any = (), current: str | None = None,
             **options: Any) -> ModelManagerDialog:
        options.setdefault("total_ram_bytes", 16 * GIB)
        session = ModelsSession(registry)
        dialog = ModelManagerDialog(session, list(entries), current, **options)
        qtbot.addWidget(dialog)
        dialog.show()
        dialogs.append(dialog)
        return dialog

    yield make
    for dialog in dialogs:
        dialog.stop_work()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with serving(monkeypatch, REPO, FILE, CONTENT) as server:
        yield server
    assert hf_constants.HF_HUB_OFFLINE is True, "a download left offline mode lifted"


def shown_rows(tree: QTreeWidget) -> list[list[str]]:
    """A list as the person sees it: the text of each column, row by row."""
    items = (tree.topLevelItem(row) for row in range(tree.topLevelItemCount()))
    return [[item.text(column) for column in range(tree.columnCount())]
            for item in items if item is not None]


def message_box(qtbot: QtBot, dialog: ModelManagerDialog, name: str) -> QMessageBox:
    qtbot.waitUntil(lambda: _visible_box(dialog, name) is not None, timeout=5_000)
    box = _visible_box(dialog, name)
    assert box is not None
    return box


def _visible_box(dialog: ModelManagerDialog, name: str) -> QMessageBox | None:
    box = dialog.findChild(QMessageBox, name)
    return box if box is not None and box.isVisible() else None


def click(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text() == text)
    assert isinstance(button, QPushButton)
    button.click()


def wait_import(qtbot: QtBot, dialog: ModelManagerDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.import_busy, timeout=30_000)


# -- the lists ------------------------------------------------------------------------------


def test_ram_figures_use_each_models_own_context_length(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry
) -> None:
    starter = registry.models()[0]
    expected = format_memory(inspect_gguf(starter.file).estimate_ram_bytes(8192))
    assert expected != "695.8 MB"  # the figure at 4,096 tokens
    dialog = make_dialog(registry, context_of=lambda model: 8192)
    qtbot.waitUntil(lambda: shown_rows(dialog.installed_view)[0][RAM] == expected, timeout=10_000)


@pytest.mark.parametrize(
    ("total_ram", "expected"),
    [(16 * GIB, "fits"), (10**9, "tight"), (5 * 10**8, "won't fit")],
)
def test_installed_list_shows_the_starter_with_its_fit(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry, total_ram: int, expected: str
) -> None:
    starter = registry.models()[0]
    dialog = make_dialog(registry, current=starter.id, total_ram_bytes=total_ram)
    # The RAM figure comes from the file's own header, read in the background (696 MB for
    # the starter at 4,096 tokens), replacing the size-only estimate's 625 MB.
    qtbot.waitUntil(lambda: shown_rows(dialog.installed_view)[0][RAM] == "695.8 MB", timeout=10_000)
    row = shown_rows(dialog.installed_view)[0]
    assert row[NAME] == "SmolLM2-135M-Instruct (in use)"
    assert row[SIZE] == "98.4 MB"
    assert (row[QUANT], row[PARAMS]) == ("Q4_1", "135M")
    assert row[FIT] == expected
    assert (row[SOURCE], row[FORMAT]) == ("starter", "Model's own template")
    dialog.select_model(starter.id)
    assert not dialog.use_button.isEnabled()  # already in use
    assert not dialog.remove_button.isEnabled()
    assert "ships with Cove" in dialog.remove_button.toolTip()


def test_use_emits_the_chosen_model(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry
) -> None:
    starter = registry.models()[0]
    dialog = make_dialog(registry, current=None)
    dialog.select_model(starter.id)
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(dialog.sig_use, timeout=2_000) as used:
        dialog.use_button.click()
    assert used.args == [starter]
    assert shown_rows(dialog.installed_view)[0][NAME].endswith("(in use)")
    assert not dialog.use_button.isEnabled()


def test_catalogue_lists_what_is_not_installed(
    make_dialog: Maker, registry: ModelRegistry
) -> None:
    catalogue = load_catalogue()
    dialog = make_dialog(registry, catalogue, total_ram_bytes=4 * GIB)
    rows = {row[0]: row for row in shown_rows(dialog.catalogue_view)}
    # The starter is installed (same SHA-256), so it is not offered again.
    assert "SmolLM2 135M Instruct" not in rows
    assert len(rows) == len(catalogue) - 1
    assert rows["Qwen2.5 0.5B Instruct"] == [
        "Qwen2.5 0.5B Instruct", "0.5B", "Q4_K_M", "491.4 MB", "1.0 GB", "fits", "apache-2.0"
    ]
    assert rows["Qwen3 8B"][5] == "won't fit"
    assert not dialog.download_button.isEnabled()  # nothing chosen yet
    dialog.select_entry("qwen2.5-0.5b-instruct-q4_k_m")
    assert dialog.download_button.isEnabled()
    assert not dialog.offline_label.isVisible()


# -- adding a file --------------------------------------------------------------------------


def test_add_model_file_by_reference(
    qtbot: QtBot,
    make_dialog: Maker,
    empty_registry: ModelRegistry,
    starter_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialog = make_dialog(empty_registry)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (str(starter_model), ""))
    dialog.add_button.click()
    box = message_box(qtbot, dialog, "copy-or-reference")
    with qtbot.waitSignal(dialog.sig_added, timeout=30_000) as added:
        click(box, "Use Where It Is")
        assert dialog.import_busy and dialog.import_progress.isVisible()
        assert not dialog.add_button.isEnabled()
    model = added.args[0]
    assert model.file == starter_model.resolve()
    assert (model.source, model.storage) == (Source.IMPORTED, Storage.REFERENCED)
    assert empty_registry.models() == [model]
    assert not list(empty_registry.models_dir.glob("*.gguf"))  # nothing copied
    assert shown_rows(dialog.installed_view)[0][SOURCE] == "imported (used in place)"
    assert "added and is ready to use" in dialog.installed_message.text()
    assert not dialog.import_progress.isVisible() and dialog.add_button.isEnabled()


def test_import_a_copy_then_remove_it_frees_the_file(
    qtbot: QtBot, make_dialog: Maker, empty_registry: ModelRegistry, starter_model: Path
) -> None:
    dialog = make_dialog(empty_registry)
    with qtbot.waitSignal(dialog.sig_added, timeout=30_000) as added:
        assert dialog.import_file(starter_model, copy=True)
    model = added.args[0]
    copied = empty_registry.models_dir / starter_model.name
    assert model.file == copied and copied.stat().st_size == starter_model.stat().st_size
    assert model.storage is Storage.OWNED
    assert shown_rows(dialog.installed_view)[0][SOURCE] == "imported (copied)"
    assert not list((empty_registry.models_dir / ".partial").iterdir())

    dialog.select_model(model.id)
    dialog.remove_button.click()
    box = message_box(qtbot, dialog, "confirm-remove")
    assert "deletes its file" in box.text()
    with qtbot.waitSignal(dialog.sig_removed, timeout=10_000) as removed:
        click(box, "Remove")
    assert removed.args == [model.id]
    assert not copied.exists()
    assert empty_registry.models() == []
    assert shown_rows(dialog.installed_view) == []
    assert starter_model.exists()  # the original is untouched


@pytest.mark.parametrize(
    ("make_file", "expected"),
    [
        # Half the starter: the header promises tensor data the file does not hold.
        (lambda model: model.read_bytes()[: model.stat().st_size // 2], "is incomplete"),
        (lambda model: b"\x00garbage, not a model\xff" * 5000, "is not a GGUF model file"),
        # A sound header that llama.cpp still refuses: only the child process finds out.
        (lambda model: make_gguf(), "llama.cpp could not load"),
    ],
    ids=["truncated", "garbage", "llama-cpp-refuses"],
)
def test_a_bad_file_shows_an_error_and_changes_nothing(
    qtbot: QtBot,
    make_dialog: Maker,
    registry: ModelRegistry,
    starter_model: Path,
    tmp_path: Path,
    make_file: Callable[[Path], bytes],
    expected: str,
) -> None:
    bad = tmp_path / "downloads" / "bad.gguf"
    bad.parent.mkdir()
    bad.write_bytes(make_file(starter_model))
    before = registry.models()
    dialog = make_dialog(registry)
    assert dialog.import_file(bad, copy=True)
    wait_import(qtbot, dialog)
    text = dialog.installed_message.text()
    assert expected in text and "bad.gguf" in text
    assert "c62828" in dialog.installed_message.styleSheet()  # shown as an error
    assert registry.models() == before
    assert ModelRegistry(registry.file, registry.models_dir).models() == before  # on disk too
    assert not list(registry.models_dir.rglob("*.gguf*"))  # no copy, no partial copy
    # Still usable: buttons back, and another import goes through.
    assert dialog.add_button.isEnabled() and not dialog.import_progress.isVisible()
    assert dialog.import_file(bad, copy=False)
    wait_import(qtbot, dialog)
    assert expected in dialog.installed_message.text()


def test_dropping_a_gguf_asks_how_to_keep_it(
    qtbot: QtBot, make_dialog: Maker, empty_registry: ModelRegistry, starter_model: Path
) -> None:
    dialog = make_dialog(empty_registry)
    text_file = QMimeData()
    text_file.setUrls([QUrl.fromLocalFile("/tmp/notes.txt")])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, text_file,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    dialog.dragEnterEvent(enter)
    assert not enter.isAccepted()

    model_file = QMimeData()
    model_file.setUrls([QUrl.fromLocalFile(str(starter_model))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, model_file,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    dialog.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, model_file,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(drop)
    box = message_box(qtbot, dialog, "copy-or-reference")
    assert starter_model.name in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: _visible_box(dialog, "copy-or-reference") is None, timeout=2_000)
    assert not dialog.import_busy and empty_registry.models() == []


# -- downloading ----------------------------------------------------------------------------


def test_download_from_the_hub_installs_the_model(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry, hub: HubServer
) -> None:
    dialog = make_dialog(registry, [TINY])
    assert shown_rows(dialog.catalogue_view) == [
        ["Tiny", "524K", "F32", "2.1 MB", "514.4 MB", "fits", "apache-2.0"]
    ]
    dialog.select_entry("tiny")
    with qtbot.waitSignal(dialog.sig_added, timeout=30_000) as added:
        dialog.download_button.click()
        assert dialog.download_progress.isVisible() and not dialog.download_button.isEnabled()
    model = added.args[0]
    assert model.file == registry.models_dir / FILE
    assert model.file.read_bytes() == CONTENT
    assert (model.source, model.catalogue_id) == (Source.CATALOGUE, "tiny")
    assert [row[NAME] for row in shown_rows(dialog.installed_view)] == [
        "SmolLM2-135M-Instruct", "Tiny"]
    assert shown_rows(dialog.installed_view)[1][SOURCE] == "downloaded"
    assert shown_rows(dialog.catalogue_view) == []
    assert "Tiny is downloaded" in dialog.download_message.text()
    assert not dialog.download_progress.isVisible()


def test_cancel_mid_download_installs_nothing_and_a_retry_resumes(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry, hub: HubServer
) -> None:
    hub.chunk_size, hub.delay = 16 * 1024, 0.02  # about 2.7 s for the whole file
    dialog = make_dialog(registry, [TINY])
    assert dialog.start_download(TINY)
    # Bytes, speed and time left, as the person sees them.
    qtbot.waitUntil(lambda: "left" in dialog.download_status.text(), timeout=10_000)
    assert " of 2.1 MB · " in dialog.download_status.text()
    dialog.download_cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.download_busy, timeout=10_000)
    assert "was cancelled" in dialog.download_message.text()
    assert [model.name for model in registry.models()] == ["SmolLM2-135M-Instruct"]
    assert not (registry.models_dir / FILE).exists()
    assert shown_rows(dialog.catalogue_view)[0][NAME] == "Tiny"

    hub.delay = 0.0
    with qtbot.waitSignal(dialog.sig_added, timeout=30_000):
        assert dialog.start_download(TINY)
    assert (registry.models_dir / FILE).read_bytes() == CONTENT
    last_get = hub.seen("GET")[-1]
    assert last_get.range is not None and last_get.range != "bytes=0-"  # resumed


def test_closing_during_a_download_cancels_it(
    qtbot: QtBot, make_dialog: Maker, registry: ModelRegistry, hub: HubServer
) -> None:
    hub.chunk_size, hub.delay = 16 * 1024, 0.02
    dialog = make_dialog(registry, [TINY])
    assert dialog.start_download(TINY)
    qtbot.waitUntil(lambda: " of " in dialog.download_status.text(), timeout=10_000)
    dialog.close()
    qtbot.waitUntil(lambda: not dialog.download_busy, timeout=5_000)
    assert not (registry.models_dir / FILE).exists()
    assert [model.name for model in registry.models()] == ["SmolLM2-135M-Instruct"]


def test_offline_mode_turns_downloads_off(
    make_dialog: Maker, registry: ModelRegistry
) -> None:
    dialog = make_dialog(registry, [TINY], offline=True)
    assert dialog.offline_label.isVisible() and dialog.offline_label.text() == OFFLINE_TEXT
    dialog.select_entry("tiny")
    assert not dialog.download_button.isEnabled()
    assert dialog.download_button.toolTip() == OFFLINE_TEXT
    assert not dialog.start_download(TINY)
    assert dialog.download_message.text() == OFFLINE_TEXT
    assert not dialog.download_busy


def test_an_import_is_tried_with_the_cpu_kernels_the_app_loads_with(
    qtbot: QtBot, make_dialog: Maker, empty_registry: ModelRegistry, starter_model: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal

    from cove.inference import cpu_check
    from cove.models import probe

    monkeypatch.delenv(cpu_check.FAST_KERNELS_ENV, raising=False)
    # This CPU faulted on the fast kernels (as an AMX machine in a VM does).
    monkeypatch.setattr(cpu_check, "_shared", cpu_check.CpuCheck(
        tmp_path / "cache", runner=lambda _model, extra: signal.SIGILL if extra else None))
    seen: list[tuple[str, ...]] = []
    real_command = probe._probe_command

    def command(path: Path, *flags: str) -> list[str]:
        seen.append(flags)
        return real_command(path, *flags)

    monkeypatch.setattr(probe, "_probe_command", command)
    dialog = make_dialog(empty_registry)
    with qtbot.waitSignal(dialog.sig_added, timeout=30_000):
        assert dialog.import_file(starter_model, copy=False)
    assert seen == [(probe.NO_EXTRA_BUFFERS_FLAG,)]


def test_a_file_that_cannot_be_a_model_is_refused_before_asking_how_to_keep_it(
    qtbot: QtBot, make_dialog: Maker, empty_registry: ModelRegistry, tmp_path: Path
) -> None:
    junk = tmp_path / "holiday.gguf"
    junk.write_bytes(b"PK\x03\x04 a zip file renamed" * 100)
    dialog = make_dialog(empty_registry)
    dialog.ask_copy_then_import(junk)
    assert _visible_box(dialog, "copy-or-reference") is None  # nothing asked
    text = dialog.installed_message.text()
    assert "holiday.gguf is not a GGUF model file, though its name ends in .gguf" in text
    assert "(files ending in .gguf)" not in text
    assert not dialog.import_busy


def test_a_header_with_impossible_counts_is_worded_for_a_person(tmp_path: Path) -> None:
    from cove.models.gguf import ModelFileError, check_gguf_file

    lying = tmp_path / "lying.gguf"
    lying.write_bytes(make_gguf(tensor_count=3824976929448323505))
    with pytest.raises(ModelFileError) as refused:
        check_gguf_file(lying)
    assert str(refused.value) == ("lying.gguf is damaged or not a complete model (its header "
                                  "is invalid). If you downloaded it, download it again.")
