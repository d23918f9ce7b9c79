"""Where a model's weights live: read in on huge pages, or mapped (inference/placement.py)."""

from __future__ import annotations

import ctypes
import mmap
import sys
from pathlib import Path

import pytest

from cove.inference import placement
from cove.inference.engine import Engine, GenerationParams, LoadOptions
from cove.inference.placement import HUGE_PAGE, Placement

GB = 1024 ** 3
MIB = 1024 * 1024
linux_thp = pytest.mark.skipif(placement.thp_mode() not in ("always", "madvise"),
                               reason="this system offers no transparent huge pages")


def test_a_model_that_fits_free_memory_is_read_in_on_huge_pages() -> None:
    chosen = Placement.choose(2 * GB, 10 * GB, platform="linux", thp="madvise")
    assert chosen.in_ram and chosen.huge_pages
    assert chosen.llama_arguments() == {"use_mmap": False}
    assert chosen.summary() == "Model weights: read into memory."  # nothing loaded yet


def test_a_model_that_would_crowd_free_memory_is_mapped_and_says_why() -> None:
    chosen = Placement.choose(9 * GB, 10 * GB, platform="linux", thp="madvise")
    assert not chosen.in_ram and not chosen.huge_pages
    assert chosen.llama_arguments() == {"use_mmap": True}
    assert "it needs 9.0 GB and 10.0 GB is free" in chosen.summary()


def test_elsewhere_or_without_a_memory_figure_llama_cpp_maps_as_it_always_did() -> None:
    assert not Placement.choose(GB, 100 * GB, platform="darwin").in_ram
    assert not Placement.choose(GB, 100 * GB, platform="win32").in_ram
    assert "free memory unknown" in Placement.choose(GB, None, platform="linux").reason


def test_without_huge_pages_a_model_is_still_read_in_and_nothing_is_marked() -> None:
    chosen = Placement.choose(GB, 100 * GB, platform="linux", thp="never")
    assert chosen.in_ram and not chosen.huge_pages
    assert "huge pages are never" in chosen.summary()
    chosen.start()
    chosen.advise()
    chosen.finish()
    assert chosen.regions == [] and chosen.huge_bytes == 0


MAPS = """\
55d0c0000000-55d0c0200000 r--p 00000000 08:01 123  /usr/bin/python3.11
55d0c1000000-55d0c5000000 rw-p 00000000 00:00 0    [heap]
7f0000000000-7f0004000000 rw-p 00000000 00:00 0
7f0004000000-7f0008000000 ---p 00000000 00:00 0
7f0010000000-7f0010400000 rw-s 00000000 00:01 9    /dev/zero (deleted)
7f0020000000-7f0020100000 rw-p 00001000 08:01 456  /usr/lib/libllama.so
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0    [stack]
"""


def test_anonymous_regions_are_the_private_writable_ones_without_a_file() -> None:
    assert placement.anonymous_regions(MAPS) == [(0x55D0C1000000, 0x55D0C5000000),
                                                 (0x7F0000000000, 0x7F0004000000)]


def test_new_regions_are_what_grew_or_appeared_and_at_least_a_huge_page_long() -> None:
    before = [(0, 10 * MIB), (20 * MIB, 30 * MIB)]
    after = [(0, 16 * MIB),  # an old region extended by a new buffer the kernel merged in
             (20 * MIB, 31 * MIB),  # grown by less than a huge page: not worth marking
             (40 * MIB, 48 * MIB)]  # a new mapping
    assert placement.new_regions(before, after) == [(10 * MIB, 16 * MIB),
                                                    (40 * MIB, 48 * MIB)]
    # A region that the load split around an old one: only the parts outside it.
    assert placement.new_regions([(4 * MIB, 6 * MIB)], [(0, 12 * MIB)]) == [
        (0, 4 * MIB), (6 * MIB, 12 * MIB)]
    assert placement.new_regions(after, after) == []


def test_huge_page_bytes_count_only_mappings_inside_the_regions() -> None:
    smaps = """\
7f0000000000-7f0000800000 rw-p 00000000 00:00 0
Rss:                8192 kB
AnonHugePages:      6144 kB
7f0000800000-7f0001000000 rw-p 00000000 00:00 0
AnonHugePages:      8192 kB
"""
    assert placement.huge_page_bytes([(0x7F0000000000, 0x7F0000800000)], smaps) == 6 * MIB
    assert placement.huge_page_bytes([], smaps) == 0


