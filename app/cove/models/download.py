"""Downloading a catalogue model from the Hugging Face Hub: the only code in Cove that connects.

Blocking; the caller runs it off the GUI thread. One call fetches one file: it checks free disk
space, resumes a partial file, verifies the SHA-256 (the catalogue's, else the one the hub
publishes), checks the GGUF header and only then moves the file into the models folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from cove import __version__
from cove.core.fsutil import fsync_dir
from cove.core.units import format_bytes
from cove.models.catalogue import CatalogueEntry
from cove.models.gguf import ModelFileError, inspect_gguf
from cove.models.hashing import HashCancelled, is_sha256, sha256_update_from_file
from cove.models.registry import PARTIAL_DIR, free_name

log = logging.getLogger(__name__)

# Room kept free beyond the file itself: a full disk breaks more than this download.
DISK_MARGIN_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 5
_PROGRESS_INTERVAL = 0.1  # seconds between progress reports: plenty for a progress bar
_SPEED_WINDOW = 5.0  # seconds of history behind the speed and time-left figures
_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}

# Called with the host name; whatever it returns is entered around each network step.
Permit = Callable[[str], AbstractContextManager[object]]


class DownloadError(Exception):
    """The download did not produce a verified model; the message says what to do."""


class DownloadCancelled(DownloadError):
    """The cancel flag was set. The partial file is kept, so the next attempt resumes."""


class NotEnoughSpace(DownloadError):
    def __init__(self, message: str, needed: int, free: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


class DiskFull(DownloadError):
    """The disk filled up while writing."""


class NetworkError(DownloadError):
    """The hub could not be reached or the connection kept failing."""


# Cove's Flatpak has no network at all (its manifest leaves out --share=network, so the
# sandbox itself keeps the offline promise): a download there says how to add a file instead.
FLATPAK_NO_NETWORK = (
    "{host} could not be reached: this Flatpak of Cove has no network access, by design. "
    "Download {file} (the {repo} repository on the hub) with your browser and open it with "
    "File > Open Model File (Ctrl+O), "
    "or drop it on the window; or allow this one download by starting Cove with "
    "`flatpak run --share=network io.github.cove.Cove`.")


def in_flatpak() -> bool:
    """Whether Cove runs inside a Flatpak sandbox."""
    return bool(os.environ.get("FLATPAK_ID")) or Path("/.flatpak-info").exists()


class ChecksumMismatch(DownloadError):
    """The file is not the one the catalogue or the hub vouches for; it was not kept."""


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report: bytes so far, total (None if unknown), speed and time left."""

    phase: str  # "connecting", "checking" (hashing a resumed part), "downloading", "verifying"
    done: int
    total: int | None
    speed: float | None = None  # bytes per second over the last few seconds
    eta: float | None = None  # seconds left at that speed

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size: int
    repo_id: str
    filename: str
    revision: str  # the commit the hub served, when it said; else the catalogue's revision
    sha256_source: str  # "catalogue" or "hub": whose SHA-256 the file was verified against
    resumed_from: int  # bytes reused from an earlier, interrupted attempt


# -- offline mode ---------------------------------------------------------------------------
#
# The app sets HF_HUB_OFFLINE=1 at start-up. huggingface_hub reads it once, at import, into
# huggingface_hub.constants.HF_HUB_OFFLINE, and its HTTP client checks that attribute (through
# constants.is_offline_mode()) before every request. So offline mode is lifted by setting the
# attribute, never the environment, and only while a download's network steps run. A counter
# under a lock lets two downloads overlap: the first in lifts it, the last out restores it.

_online_lock = threading.Lock()
_online_users = 0
_saved_offline = True


