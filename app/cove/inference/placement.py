"""Where a loaded model's weights live: read into Cove's own memory on huge pages, or mapped
from the file.

llama.cpp maps a model file by default, so the weights stay in the system's file cache and
every token reads them through the file's 4 KiB pages. Generating one token reads every
weight once, and over 4 KiB pages a good share of that time goes to the CPU's page-table
walks. On the project's 2-core test machine, llama-bench itself generated with Gemma 3 270M
1.06 times as fast with the weights read into the process's own memory (llama.cpp's no-mmap
load) and 1.14 times with that memory on 2 MiB transparent huge pages, side by side against
its default; Cove's worker, doing the same, 1.13 times llama-bench's default (1.07 on the starter;
`worker_vs_llama_bench_default_tg` in docs/performance.md).

So on Linux a model whose needs fit well within the memory free now is read in, and the
memory its load creates is marked for huge pages (madvise MADV_HUGEPAGE) once llama.cpp has
allocated it and before it reads the weights into it: the first progress report of a load
comes after the allocation and before the first read, so the pages are huge from the first
write and nothing is copied. What the context allocates afterwards (its key/value cache, its
compute buffers) is marked when the load returns. Memory the load wrote before it was marked
(the tokenizer's tables, written before the first progress report; buffers llama.cpp made
and filled between two reports) is then copied onto huge pages at once (MADV_COLLAPSE, Linux
6.1 and later; older kernels leave it to their slow background pass): left on 4 KiB pages,
it cost Gemma 3 270M's bare decode loop 1% side by side, and llama-bench, given the same
memory setup (glibc's hugetlb tunable), has it on huge pages from the start. A model that
would crowd free memory is mapped as before, so the system can drop its pages and read them
again rather than swap.

Elsewhere llama.cpp's default (mapped) stands: the gain is measured on Linux only, and macOS
has no transparent huge pages.
"""

from __future__ import annotations

import ctypes
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HUGE_PAGE = 2 * 1024 * 1024
MADV_HUGEPAGE = 14  # linux/mman.h, the same on every Linux architecture
MADV_COLLAPSE = 25  # Linux 6.1 and later: huge pages now, copying what is written already
# At most this much already-written memory is copied onto huge pages per load (80 MB took
# 0.14 s here): a large context's key/value cache is left to the kernel's background pass.
COLLAPSE_LIMIT = 128 * 1024 * 1024
# Read a model in only while it needs at most this share of the memory free now: the rest is
# left to the system, the window and other programs (models/memory.py says how much it needs).
IN_RAM_SHARE = 0.8
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")

Region = tuple[int, int]  # [start, end) addresses


@dataclass
class Placement:
    """One load's choice, and afterwards what it got.

    Engine.load calls `start()` before llama.cpp runs, `advise()` from the load's progress
    reports (it acts once) and `finish()` when the load returns."""

    in_ram: bool  # read into Cove's memory (llama.cpp's use_mmap=False), else mapped
    reason: str  # why, in words, for the About box and the log
    huge_pages: bool = False  # mark the load's memory for transparent huge pages
    regions: list[Region] = field(default_factory=list)  # the memory the load created
    huge_bytes: int = 0  # of it, on huge pages when the load finished
    _before: list[Region] | None = None
    _advised: bool = False

    @classmethod
    def choose(cls, ram_needed: int, available: int | None,
               platform: str = sys.platform, thp: str | None = None) -> Placement:
        """Read in on Linux when `ram_needed` (bytes, models/memory.estimate_ram_bytes) is at
        most IN_RAM_SHARE of `available` (bytes free now; None: unknown), else mapped."""
        if not platform.startswith("linux"):
            return cls(False, "mapped from the file (llama.cpp's default on this system)")
        if available is None:
            return cls(False, "mapped from the file (free memory unknown)")
        if ram_needed > available * IN_RAM_SHARE:
            return cls(False, f"mapped from the file: it needs {_gb(ram_needed)} and "
                              f"{_gb(available)} is free, so the system may page it out")
        mode = thp_mode() if thp is None else thp
        huge = mode in ("always", "madvise")
        return cls(True, "read into memory" + ("" if huge else
                                               f" (huge pages are {mode or 'not offered'})"),
                   huge_pages=huge)

    @classmethod
    def for_model(cls, ram_needed: int) -> Placement:
        return cls.choose(ram_needed, available_memory())

    def llama_arguments(self) -> dict[str, Any]:
        return {"use_mmap": not self.in_ram}

    def start(self) -> None:
        self._before = anonymous_regions() if self.huge_pages else None

    def advise(self) -> None:
        """Mark the memory created since start() for huge pages; once (the first progress
        report of a load comes after llama.cpp allocates the weights' buffers)."""
        if self._advised or self._before is None:
            return
        self._advised = True
        self._mark()

    def finish(self) -> None:
        if self._before is None:
            return
        self._mark()  # what the context allocated after the weights
        self._collapse()
        self.huge_bytes = huge_page_bytes(self.regions)
        self._before = None

    def _collapse(self) -> None:
        """Copy what the load wrote on small pages onto huge pages now, up to COLLAPSE_LIMIT."""
        budget = COLLAPSE_LIMIT
        for start, end in small_page_stretches(self.regions):
            if end - start <= budget:
                budget -= end - start
                madvise(start, end - start, MADV_COLLAPSE)

    def _mark(self) -> None:
        assert self._before is not None
        fresh = new_regions(self._before, anonymous_regions())
        for start, end in fresh:
            madvise(start, end - start, MADV_HUGEPAGE)
        self.regions = merge(self.regions + fresh)

    @property
    def region_bytes(self) -> int:
        return sum(end - start for start, end in self.regions)

    def summary(self) -> str:
        """One line for the About box: where the weights are, and how much is on huge pages."""
        text = f"Model weights: {self.reason}"
        if self.in_ram and self.huge_pages and self.regions:
            text += f", {_mb(self.huge_bytes)} on huge pages"
        return text + "."


