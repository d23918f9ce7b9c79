"""ModelsSession: the installed models' background work, the twin of HistorySession.

Registering the starter, re-checking a file that changed, reading headers, importing,
downloading and removing all run here, on the task manager's models lane (downloads on the
network lane), and report through signals on the GUI thread. The Models window and the
Models page are views over it: closing them cancels what they started, and never waits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from cove.inference.cpu_check import shared_check
from cove.models.gguf import GGUFInfo, ModelFileError, inspect_gguf
from cove.models.hashing import HashCancelled
from cove.models.probe import ProbeCancelled, probe_model_file
from cove.models.probe_cache import ProbeCache
from cove.models.registry import InstalledModel, ModelRegistry, RegistryError
from cove.ui.tasks import Cancelled, Job, Lane, Task, TaskManager

if TYPE_CHECKING:  # the downloader pulls in huggingface_hub (a third of a second)
    from cove.models.catalogue import CatalogueEntry

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL_S = 0.1  # hashing and copying report at most this often


class ModelJobFailed(Exception):
    """A model job ended without its result; `str()` is a sentence for the person.

    Built on the lane's thread, where the error's own module is loaded, so the GUI thread
    never imports the downloader just to recognise one of its errors.
    """

    def __init__(self, message: str, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


class ModelsSession(QObject):
    sig_import_progress = Signal(str, object, object)
    """An import step: what is happening, bytes done and total (None, None: no figures)."""
    sig_imported = Signal(object, bool)
    """An import ended: the InstalledModel, and whether it was installed already."""
    sig_import_failed = Signal(str, bool)
    """An import ended without a model: a sentence, and whether it was cancelled."""
    sig_download_progress = Signal(object)
    """A DownloadProgress report for the download running."""
    sig_downloaded = Signal(object)
    """A download ended: the InstalledModel it added."""
    sig_download_failed = Signal(str, bool)
    """A download ended without a model: a sentence, and whether it was cancelled."""
    sig_removed = Signal(str)
    """A model (by id) left the registry, its file deleted if Cove owned it."""
    sig_remove_failed = Signal(str, str)
    """A model (by id) could not be removed: a sentence."""
    sig_measured = Signal(dict)
    """RAM needed (bytes) by model id, from each file's own header."""

    def __init__(self, registry: ModelRegistry, tasks: TaskManager | None = None,
                 fast_kernels: str = "auto", parent: QObject | None = None,
                 cache_dir: Path | None = None) -> None:
        """`tasks`: the app's task manager; None makes one (tests). `fast_kernels` is
        Settings' choice of llama.cpp's CPU kernels, which an import's trial load uses.
        `cache_dir` keeps which unregistered files passed a trial load (None: Cove's)."""
        super().__init__(parent)
        self.registry = registry
        if cache_dir is None:
            from cove.paths import app_paths

            cache_dir = app_paths().cache
        self.probed = ProbeCache(cache_dir)
        self.tasks = tasks if tasks is not None else TaskManager(self)
        self.fast_kernels = fast_kernels
        self._import: Task | None = None
        self._download: Task | None = None
        self.download_entry: CatalogueEntry | None = None
        self.removing: set[str] = set()

    @property
    def import_busy(self) -> bool:
        return self._import is not None

    @property
    def download_busy(self) -> bool:
        return self._download is not None

    # -- quick jobs ------------------------------------------------------------------------

    def ensure_starter(self, on_done: Callable[[Any], Any]) -> None:
        """Register the starter model (its hash is taken once)."""
        self.tasks.run(self.registry.ensure_starter, on_done, lambda e: log.warning(
            "starter not registered: %s", type(e).__name__), lane=Lane.MODELS)

    def recheck(self, model: InstalledModel, on_done: Callable[[InstalledModel], Any],
                on_error: Callable[[str], Any]) -> None:
        """Hash a file that changed since it was verified, then hand the model on."""
        self.tasks.run(lambda: self.registry.recheck(model), on_done,
                       lambda error: on_error(str(error)), lane=Lane.MODELS)

    def read_headers(self, models: Sequence[InstalledModel],
                     on_done: Callable[[dict[str, GGUFInfo]], Any]) -> Task:
        def read() -> dict[str, GGUFInfo]:
            infos: dict[str, GGUFInfo] = {}
            for model in models:
                with contextlib.suppress(ModelFileError, OSError):
                    infos[model.id] = inspect_gguf(model.file)
            return infos

        return self.tasks.run(read, on_done, lambda error: log.warning(
            "reading model headers failed: %s", type(error).__name__), lane=Lane.MODELS)

    def measure(self, models: Sequence[InstalledModel],
                context_of: Callable[[InstalledModel], int]) -> None:
        """RAM figures from each file's own shape (sig_measured); a missing or changed file
        keeps the size-only figure."""
        contexts = {model.id: context_of(model) for model in models}
        self.read_headers(models, lambda infos: self.sig_measured.emit(
            {model_id: info.estimate_ram_bytes(contexts[model_id])
             for model_id, info in infos.items()}))

    def remove(self, model: InstalledModel) -> None:
        if model.id in self.removing:
            return
        self.removing.add(model.id)

        def removed(_: None) -> None:
            self.removing.discard(model.id)
            self.sig_removed.emit(model.id)

        def failed(error: BaseException) -> None:
            self.removing.discard(model.id)
            self.sig_remove_failed.emit(model.id, str(error))

        self.tasks.start(_explained_job(lambda _job: self.registry.remove(model),
                                        f"remove {model.name}", ()),
                         removed, failed, lane=Lane.MODELS)

    # -- opening a file that is not installed ----------------------------------------------

    def check_unregistered(self, path: Path, on_ok: Callable[[Path], Any],
                           on_failed: Callable[[str], Any],
                           on_progress: Callable[[str, int | None, int | None], Any]
                           | None = None) -> Task:
        """Before a file that is not installed loads in Cove's own process (--model, File >
        Open Model File): check its header, then try it in a child process, once per file
        (the outcome is kept by its SHA-256), so a file that crashes llama.cpp costs the
        child, not the window."""
        probed = self.probed
        fast_kernels = self.fast_kernels

        def work(job: Job) -> Path:
            job.progress(f"Checking {path.name}…")
            inspect_gguf(path)
            digest = probed.fingerprint(path, cancel=job.cancel)
            if not probed.passed(digest):
                job.progress(f"Trying {path.name} in a separate process first…")
                kernels = shared_check().kernels(path, fast_kernels)
                if not kernels.usable:
                    raise ModelFileError(kernels.message())
                probe_model_file(path, cancel=job.cancel, extra_buffers=kernels.extra_buffers)
                probed.remember_pass(digest)
            return path

        return self.tasks.start(
            _explained_job(work, f"open {path.name}", (ProbeCancelled, HashCancelled)),
            on_ok, lambda error: on_failed(str(error)), on_progress=on_progress,
            lane=Lane.MODELS)

    # -- importing a file ------------------------------------------------------------------

    def import_file(self, path: Path, copy: bool) -> bool:
        """Add a model file: header check, trial load in a child process, then hash (and
        copy). False when another import is still running."""
        if self.import_busy:
            return False
        registry = self.registry
        fast_kernels = self.fast_kernels

        def work(job: Job) -> tuple[InstalledModel, bool]:
            job.progress(f"Checking {path.name}…")
            inspect_gguf(path)
            job.check()
            job.progress(f"Trying {path.name} in a separate process…")
            # The same CPU kernels the app will load it with: none known to fault here.
            kernels = shared_check().kernels(path, fast_kernels)
            if not kernels.usable:
                raise ModelFileError(kernels.message())
            probe_model_file(path, cancel=job.cancel, extra_buffers=kernels.extra_buffers)
            step = (f"Copying {path.name} into Cove's models folder…" if copy
                    else f"Taking the fingerprint of {path.name}…")
            known = {model.id for model in registry.models()}
            model = registry.import_file(path, copy=copy, progress=_throttled(step, job),
                                         cancel=job.cancel)
            return model, model.id in known

        def done(outcome: tuple[InstalledModel, bool]) -> None:
            self._import = None
            self.sig_imported.emit(*outcome)

        def failed(error: BaseException) -> None:
            self._import = None
            if isinstance(error, ModelJobFailed) and error.cancelled:
                self.sig_import_failed.emit(
                    f"Adding {path.name} was cancelled; nothing was added.", True)
            else:
                self.sig_import_failed.emit(str(error), False)

        self._import = self.tasks.start(
            _explained_job(work, f"add {path.name}", (ProbeCancelled, HashCancelled)),
            done, failed, on_progress=self.sig_import_progress.emit, lane=Lane.MODELS)
        return True

    def cancel_import(self) -> None:
        if self._import is not None:
            self._import.cancel()

    # -- downloading -----------------------------------------------------------------------

    def download(self, entry: CatalogueEntry) -> bool:
        """Download `entry` and add it; False while another download runs. A cancelled
        download keeps its partial file, so starting it again resumes."""
        if self.download_busy:
            return False
        registry = self.registry

        def work(job: Job) -> InstalledModel:
            # Imported here, on the lane's thread: huggingface_hub takes a third of a second
            # to import, which the GUI thread should not spend.
            from cove.models.download import DownloadCancelled, DownloadError, download_model
            from cove.privacy.guard import download_permit, guard

            guard().note_download()  # for the privacy panel: "1 model download you started"

            try:
                result = download_model(
                    entry, registry.models_dir, progress=self._report_download,
                    cancel=job.cancel,
                    permit=download_permit(),  # the guard lets this thread reach the hub only
                )
            except DownloadCancelled as error:
                raise ModelJobFailed(str(error), cancelled=True) from None
            except DownloadError as error:  # each says what to do (space, network, hash)
                raise ModelJobFailed(str(error)) from None
            return registry.add_download(entry, result)

        def done(model: InstalledModel) -> None:
            self._download = None
            self.download_entry = None
            self.sig_downloaded.emit(model)

        def failed(error: BaseException) -> None:
            self._download = None
            self.download_entry = None
            self.sig_download_failed.emit(
                str(error), isinstance(error, ModelJobFailed) and error.cancelled)

        self.download_entry = entry
        self._download = self.tasks.start(
            _explained_job(work, f"download {entry.name}", ()), done, failed,
            lane=Lane.NETWORK)
        return True

    def cancel_download(self) -> None:
        """Stop the download; what arrived so far is kept for the next attempt."""
        if self._download is not None:
            self._download.cancel()

    def stop(self) -> None:
        """Cancel the import and the download in progress (closing a window); no waiting."""
        self.cancel_import()
        self.cancel_download()

    def _report_download(self, report: object) -> None:
        # Called on the network lane; the signal is queued onto the GUI thread.
        self.sig_download_progress.emit(report)