@contextlib.contextmanager
def hub_online() -> Iterator[None]:
    """Let huggingface_hub make requests inside the block; restore offline mode whatever happens."""
    global _online_users, _saved_offline
    with _online_lock:
        if _online_users == 0:
            _saved_offline = hf_constants.HF_HUB_OFFLINE
            hf_constants.HF_HUB_OFFLINE = False
        _online_users += 1
    try:
        yield
    finally:
        with _online_lock:
            _online_users -= 1
            if _online_users == 0:
                hf_constants.HF_HUB_OFFLINE = _saved_offline


# -- the download ---------------------------------------------------------------------------


def partial_path(entry: CatalogueEntry, models_dir: str | Path) -> Path:
    """Where an interrupted download of `entry` waits to be resumed."""
    return Path(models_dir) / PARTIAL_DIR / f"{_safe_filename(entry.filename)}.part"


def download_model(
    entry: CatalogueEntry,
    models_dir: str | Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    permit: Permit | None = None,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = 3,
    retry_delay: float = 1.0,
) -> DownloadResult:
    """Download `entry` into `models_dir` and return the verified file.

    Raises DownloadCancelled when `cancel` is set (the partial file stays for a later resume),
    NotEnoughSpace before starting when the disk cannot hold the file, DiskFull when it fills
    up while writing, NetworkError when the hub cannot be reached, ChecksumMismatch when the
    file is not the one vouched for (it is deleted), and DownloadError for anything else.
    `endpoint` defaults to $HF_ENDPOINT, read at call time, else the public hub. `permit(host)`
    is entered around every network step, so a network guard can allow just those.
    """
    return _Download(
        entry=entry,
        models_dir=Path(models_dir),
        reporter=_Reporter(progress),
        cancel=cancel or threading.Event(),
        permit=permit,
        endpoint=_endpoint(endpoint),
        timeout=timeout,
        max_retries=max_retries,
        retry_delay=retry_delay,
    ).run()


@dataclass
class _Remote:
    url: str  # where the bytes are (a CDN address when the hub redirects)
    sha256: str | None
    size: int | None
    commit: str | None


