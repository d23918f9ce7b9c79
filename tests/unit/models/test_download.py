"""The downloader against a loopback hub: verify, resume, cancel, refuse, stay offline otherwise."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata
from huggingface_hub.errors import OfflineModeIsEnabled

from cove.models import download
from cove.models.catalogue import CatalogueEntry, load_catalogue
from cove.models.download import (
    ChecksumMismatch,
    DiskFull,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    NetworkError,
    NotEnoughSpace,
    download_model,
    hub_online,
    partial_path,
)
from cove.models.gguf import inspect_gguf
from cove.models.hashing import sha256_file
from tests.hubserver import HubServer, make_gguf, serving

REPO = "cove-tests/tiny-GGUF"
FILE = "tiny-Q8_0.gguf"
# About 4 MB: enough chunks to cut, resume and cancel in, small enough to stay fast.
CONTENT = make_gguf(name="Tiny", tensors=[("token_embd.weight", (1024, 1024))], fill=b"\x01\x02")


def entry(**changes: object) -> CatalogueEntry:
    values: dict[str, object] = {
        "id": "tiny",
        "name": "Tiny",
        "repo_id": REPO,
        "filename": FILE,
        "size_bytes": len(CONTENT),
        "sha256": sha256_of(CONTENT),
    }
    values.update(changes)
    return CatalogueEntry(**values)  # type: ignore[arg-type]


def sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class Hosts:
    """A network-guard stand-in: records the hosts it was asked for, allows only loopback."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @contextlib.contextmanager
    def __call__(self, host: str) -> Iterator[None]:
        assert host == "127.0.0.1", f"a test tried to reach {host}"
        self.asked.append(host)
        yield


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with serving(monkeypatch, REPO, FILE, CONTENT) as server:
        yield server


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture(autouse=True)
def offline_everywhere_else() -> Iterator[None]:
    """The app's start-up state: huggingface_hub refuses every request unless lifted."""
    assert hf_constants.HF_HUB_OFFLINE is True
    yield
    assert hf_constants.HF_HUB_OFFLINE is True, "a download left offline mode lifted"


def test_download_verifies_and_installs(hub: HubServer, models: Path) -> None:
    reports: list[DownloadProgress] = []
    online_during: list[bool] = []

    def progress(report: DownloadProgress) -> None:
        reports.append(report)
        online_during.append(hf_constants.HF_HUB_OFFLINE)

    hosts = Hosts()
    result = download_model(entry(), models, progress=progress, permit=hosts)

    assert result.path == models / FILE
    assert result.path.read_bytes() == CONTENT
    if os.name == "posix":  # this user's only, from the first byte
        assert result.path.stat().st_mode & 0o777 == 0o600
    assert result.sha256 == sha256_of(CONTENT)
    assert result.sha256_source == "catalogue"
    assert result.revision == hub.files[(REPO, "main", FILE)].commit
    assert inspect_gguf(result.path).name == "Tiny"
    assert not partial_path(entry(), models).exists()
    assert not list((models / ".partial").iterdir())
    # Progress: starts connecting, counts up, ends verifying at the full size.
    assert reports[0].phase == "connecting"
    done = [r.done for r in reports if r.phase == "downloading"]
    assert done == sorted(done) and done[-1] == len(CONTENT)
    assert reports[-1].phase == "verifying" and reports[-1].fraction == 1.0
    assert hosts.asked  # every network step went through the permit
    assert [r.method for r in hub.seen()] == ["HEAD", "GET"]