def _explained_job(fn: Callable[[Job], Any], action: str,
                   cancelled: tuple[type[BaseException], ...]) -> Callable[[Job], Any]:
    """`fn`, with any error turned into a ModelJobFailed sentence on the lane's thread."""
    def run(job: Job) -> Any:
        try:
            return fn(job)
        except ModelJobFailed:
            raise
        except (Cancelled, *cancelled):
            raise ModelJobFailed("cancelled", cancelled=True) from None
        except Exception as error:
            raise ModelJobFailed(_error_text(error, action)) from None

    return run


def _error_text(error: BaseException, action: str) -> str:
    """A sentence for the person; the model layer's own messages are already written so."""
    if isinstance(error, ModelFileError | RegistryError):
        return str(error)
    if isinstance(error, OSError):
        return f"Cove could not {action} ({error.strerror or error})."
    log.error("could not %s: %s", action.split(" ", 1)[0], type(error).__name__)
    return f"Cove could not {action} (an unexpected {type(error).__name__}). Try again."


def _throttled(step: str, job: Job) -> Callable[[int, int], None]:
    """A hashing/copying progress callback that reports at most every 0.1 s, and the end."""
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done >= total or now - last >= _PROGRESS_INTERVAL_S:
            last = now
            job.progress(step, done, total)

    return progress