class _Download:
    def __init__(
        self,
        *,
        entry: CatalogueEntry,
        models_dir: Path,
        reporter: _Reporter,
        cancel: threading.Event,
        permit: Permit | None,
        endpoint: str,
        timeout: float,
        max_retries: int,
        retry_delay: float,
    ) -> None:
        self.entry = entry
        self.models_dir = models_dir
        self.reporter = reporter
        self.cancel = cancel
        self.permit = permit
        self.endpoint = endpoint
        self.timeout = httpx2.Timeout(timeout)
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.target = models_dir / _safe_filename(entry.filename)
        self.part = partial_path(entry, models_dir)
        self.sidecar = _sidecar(self.part)
        self.name = entry.name or entry.filename
        # Hashes the bytes as they land, so the file is never read twice; replaced on restart.
        self.digest = hashlib.sha256()

    # -- steps ---------------------------------------------------------------------------

    def run(self) -> DownloadResult:
        self.check_cancel()
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise self.file_error(error) from error
        if self.entry.size_bytes:
            # Known from the catalogue: refuse before any connection is opened.
            self.check_free_space(self.entry.size_bytes - self.usable_partial_size())

        self.reporter.report("connecting", 0, self.entry.size_bytes)
        remote = self.fetch_metadata()
        expected_sha, sha_source = self.expected_sha256(remote)
        size = self.expected_size(remote)

        existing = self.existing_target(expected_sha, size)
        if existing is not None:
            self.forget_partial()
            return existing

        have = self.prepare_partial(expected_sha, size)
        if size is not None:
            self.check_free_space(size - have)
        if have:
            self.reporter.report("checking", 0, have)
            try:
                sha256_update_from_file(
                    self.digest,
                    self.part,
                    limit=have,
                    cancel=self.cancel,
                    progress=lambda done, total: self.reporter.report("checking", done, total),
                )
            except HashCancelled:
                raise self.cancelled() from None
        resumed_from = have
        have, size = self.transfer(remote.url, have, size)

        self.reporter.report("verifying", have, size, force=True)
        actual = self.digest.hexdigest()
        if actual != expected_sha:
            self.forget_partial()
            raise ChecksumMismatch(
                f"The download of {self.name} is not the file the "
                f"{'catalogue' if sha_source == 'catalogue' else 'hub'} vouches for (its SHA-256 "
                f"is {actual[:16]}…, expected {expected_sha[:16]}…). Cove deleted it; try "
                "downloading again, and if this repeats the file on the hub has changed."
            )
        try:
            inspect_gguf(self.part)
        except ModelFileError as error:
            self.forget_partial()
            raise DownloadError(
                f"The downloaded file for {self.name} is not usable: {error}"
            ) from error
        self.install()
        log.info(
            "Downloaded %s (%d bytes, verified against the %s SHA-256)",
            self.target.name,
            have,
            sha_source,
        )
        return DownloadResult(
            path=self.target,
            sha256=actual,
            size=have,
            repo_id=self.entry.repo_id,
            filename=self.entry.filename,
            revision=remote.commit or self.entry.revision,
            sha256_source=sha_source,
            resumed_from=resumed_from,
        )

    def fetch_metadata(self) -> _Remote:
        url = hf_hub_url(
            self.entry.repo_id,
            self.entry.filename,
            revision=self.entry.revision,
            endpoint=self.endpoint,
        )
        host = _host(url)
        headers = _headers()
        try:
            with self.network(host):
                metadata = get_hf_file_metadata(
                    url,
                    token=False,  # never send a saved Hugging Face token anywhere
                    timeout=self.timeout.connect,
                    headers=headers,
                    endpoint=self.endpoint,
                    library_name="cove",
                    library_version=__version__,
                )
        except httpx2.HTTPError as error:
            raise self.network_failure(error, host) from error
        etag = (metadata.etag or "").lower()
        return _Remote(
            url=metadata.location or url,
            sha256=etag if is_sha256(etag) else None,
            size=metadata.size,
            commit=metadata.commit_hash,
        )

    def expected_sha256(self, remote: _Remote) -> tuple[str, str]:
        listed = self.entry.sha256
        if listed and remote.sha256 and listed != remote.sha256:
            raise ChecksumMismatch(
                f"The hub now offers a different file for {self.name} than Cove's catalogue "
                f"lists (SHA-256 {remote.sha256[:16]}… instead of {listed[:16]}…). Cove did not "
                "download it; a newer Cove may list the new file."
            )
        if listed:
            return listed, "catalogue"
        if remote.sha256:
            return remote.sha256, "hub"
        raise DownloadError(
            f"Neither the catalogue nor the hub gives a SHA-256 for {self.name}, so Cove cannot "
            "check the download and will not fetch it."
        )

    def expected_size(self, remote: _Remote) -> int | None:
        listed = self.entry.size_bytes
        if listed and remote.size and listed != remote.size:
            raise DownloadError(
                f"The hub says {self.name} is {format_bytes(remote.size)}, but the catalogue "
                f"lists {format_bytes(listed)}. Cove did not download it."
            )
        return listed or remote.size

    def existing_target(self, expected_sha: str, size: int | None) -> DownloadResult | None:
        """A file already in place with the right hash is offered again without a download."""
        if not self.target.is_file() or (size is not None and self.target.stat().st_size != size):
            return None
        self.reporter.report("checking", 0, size)
        digest = hashlib.sha256()
        try:
            done = sha256_update_from_file(
                digest,
                self.target,
                cancel=self.cancel,
                progress=lambda d, t: self.reporter.report("checking", d, t),
            )
        except HashCancelled:
            raise self.cancelled() from None
        if digest.hexdigest() != expected_sha:
            return None
        return DownloadResult(
            path=self.target,
            sha256=expected_sha,
            size=done,
            repo_id=self.entry.repo_id,
            filename=self.entry.filename,
            revision=self.entry.revision,
            sha256_source="catalogue" if self.entry.sha256 else "hub",
            resumed_from=done,
        )

    def usable_partial_size(self) -> int:
        try:
            return self.part.stat().st_size
        except OSError:
            return 0

    def prepare_partial(self, expected_sha: str, size: int | None) -> int:
        """Bytes of an earlier attempt worth keeping: only of the same file, never too many."""
        have = self.usable_partial_size()
        if not have:
            self.write_sidecar(expected_sha, size)
            return 0
        try:
            recorded = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        same_file = isinstance(recorded, dict) and recorded.get("sha256") == expected_sha
        if not same_file or (size is not None and have > size):
            log.info("Discarding a partial download of a different or damaged file")
            self.forget_partial()
            self.write_sidecar(expected_sha, size)
            return 0
        return have

    def write_sidecar(self, expected_sha: str, size: int | None) -> None:
        record = {
            "repo_id": self.entry.repo_id,
            "filename": self.entry.filename,
            "revision": self.entry.revision,
            "sha256": expected_sha,
            "size": size,
        }
        try:
            self.sidecar.write_text(json.dumps(record), encoding="utf-8")
        except OSError as error:
            raise self.file_error(error) from error

    def check_free_space(self, needed: int) -> None:
        needed = max(needed, 0)
        try:
            free = shutil.disk_usage(
                self.part.parent if self.part.parent.exists() else self.models_dir
            ).free
        except OSError:
            return  # cannot tell; a full disk is still caught while writing
        if free < needed + DISK_MARGIN_BYTES:
            raise NotEnoughSpace(
                f"Downloading {self.name} needs {format_bytes(needed + DISK_MARGIN_BYTES)} of "
                f"free disk space in {self.models_dir}, but only {format_bytes(free)} is free. "
                "Free some space and try again.",
                needed=needed + DISK_MARGIN_BYTES,
                free=free,
            )

    # -- transfer ------------------------------------------------------------------------

    def transfer(self, url: str, have: int, size: int | None) -> tuple[int, int]:
        failures = 0
        try:
            handle = _open_partial(self.part)
        except OSError as error:
            raise self.file_error(error) from error
        try:
            self.reporter.start_transfer(have)
            while size is None or have < size:
                self.check_cancel()
                before = have
                try:
                    have, size, complete = self.fetch_range(url, handle, have, size)
                except _Retry as retry:
                    have = retry.have
                    failures = 0 if have > before else failures + 1
                    if failures > self.max_retries:
                        raise self.network_failure(retry.error, _host(url)) from retry.error
                    log.warning("Download interrupted (%s); resuming", type(retry.error).__name__)
                    if self.cancel.wait(self.retry_delay * failures):
                        raise self.cancelled() from None
                    continue
                if complete and size is None:
                    size = have
            if have != size:
                self.forget_partial()
                raise DownloadError(
                    f"The hub sent {format_bytes(have)} for {self.name} instead of "
                    f"{format_bytes(size)}. Cove deleted the download; try again."
                )
            self.sync(handle)
        finally:
            with contextlib.suppress(OSError):
                handle.close()
        return have, size

    def fetch_range(
        self, url: str, handle: BinaryIO, have: int, size: int | None
    ) -> tuple[int, int | None, bool]:
        """One GET from `have` on; returns (bytes now held, total size, response finished)."""
        headers = _headers()
        if have:
            headers["Range"] = f"bytes={have}-"
        client = get_session()
        response: httpx2.Response | None = None
        try:
            for _ in range(MAX_REDIRECTS + 1):
                host = _host(url)
                with self.network(host):
                    request = client.build_request(
                        "GET", url, headers=headers, timeout=self.timeout
                    )
                    response = client.send(request, stream=True, follow_redirects=False)
                    if response.has_redirect_location:
                        # Follow by hand so the permit sees every host the bytes come from.
                        url = urljoin(url, response.headers["Location"])
                        response.close()
                        response = None
                        continue
                    have, size = self.start_body(response, handle, have, size)
                    for chunk in response.iter_raw():
                        if self.cancel.is_set():
                            raise self.cancelled()
                        self.write(handle, chunk)
                        self.digest.update(chunk)
                        have += len(chunk)
                        if size is not None and have > size:
                            self.forget_partial()
                            raise DownloadError(
                                f"The hub sent more data for {self.name} than the file holds. "
                                "Cove deleted the download; try again."
                            )
                        self.reporter.transferred(have, size)
                    return have, size, True
            raise DownloadError(f"The hub redirected the download of {self.name} too many times.")
        except httpx2.TransportError as error:
            raise _Retry(error, have) from error
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else None
            if status in _RETRY_STATUS:
                raise _Retry(error, have) from error
            raise self.network_failure(error, _host(url)) from error
        finally:
            if response is not None:
                response.close()

    def start_body(
        self,
        response: httpx2.Response,
        handle: BinaryIO,
        have: int,
        size: int | None,
    ) -> tuple[int, int | None]:
        """Check a GET's status and headers before its body is trusted; rewind when needed."""
        if response.status_code == 416 and have:
            # The server cannot serve from where the partial file ends: start over.
            self.restart(handle)
            raise _Retry(httpx2.RemoteProtocolError("range not satisfiable"), 0)
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("identity", ""):
            raise DownloadError(
                f"The hub sent {self.name} compressed ({encoding}); Cove cannot resume or verify "
                "such a download."
            )
        if response.status_code == 206:
            match = _RANGE_RE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != have:
                self.restart(handle)
                raise _Retry(httpx2.RemoteProtocolError("unexpected Content-Range"), 0)
            total = None if match.group(3) == "*" else int(match.group(3))
        else:
            if have:
                # The server ignored the Range header and sends the whole file again.
                self.restart(handle)
                have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise DownloadError(
                f"The hub now sends {self.name} as {format_bytes(total)}, not the expected "
                f"{format_bytes(size)}. Cove did not keep it."
            )
        return have, size if size is not None else total

    def restart(self, handle: BinaryIO) -> None:
        try:
            handle.truncate(0)
        except OSError as error:
            raise self.file_error(error) from error
        self.digest = hashlib.sha256()
        self.reporter.start_transfer(0)

    def write(self, handle: BinaryIO, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = handle.write(view)
                if written is None or written <= 0:
                    raise OSError(errno.EIO, "the file refused the write")
                view = view[written:]
        except OSError as error:
            raise self.file_error(error) from error

    def sync(self, handle: BinaryIO) -> None:
        try:
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as error:
            raise self.file_error(error) from error

    def install(self) -> None:
        """Move the verified file into place atomically: the folder never holds half a model."""
        # A different file of the same name (an imported copy, say) is never overwritten.
        self.target = free_name(self.models_dir, self.target.name)
        try:
            os.replace(self.part, self.target)
            fsync_dir(self.models_dir)
        except OSError as error:
            raise self.file_error(error) from error
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()

    def forget_partial(self) -> None:
        for path in (self.part, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- helpers -------------------------------------------------------------------------

    @contextlib.contextmanager
    def network(self, host: str) -> Iterator[None]:
        """Offline mode lifted and the guard's permission held, for one network step."""
        with hub_online(), self.permit(host) if self.permit else contextlib.nullcontext():
            yield

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise self.cancelled()

    def cancelled(self) -> DownloadCancelled:
        return DownloadCancelled(
            f"The download of {self.name} was cancelled. What was downloaded is kept, so the "
            "next attempt continues from there."
        )

    def file_error(self, error: OSError) -> DownloadError:
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            done = self.usable_partial_size()
            remaining = (
                f" Free at least {format_bytes(self.entry.size_bytes - done)} and"
                if self.entry.size_bytes
                else " Free some space and"
            )
            return DiskFull(
                f"The disk holding {self.models_dir} is full, so the download of {self.name} "
                f"stopped after {format_bytes(done)}.{remaining} try again: the download "
                "continues where it stopped."
            )
        return DownloadError(
            f"Cove could not write the download of {self.name} to {self.models_dir} "
            f"({error.strerror or error}). Check that the folder is writable."
        )

    def network_failure(self, error: Exception, host: str) -> DownloadError:
        if isinstance(error, GatedRepoError):
            return DownloadError(
                f"{self.entry.repo_id} on the hub asks people to accept its licence first; "
                "Cove downloads only files that need no account."
            )
        if isinstance(error, (RepositoryNotFoundError, DisabledRepoError)):
            return DownloadError(f"The hub no longer has the repository {self.entry.repo_id}.")
        if isinstance(error, RevisionNotFoundError):
            return DownloadError(
                f"The hub no longer has the version of {self.entry.repo_id} Cove's catalogue lists."
            )
        if isinstance(error, RemoteEntryNotFoundError):
            return DownloadError(
                f"The hub no longer has {self.entry.filename} in {self.entry.repo_id}."
            )
        if isinstance(error, HfHubHTTPError):
            status = error.response.status_code if error.response is not None else "?"
            return NetworkError(
                f"The hub at {host} answered the download of {self.name} with an error "
                f"(HTTP {status}). Try again later."
            )
        if isinstance(error, httpx2.TimeoutException):
            why = "did not answer in time"
        elif isinstance(error, httpx2.ConnectError):
            why = "could not be reached"
            if in_flatpak():
                return NetworkError(FLATPAK_NO_NETWORK.format(
                    host=host, file=self.entry.filename, repo=self.entry.repo_id))
        else:
            why = "dropped the connection"
        return NetworkError(
            f"{host} {why} while downloading {self.name}. Check the internet connection and "
            "try again; the download continues where it stopped."
        )


class _Retry(Exception):
    """A transient failure after which the download may resume from `have` bytes."""

    def __init__(self, error: Exception, have: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.have = have


class _Reporter:
    """Turns byte counts into throttled progress reports with speed and time left."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.last_emit = 0.0
        self.last_phase = ""
        self.samples: deque[tuple[float, int]] = deque()

    def start_transfer(self, have: int) -> None:
        # Bytes already on disk do not count towards the speed.
        self.samples.clear()
        self.samples.append((time.monotonic(), have))

    def transferred(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > _SPEED_WINDOW:
            self.samples.popleft()
        self.report("downloading", done, total, force=done == total)

    def report(self, phase: str, done: int, total: int | None, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and phase == self.last_phase and now - self.last_emit < _PROGRESS_INTERVAL:
            return
        speed = eta = None
        if phase == "downloading" and len(self.samples) >= 2:
            (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
            if t1 - t0 > 0.05:
                speed = (b1 - b0) / (t1 - t0)
                if total is not None and speed > 0:
                    eta = max(total - done, 0) / speed
        self.last_emit, self.last_phase = now, phase
        try:
            self.callback(DownloadProgress(phase, done, total, speed, eta))
        except Exception:  # a broken progress display must not break the download
            log.exception("Download progress callback failed")


def _open_partial(path: Path) -> BinaryIO:
    """The partial file, opened to append without a buffer (tests replace this to fill the disk)."""
    # This user's only, like everything Cove writes; closed by the transfer loop.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab",
                     buffering=0)


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _safe_filename(name: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise DownloadError(f"{name!r} is not a plain file name; Cove will not write it.")
    return name


def _endpoint(endpoint: str | None) -> str:
    value = (endpoint or os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
        raise DownloadError(f"The hub address {value!r} is not an http(s) address.")
    return value


def _headers() -> dict[str, str]:
    headers = build_hf_headers(token=False, library_name="cove", library_version=__version__)
    headers["Accept-Encoding"] = "identity"  # byte ranges and the hash need the file as stored
    return headers


def _host(url: str) -> str:
    return urlsplit(url).hostname or url