def test_small_page_stretches_are_written_memory_not_yet_on_huge_pages() -> None:
    smaps = """\
7f0000000000-7f0000800000 rw-p 00000000 00:00 0
Rss:                8192 kB
AnonHugePages:      8192 kB
7f0000800000-7f0001000000 rw-p 00000000 00:00 0
Rss:                6144 kB
AnonHugePages:      2048 kB
7f0001000000-7f0002000000 rw-p 00000000 00:00 0
Rss:                1024 kB
AnonHugePages:         0 kB
7f0002000000-7f0042000000 rw-p 00000000 00:00 0
Rss:               65536 kB
AnonHugePages:         0 kB
55d0c1000000-55d0c5000000 rw-p 00000000 00:00 0                          [heap]
Rss:               65536 kB
AnonHugePages:         0 kB
"""
    load = [(0x7F0000000000, 0x7F0042000000), (0x55D0C3000000, 0x55D0C5000000)]
    # all huge already; 4 MiB on small pages; less than a huge page written; 64 MiB written
    # of 1 GiB (collapsing it would fill the rest); the heap's part that grew during the
    # load (the part before it is not the load's)
    assert placement.small_page_stretches(load, smaps) == [
        (0x7F0000800000, 0x7F0001000000), (0x55D0C3000000, 0x55D0C5000000)]
    assert placement.small_page_stretches([], smaps) == []


def _touch(region: mmap.mmap) -> int:
    """Write every page of `region`; its address."""
    for offset in range(0, len(region), mmap.PAGESIZE):
        region[offset] = 1
    return ctypes.addressof(ctypes.c_char.from_buffer(region))


@linux_thp
def test_memory_made_during_a_load_gets_huge_pages_before_it_is_written() -> None:
    size = 32 * MIB
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    older = mmap.mmap(-1, size, flags=flags)  # there before the load: left alone
    chosen = Placement.choose(GB, 100 * GB, platform="linux")
    chosen.start()
    buffer = mmap.mmap(-1, size, flags=flags)  # what llama.cpp allocates for the weights
    chosen.advise()  # the first progress report, before anything is read in
    start = _touch(buffer)
    older_start = _touch(older)
    chosen.finish()
    try:
        assert any(s <= start and start + size <= e for s, e in chosen.regions)
        assert chosen.huge_bytes >= HUGE_PAGE
        assert "on huge pages" in chosen.summary()
        if placement.thp_mode() == "madvise":  # unmarked memory keeps its small pages
            assert placement.huge_page_bytes([(older_start, older_start + size)]) == 0
    finally:
        buffer.close()
        older.close()


def _collapse_works() -> bool:
    """Whether this kernel takes MADV_COLLAPSE (Linux 6.1 and later, huge pages offered)."""
    if placement.thp_mode() not in ("always", "madvise"):
        return False
    scratch = mmap.mmap(-1, 4 * MIB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        start = _touch(scratch)
        aligned = (start + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE
        return placement.madvise(aligned, HUGE_PAGE, placement.MADV_COLLAPSE)
    finally:
        scratch.close()


@pytest.mark.skipif(not _collapse_works(), reason="this kernel has no MADV_COLLAPSE")
def test_memory_the_load_wrote_before_it_was_marked_is_moved_onto_huge_pages() -> None:
    size = 16 * MIB
    chosen = Placement.choose(GB, 100 * GB, platform="linux")
    chosen.start()
    chosen.advise()  # the first progress report came before this buffer was made
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    start = _touch(buffer)  # made and filled between two reports: small pages
    try:
        assert placement.huge_page_bytes([(start, start + size)]) == 0 or (
            placement.thp_mode() == "always")
        chosen.finish()
        # the kernel's background pass takes many seconds; finish() copies it at once
        assert placement.huge_page_bytes([(start, start + size)]) >= size - 2 * HUGE_PAGE
        assert chosen.huge_bytes >= size - 2 * HUGE_PAGE
    finally:
        buffer.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read in on Linux only")
def test_the_starter_read_in_and_mapped_gives_the_same_reply(
        starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = GenerationParams(max_tokens=24, temperature=0.0, seed=1)
    ask = [{"role": "user", "content": "Name three colours."}]
    replies = {}
    for free in (100 * GB, 10 * MIB):  # plenty of memory; too little to read the model in
        monkeypatch.setattr(placement, "available_memory", lambda free=free: free)
        engine = Engine(starter_model, LoadOptions(n_ctx=512))
        engine.load()
        try:
            assert engine.placement is not None
            replies[engine.placement.in_ram] = "".join(engine.stream_chat(ask, params))
            summary = engine.memory_summary
        finally:
            engine.close()
        if engine.placement.in_ram:
            assert summary.startswith("Model weights: read into memory")
            if engine.placement.huge_pages:
                assert engine.placement.huge_bytes >= HUGE_PAGE  # the weights, at least
        else:
            assert "mapped from the file" in summary
    assert set(replies) == {True, False}
    assert replies[True] == replies[False] and replies[True].strip()