def test_downloads_without_huggingface_hubs_xet_client(
        hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built app leaves hf_xet out (build.spec): Cove's downloader streams over
    huggingface_hub's HTTP session and must never need it (Xet's own connections would
    also go round the network guard)."""
    import importlib.abc
    import sys

    class NoXet(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name.split(".")[0] == "hf_xet":
                raise ImportError("hf_xet is not in the built app")

    monkeypatch.setattr(sys, "meta_path", [NoXet(), *sys.meta_path])
    result = download_model(entry(), models, permit=Hosts())
    assert result.path.read_bytes() == CONTENT
    assert [r.method for r in hub.seen()] == ["HEAD", "GET"]


def test_progress_reports_speed_and_time_left(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer(delay=0.005) as hub:  # about 0.3 s for the whole file
        hub.add(REPO, FILE, CONTENT)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        reports: list[DownloadProgress] = []
        download_model(entry(), models, progress=reports.append, permit=Hosts())
    timed = [r for r in reports if r.phase == "downloading" and r.speed]
    assert timed, reports
    assert all(r.speed and r.speed > 0 and r.eta is not None and r.eta >= 0 for r in timed)
    assert len(reports) < 40  # throttled, not one report per chunk


def test_offline_mode_holds_outside_a_download(hub: HubServer) -> None:
    url = f"{hub.url}/{REPO}/resolve/main/{FILE}"
    with pytest.raises(OfflineModeIsEnabled):
        get_hf_file_metadata(url, token=False)
    with hub_online():
        assert get_hf_file_metadata(url, token=False).size == len(CONTENT)
    with pytest.raises(RuntimeError), hub_online():
        raise RuntimeError("restored whatever happens")
    assert hf_constants.HF_HUB_OFFLINE is True


def test_unknown_sha256_uses_the_hubs(hub: HubServer, models: Path) -> None:
    hub.redirect = True  # the real hub sends large files to its CDN
    result = download_model(entry(sha256=None, size_bytes=None), models, permit=Hosts())
    assert result.sha256_source == "hub"
    assert result.sha256 == sha256_file(result.path) == sha256_of(CONTENT)
    assert any(r.path.startswith("/cdn/") and r.method == "GET" for r in hub.seen())


def test_resume_after_a_cut_connection(hub: HubServer, models: Path) -> None:
    hub.drop_after = 1_000_000
    result = download_model(entry(), models, permit=Hosts(), retry_delay=0.01)
    gets = hub.seen("GET")
    assert [g.range for g in gets] == [None, "bytes=1000000-"]
    assert result.path.read_bytes() == CONTENT


def test_cancel_stops_promptly_and_keeps_the_part(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer(delay=0.02) as hub:  # about 1.3 s for the whole file
        hub.add(REPO, FILE, CONTENT)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        cancel = threading.Event()
        cancelled_at: list[float] = []

        def progress(report: DownloadProgress) -> None:
            if report.phase == "downloading" and report.done >= 256 * 1024 and not cancel.is_set():
                cancelled_at.append(time.monotonic())
                cancel.set()

        with pytest.raises(DownloadCancelled, match="cancelled"):
            download_model(entry(), models, progress=progress, cancel=cancel, permit=Hosts())
        assert time.monotonic() - cancelled_at[0] < 1.0
        assert not (models / FILE).exists()
        part = partial_path(entry(), models)
        kept = part.stat().st_size
        assert 256 * 1024 <= kept < len(CONTENT)

        # The next attempt asks only for the rest.
        result = download_model(entry(), models, permit=Hosts())
        assert hub.seen("GET")[-1].range == f"bytes={kept}-"
        assert result.resumed_from == kept
        assert result.path.read_bytes() == CONTENT


def test_cancel_before_start_opens_no_connection(hub: HubServer, models: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        download_model(entry(), models, cancel=cancel)
    assert hub.seen() == []


def test_hash_mismatch_is_refused_and_removed(hub: HubServer, models: Path) -> None:
    # The hub vouches for one file and serves another (a tampered mirror, say).
    hub.add(REPO, FILE, CONTENT, published_sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="Cove deleted it"):
        download_model(entry(sha256=None), models, permit=Hosts())
    assert not (models / FILE).exists()
    assert not partial_path(entry(), models).exists()


def test_catalogue_and_hub_disagree(hub: HubServer, models: Path) -> None:
    with pytest.raises(ChecksumMismatch, match="different file"):
        download_model(entry(sha256="1" * 64), models, permit=Hosts())
    assert hub.seen("GET") == []  # refused before downloading anything


def test_full_disk_gives_a_clear_error(
    hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = download._open_partial

    class FillsUp(io.RawIOBase):
        """The partial file on a disk with 1 MB left: then the kernel's ENOSPC."""

        def __init__(self, inner: io.RawIOBase) -> None:
            self.inner = inner
            self.room = 1_000_000

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.room <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            part = bytes(data[: self.room])
            self.room -= len(part)
            return self.inner.write(part) or 0

        def fileno(self) -> int:
            return self.inner.fileno()

        def close(self) -> None:
            self.inner.close()
            super().close()

    monkeypatch.setattr(download, "_open_partial", lambda path: FillsUp(real_open(path)))
    with pytest.raises(DiskFull, match=r"is full.*continues where it stopped"):
        download_model(entry(), models, permit=Hosts())
    assert not (models / FILE).exists()
    assert partial_path(entry(), models).stat().st_size == 1_000_000  # kept for a resume