def thp_mode() -> str | None:
    """Linux's transparent huge page setting: "always", "madvise" or "never"; None without."""
    try:
        text = THP_SETTING.read_text()
    except OSError:
        return None
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else None


def available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or the system would not say
        return None


def anonymous_regions(maps: str | None = None) -> list[Region]:
    """The process's private, anonymous, writable mappings (malloc's and llama.cpp's buffers
    among them), from /proc/self/maps or the `maps` text given."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return []
    regions = []
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[1].startswith("rw") or parts[1][3:4] != "p":
            continue
        if len(parts) > 5 and parts[5] != "[heap]":  # a file, a stack, the vdso
            continue
        start, _, end = parts[0].partition("-")
        regions.append((int(start, 16), int(end, 16)))
    return regions


def new_regions(before: Iterable[Region], after: Iterable[Region],
                minimum: int = HUGE_PAGE) -> list[Region]:
    """The parts of `after` outside every region of `before`, those at least `minimum` long.
    (The kernel merges neighbouring mappings, so a new buffer may extend an old region.)"""
    old = merge(before)
    fresh = []
    for start, end in merge(after):
        cursor = start
        for old_start, old_end in old:
            if old_end <= cursor or old_start >= end:
                continue
            if old_start > cursor:
                fresh.append((cursor, old_start))
            cursor = max(cursor, old_end)
        if cursor < end:
            fresh.append((cursor, end))
    return [(start, end) for start, end in fresh if end - start >= minimum]


def merge(regions: Iterable[Region]) -> list[Region]:
    """Sorted, with touching or overlapping regions joined."""
    merged: list[Region] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def huge_page_bytes(regions: list[Region], smaps: str | None = None) -> int:
    """Bytes of `regions` on transparent huge pages (AnonHugePages of the mappings inside
    them, from /proc/self/smaps or the `smaps` text given)."""
    return sum(huge for _start, _end, _resident, huge in mappings_within(regions, smaps))


def small_page_stretches(regions: list[Region], smaps: str | None = None) -> list[Region]:
    """The parts of `regions` in mappings that hold at least a huge page's worth of written
    memory on small pages (resident, less AnonHugePages) and are mostly written: collapsing
    a sparse mapping would fill its untouched pages too, growing the memory Cove uses."""
    return [(start, end) for start, end, resident, huge in mappings_within(regions, smaps)
            if resident - huge >= max(HUGE_PAGE, (end - start) // 2)]


def mappings_within(regions: list[Region], smaps: str | None = None
                    ) -> list[tuple[int, int, int, int]]:
    """(start, end, resident bytes, huge page bytes) of each mapping that overlaps `regions`,
    its range cut to the overlap, its byte counts the whole mapping's (from /proc/self/smaps
    or the `smaps` text given)."""
    if not regions:
        return []
    if smaps is None:
        try:
            smaps = Path("/proc/self/smaps").read_text()
        except OSError:
            return []
    found: list[list[int]] = []
    inside = False
    for line in smaps.splitlines():
        head = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if head:
            start, end = int(head.group(1), 16), int(head.group(2), 16)
            overlap = [(max(start, r_start), min(end, r_end)) for r_start, r_end in regions
                       if start < r_end and r_start < end]
            inside = bool(overlap)
            if inside:
                found.append([overlap[0][0], overlap[-1][1], 0, 0])
        elif inside and line.startswith("Rss:"):
            found[-1][2] = int(line.split()[1]) * 1024
        elif inside and line.startswith("AnonHugePages:"):
            found[-1][3] = int(line.split()[1]) * 1024
    return [(start, end, resident, huge) for start, end, resident, huge in found]


_libc: ctypes.CDLL | None = None


def madvise(start: int, length: int, advice: int) -> bool:
    """madvise(2) on [start, start + length); False (and a debug line) where it fails."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _libc.madvise.restype = ctypes.c_int
        if _libc.madvise(start, length, advice) == 0:
            return True
        log.debug("madvise(%d) failed: errno %d", advice, ctypes.get_errno())
    except (OSError, AttributeError) as error:
        log.debug("madvise unavailable: %s", error)
    return False


def _gb(size: int) -> str:
    return f"{size / 1024 ** 3:.1f} GB"


def _mb(size: int) -> str:
    return f"{size / 1024 ** 2:.0f} MB"