def test_not_enough_space_announced_by_the_hub(hub: HubServer, models: Path) -> None:
    hub.add(REPO, FILE, CONTENT, published_size=10**15)  # a petabyte
    with pytest.raises(
        NotEnoughSpace, match=r"needs 1000\.0 TB of free disk space.*only"
    ) as caught:
        download_model(entry(sha256=None, size_bytes=None), models, permit=Hosts())
    assert caught.value.needed > caught.value.free
    assert hub.seen("GET") == []


def test_not_enough_space_known_from_the_catalogue(hub: HubServer, models: Path) -> None:
    with pytest.raises(NotEnoughSpace):
        download_model(entry(size_bytes=10**15), models, permit=Hosts())
    assert hub.seen() == []  # refused before any connection


def test_unreachable_hub(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HubServer() as closed:
        url = closed.url
    monkeypatch.setenv("HF_ENDPOINT", url)  # nothing listens there any more
    with pytest.raises(NetworkError, match=r"127\.0\.0\.1 could not be reached"):
        download_model(entry(), models, permit=Hosts())


def test_unreachable_hub_in_the_flatpak_says_how_to_add_a_file(
        models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HubServer() as closed:
        url = closed.url
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("FLATPAK_ID", "io.github.cove.Cove")  # what flatpak run sets
    with pytest.raises(NetworkError) as raised:
        download_model(entry(), models, permit=Hosts())
    message = str(raised.value)
    assert "no network access" in message and "Open Model File" in message
    assert f"Download {FILE} (the {REPO} repository on the hub) with your browser" in message
    assert "--share=network" in message


def test_missing_file_on_the_hub(hub: HubServer, models: Path) -> None:
    with pytest.raises(DownloadError, match="no longer has"):
        download_model(entry(filename="absent.gguf"), models, permit=Hosts())


def test_a_file_that_is_not_a_model_is_not_offered(hub: HubServer, models: Path) -> None:
    junk = b"<html>not a model</html>" * 100
    hub.add(REPO, "junk.gguf", junk)
    with pytest.raises(DownloadError, match="not usable"):
        download_model(
            entry(filename="junk.gguf", sha256=sha256_of(junk), size_bytes=len(junk)),
            models,
            permit=Hosts(),
        )
    assert not (models / "junk.gguf").exists()


def test_a_verified_file_already_in_place_is_reused(hub: HubServer, models: Path) -> None:
    first = download_model(entry(), models, permit=Hosts())
    again = download_model(entry(), models, permit=Hosts())
    assert again.path == first.path
    assert len(hub.seen("GET")) == 1


def test_a_different_file_of_the_same_name_is_not_overwritten(hub: HubServer, models: Path) -> None:
    models.mkdir()
    (models / FILE).write_bytes(b"someone else's model")
    result = download_model(entry(), models, permit=Hosts())
    assert result.path == models / "tiny-Q8_0-2.gguf"
    assert (models / FILE).read_bytes() == b"someone else's model"


def test_a_stale_part_of_another_file_is_discarded(hub: HubServer, models: Path) -> None:
    part = partial_path(entry(), models)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # no record of which file it belonged to
    result = download_model(entry(), models, permit=Hosts())
    assert result.resumed_from == 0
    assert result.path.read_bytes() == CONTENT


def test_unsafe_file_names_are_refused(models: Path) -> None:
    with pytest.raises(DownloadError, match="not a plain file name"):
        download_model(entry(filename="../escape.gguf"), models, permit=Hosts())


@pytest.mark.real_model
def test_real_starter_model_through_the_catalogue(
    models: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real starter file, served under its catalogue entry, verified with its real SHA-256."""
    starter = next(item for item in load_catalogue() if item.starter)
    with HubServer(chunk_size=1024 * 1024) as hub:
        hub.add(
            starter.repo_id, starter.filename, starter_model.read_bytes(), revision=starter.revision
        )
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        result = download_model(starter, models, permit=Hosts())
    assert result.sha256 == starter.sha256
    assert result.size == starter.size_bytes
    assert inspect_gguf(result.path).has_chat_template
