"""Cove against llama.cpp itself: llama-bench, llama-cpp-python called directly, Cove's worker.

For each model (the starter SmolLM2-135M and Gemma 3 270M), in one run and alternating the
three paths round by round (up to five rounds, fewer when --max-seconds runs out):

- llama-bench: llama.cpp's own C++ benchmark, `-p N -n N -o json`, no Python anywhere;
- direct: llama-cpp-python's streamed chat completion on the calling thread;
- worker: the same request through Cove's WorkerHost and LlmWorker on its QThread.

All three run with the llama.cpp CPU kernels Cove uses on this machine (its one-time CPU
check: with llama.cpp's extra buffer types, or without them, llama-bench's -nr 1, on a CPU
that faulted on them). Where the fast kernels run, llama-bench also runs once a round with
-nr 1, and `no_repack_vs_default_tg`/`_pp` say what the fallback costs. llama-bench also
holds the weights as Cove's engine does (cove.inference.placement: read into memory rather
than mapped, on transparent huge pages; here `--load-mode none` and glibc's hugetlb tunable),
and in the side-by-side turns once more as llama.cpp does by default (mapped, 4 KiB pages):
`worker_vs_llama_bench_default_tg` is what a user gains over llama.cpp's defaults.

Every path counts the same thing. Generation (tg): the tokens sampled (Cove's loop counts
them, end-of-turn excluded; llama-bench decodes exactly -n), timed from the first token to the
last, from the same context length: llama-bench gets `-d S`, S being the worker's rendered
story prompt in tokens. Prompt processing (pp): a prompt of about 512 tokens (the worker's
count of its rendered prompt, given to llama-bench as -p), timed by the worker as the time to
its first token. Long replies: the worker's rate over chunks 448-512 of a 512-token reply
over its rate over chunks 0-64 (one chunk a token, timed as they arrive), against llama-bench's
tg64 at depth S + 448 over tg64 at depth S, in LONG_REPLIES pairs in the first round: each long
reply and one llama-bench run of the two windows back to back in the worker's child (every
other pair llama-bench first). `long_reply_gap` is the median of the pairs' differences: one
reply takes 7 to 20 s, over which this machine's speed can drift by a fifth, so separate
medians of the two paths (also listed) compare the machine's moods more than the paths; the
worker's chunks arrive when its loop timed their tokens (checked: the same rates to 0.3%).
The direct path (llama-cpp-python's streamed chat completion, re-tokenizing its text, first
chunk to last) stays as a reference, and so does a bare loop (the worker's own model and
context, one fixed token at a time through llama_decode from Python, no sampling and no
text), the floor under any Python loop: worker_vs_bare_tg is what Cove's loop costs,
bare_vs_llama_bench_tg what the process and llama-cpp-python's set-up cost.

This machine's speed swings by a fifth over tens of seconds (other virtual machines on the
host), so the ratios come from side-by-side turns inside the worker's child: the worker
reading a new long prompt and replying to the story prompt, llama-bench's pp and tg (-r 1, a
child of its own), then the bare loop, back to back, TURNS turns a round; each ratio is the
median of the turns' own ratios (the pp ratio falls back to the rounds' own ratios where no
turn ran). Speeds: each path runs REPEATS times a round (llama-bench: -r REPEATS) and keeps
its fastest, and the best round counts (other work only ever slows a run down); every value
is listed too. Targets: the worker
generates at least 97% as fast as llama-bench, processes the prompt at least 95% as fast,
and its long-reply ratio is within 0.05 of llama-bench's. llama-bench does not sample, so the
targets also charge Cove for its sampler chain.

llama-bench is built once into ~/.cache/cove-bench (or $COVE_BENCH_CACHE) from the llama.cpp
sources in llama-cpp-python's source distribution of the installed version (fetched with
`pip download`, the only network use). By default only llama-bench and llama.cpp's `common`
helpers are compiled, and linked against the libllama/libggml that llama-cpp-python itself
built from those same sources: the C++ driver then runs exactly the kernels Cove runs, so the
comparison isolates what Python and Cove add, and the first build takes about three minutes
rather than eleven on two cores (at -O1: none of the timed code is compiled here).
`--from-source` builds llama.cpp's libraries too (-O3). If the build fails, the line says
"skipped" with the reason and the two Python paths still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import common

TARGET_WORKER_VS_LLAMA_BENCH = 0.97
TARGET_WORKER_VS_LLAMA_BENCH_PP = 0.95
TARGET_LONG_REPLY_GAP = 0.05
N_CTX = 2048
REPEATS = 3  # generation runs per path and round; the fastest counts
TURNS = 6  # turns of worker, llama-bench and bare loop side by side per round
# References no target reads (the worker's child writes its long replies in the first round)
FIRST_ROUND_ONLY = ("direct", "llama_bench_no_repack")
# Words of the prompt-processing passage that render to about 512 tokens with each model's
# chat format (fewer than 512, so both paths evaluate it in one batch of llama-bench's -b).
PP_WORDS = {"SmolLM2-135M Q4_1": 372, "Gemma-3-270M Q4_K_M": 428}
LONG_REPLY = 512  # tokens
WINDOW = 64  # tokens at the start and at the end of the long reply
LONG_REPLIES = 5  # pairs of a long reply and a llama-bench run of the two windows
LONG_SEEDS = 9  # seeds tried until LONG_REPLIES stories run the whole long reply
WARMUP = [{"role": "system", "content": "Warm up."}, {"role": "user", "content": "Hi"}]

# The wrapper project for the default build: llama.cpp's common helpers and llama-bench,
# linked against the libraries llama-cpp-python built. No option here fetches anything.
WRAPPER_CMAKE = r"""
cmake_minimum_required(VERSION 3.18)
project(cove_llama_bench C CXX)
set(LLAMA_SRC "@LLAMA_SRC@")
set(WHEEL_LIB "@WHEEL_LIB@")
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
set(CMAKE_BUILD_RPATH "${WHEEL_LIB}")
find_package(Threads REQUIRED)
foreach(name ggml-base ggml-cpu ggml llama)
    add_library(${name} SHARED IMPORTED)
    file(GLOB found "${WHEEL_LIB}/lib${name}${CMAKE_SHARED_LIBRARY_SUFFIX}")
    if(NOT found)
        message(FATAL_ERROR "lib${name} not found in ${WHEEL_LIB}")
    endif()
    set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${found}"
        INTERFACE_INCLUDE_DIRECTORIES "${LLAMA_SRC}/include;${LLAMA_SRC}/ggml/include")
endforeach()
set_property(TARGET llama PROPERTY INTERFACE_LINK_LIBRARIES "ggml;ggml-cpu;ggml-base")
set(LLAMA_BUILD_COMMON ON)
set(LLAMA_OPENSSL OFF)
set(LLAMA_BUILD_NUMBER 0)
set(LLAMA_BUILD_COMMIT "@COMMIT@")
set(BUILD_COMPILER "${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION}")
set(BUILD_TARGET "${CMAKE_SYSTEM_NAME} ${CMAKE_SYSTEM_PROCESSOR}")
set(LLAMA_VERSION_BASE 0.0.0)
set(LLAMA_VERSION_MAJOR 0)
include(${LLAMA_SRC}/cmake/license.cmake)
# cmake/common.cmake includes ggml's by a path relative to llama.cpp's root; include that one
# here and a copy of the rest, for llama_add_compile_flags().
include(${LLAMA_SRC}/ggml/cmake/common.cmake)
file(READ ${LLAMA_SRC}/cmake/common.cmake flags_text)
string(REPLACE "include(\"ggml/cmake/common.cmake\")" "" flags_text "${flags_text}")
file(WRITE ${CMAKE_BINARY_DIR}/llama-compile-flags.cmake "${flags_text}")
include(${CMAKE_BINARY_DIR}/llama-compile-flags.cmake)
add_subdirectory(${LLAMA_SRC}/vendor vendor)
add_subdirectory(${LLAMA_SRC}/common common)
# One unity (jumbo) build of common's ~50 files parses its heavy JSON headers a few times
# instead of fifty; json.cpp specialises templates the others instantiate, so it stays apart.
set_target_properties(llama-common PROPERTIES UNITY_BUILD @UNITY@ UNITY_BUILD_BATCH_SIZE 8)
set_source_files_properties(${LLAMA_SRC}/common/json.cpp DIRECTORY ${LLAMA_SRC}/common
    PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
add_subdirectory(${LLAMA_SRC}/tools/llama-bench llama-bench)
"""

# Options for a whole build from source (--from-source): CPU only, nothing downloaded.
SOURCE_OPTIONS = [
    "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_CURL=OFF",
    "-DGGML_CUDA=OFF", "-DGGML_METAL=OFF", "-DGGML_VULKAN=OFF",
]


# Building llama-bench -----------------------------------------------------------------------


def llama_cpp_python_version() -> str:
    return metadata.version("llama_cpp_python")


def wheel_lib_dir() -> Path:
    import llama_cpp

    return Path(llama_cpp.__file__).resolve().parent / "lib"


def fetch_sdist(version: str, folder: Path) -> Path:
    """llama-cpp-python's source distribution of `version`, downloaded once by pip."""
    name = f"llama_cpp_python-{version}.tar.gz"
    sdist = folder / name
    if sdist.is_file():
        return sdist
    folder.mkdir(parents=True, exist_ok=True)
    common.progress(f"downloading the llama-cpp-python {version} source distribution (pip)")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
         "--quiet", f"llama-cpp-python=={version}", "-d", str(folder)],
        capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0 or not sdist.is_file():
        raise BuildFailed(f"pip download failed: {common.tail(result.stderr, 400)}")
    return sdist


def extract_llama_cpp(sdist: Path, version: str, folder: Path) -> Path:
    """Unpack only vendor/llama.cpp of the sdist; returns its folder."""
    source = folder / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    partial = folder / "unpacking"
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            if member.name.startswith(prefix) and (member.isfile() or member.isdir()):
                member.name = member.name[len(prefix):]
                members.append(member)
        kwargs: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(partial, members=members, **kwargs)
    partial.rename(source)
    return source


class BuildFailed(RuntimeError):
    pass


def _run_logged(command: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                check=False, timeout=1800)
    if result.returncode != 0:
        text = log.read_text(errors="replace")
        raise BuildFailed(f"{Path(command[0]).name} failed: {common.tail(text, 600)}")


def build_llama_bench(from_source: bool = False, allow_build: bool = True) -> dict[str, Any]:
    """Build (or find) llama-bench; returns {"binary": path, ...} or {"skipped": reason}."""
    version = llama_cpp_python_version()
    mode = "source" if from_source else "wheel-libs"
    root = common.cache_dir() / f"llama-cpp-python-{version}"
    build = root / f"build-{mode}"
    binary = build / "bin" / ("llama-bench.exe" if os.name == "nt" else "llama-bench")
    info: dict[str, Any] = {"mode": mode, "llama_cpp_python": version, "build_seconds": 0.0}
    stamp = build / "cove-bench-complete"
    # the wheel-libs binary finds the libraries by their path: a moved venv needs a rebuild
    identity = f"{version} {wheel_lib_dir() if not from_source else 'source'}"
    if binary.is_file() and stamp.is_file() and stamp.read_text() == identity:
        return {**info, "binary": str(binary), "cached": True}
    if not allow_build:
        return {**info, "skipped": "llama-bench is not built yet and --no-build was given"}
    # cmake from PATH, else from this environment (pip install cmake ninja puts them there)
    tools_path = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    cmake = shutil.which("cmake", path=tools_path)
    ninja = shutil.which("ninja", path=tools_path)
    if cmake is None:
        return {**info, "skipped": "cmake not found; install cmake and a C++ compiler"}
    started = time.perf_counter()
    log = root / f"build-{mode}.log"
    try:
        sdist = fetch_sdist(version, common.cache_dir() / "sdist")
        source = extract_llama_cpp(sdist, version, root)
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        log.write_text("")
        generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []
        common_flags = ["-DCMAKE_BUILD_TYPE=Release", "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
                        "-DLLAMA_BUILD_BORINGSSL=OFF", "-DLLAMA_BUILD_LIBRESSL=OFF"]
        if from_source:
            project = source
            flags = SOURCE_OPTIONS
        else:
            # Only llama-bench's driver and llama.cpp's helpers are compiled here; the timed
            # work runs in the wheel's libraries, so -O1 shortens the build, changes no figure.
            flags = [f"-DCMAKE_{lang}_FLAGS_RELEASE=-O1 -DNDEBUG" for lang in ("C", "CXX")]
            project = root / "wrapper"
            project.mkdir(exist_ok=True)
            (project / "CMakeLists.txt").write_text(
                WRAPPER_CMAKE.replace("@LLAMA_SRC@", source.as_posix())
                .replace("@WHEEL_LIB@", wheel_lib_dir().as_posix())
                .replace("@COMMIT@", f"llama-cpp-python-{version}")
                .replace("@UNITY@", "ON"))
        common.progress(f"building llama-bench ({mode}) into {build}; log: {log}")
        _run_logged([cmake, "-S", str(project), "-B", str(build), *generator, *common_flags,
                     *flags], log)
        jobs = str(max(2, os.cpu_count() or 2))
        _run_logged([cmake, "--build", str(build), "--target", "llama-bench", "-j", jobs], log)
        if not binary.is_file():
            raise BuildFailed(f"the build finished without {binary}")
    except (BuildFailed, OSError, subprocess.SubprocessError, tarfile.TarError) as error:
        return {**info, "skipped": f"llama-bench build failed: {error}",
                "build_seconds": round(time.perf_counter() - started, 1)}
    stamp.write_text(identity)
    return {**info, "binary": str(binary), "cached": False,
            "build_seconds": round(time.perf_counter() - started, 1)}


@dataclass(frozen=True)
class Memory:
    """How llama-bench holds the weights: as Cove's load does (cove.inference.placement: read
    into the process's memory, on transparent huge pages where Linux offers them), or as
    llama.cpp does by default (mapped from the file, 4 KiB pages).

    llama-bench reads the file in with `--load-mode none` (`-mmp 0` in older builds); glibc
    (2.35 and later) marks its large allocations for huge pages with the tunable
    glibc.malloc.hugetlb=1, as Cove marks its load's memory with madvise."""

    read_in: bool = False
    huge_pages: bool = False

    @classmethod
    def of(cls, placement: Any) -> Memory:
        """The setup of a cove.inference.placement.Placement."""
        return cls(bool(placement.in_ram), bool(placement.in_ram and placement.huge_pages))

    def arguments(self, binary: str) -> list[str]:
        if not self.read_in:
            return []
        return ["--load-mode", "none"] if _takes_load_mode(binary) else ["-mmp", "0"]

    def environment(self) -> dict[str, str] | None:
        if not self.huge_pages:
            return None
        return {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


LLAMA_CPP_DEFAULT = Memory()  # mapped from the file


def cove_memory(model: Path) -> Memory:
    """The setup Cove's engine picks for `model` with the benchmark's context (Engine.load)."""
    from cove.inference.placement import Placement
    from cove.models.gguf import inspect_gguf
    from cove.models.memory import estimate_ram_bytes

    info = inspect_gguf(model)
    return Memory.of(Placement.for_model(
        estimate_ram_bytes(info.file_size, N_CTX, info.metadata)))


def run_llama_bench(binary: str, model: Path, threads: int, n_prompt: int, n_gen: int,
                    repetitions: int, no_repack: bool = False,
                    depths: tuple[int, ...] = (0,),
                    memory: Memory = LLAMA_CPP_DEFAULT) -> dict[str, float]:
    """pp and tg tokens/s from llama-bench's JSON, with Cove's batch settings (-b/-ub 512),
    from a context already holding `depths` tokens (-d).
    `no_repack`: without llama.cpp's extra buffer types, as Cove loads on a CPU that faulted
    on them (its -nr; cove.inference.cpu_check). Flash attention as Cove's contexts use it
    (cove.models.llama_params.context_params). `memory`: how the weights are held (Memory)."""
    from cove.models.llama_params import context_params

    flash = "1" if context_params()["flash_attn"] else "0"
    command = [binary, "-m", str(model), "-t", str(threads), "-p", str(n_prompt),
               "-n", str(n_gen), "-r", str(repetitions), "-b", "512", "-ub", "512",
               "-fa", flash, *repack_arguments(binary, no_repack),
               *memory.arguments(binary),
               "-d", ",".join(str(d) for d in depths), "-o", "json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=240,
                                check=False, env=memory.environment())
    except subprocess.TimeoutExpired as error:
        raise common.ChildFailed("llama-bench timed out after 240 s") from error
    if result.returncode != 0:
        raise common.ChildFailed(f"llama-bench exit {result.returncode}: "
                                 f"{common.tail(result.stderr, 600)}")
    try:
        return parse_llama_bench(result.stdout)
    except (ValueError, KeyError, TypeError) as error:
        raise common.ChildFailed(f"llama-bench printed no usable JSON: {error}") from error


@functools.cache
def _help(binary: str) -> str:
    try:
        result = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout + result.stderr


def _takes_repack(binary: str) -> bool:
    """Whether this llama-bench spells it `--repack 0|1` (newer) rather than `-nr 0|1`."""
    return "--repack" in _help(binary)


def _takes_load_mode(binary: str) -> bool:
    """Whether this llama-bench spells it `--load-mode none` (newer) rather than `-mmp 0`."""
    return "--load-mode" in _help(binary)


def repack_arguments(binary: str, no_repack: bool) -> list[str]:
    if _takes_repack(binary):
        return ["--repack", "0" if no_repack else "1"]
    return ["-nr", "1" if no_repack else "0"]


def parse_llama_bench(output: str) -> dict[str, float]:
    """{"pp": tokens/s, "tg": tokens/s} from `llama-bench -o json` output, at the first depth
    it ran; with several depths (-d), also "pp@D" and "tg@D" for each depth D."""
    rates: dict[str, float] = {}
    for test in json.loads(output):
        depth = int(test.get("n_depth", 0) or 0)
        if test.get("n_prompt", 0) > 0 and test.get("n_gen", 0) == 0:
            kind = "pp"
        elif test.get("n_gen", 0) > 0 and test.get("n_prompt", 0) == 0:
            kind = "tg"
        else:
            continue
        # The fastest of its -r repetitions, as the Python paths keep their fastest run.
        rate = max((float(v) for v in test.get("samples_ts") or ()),
                   default=float(test["avg_ts"]))
        rates.setdefault(kind, rate)
        if "n_depth" in test:
            rates[f"{kind}@{depth}"] = rate
    return rates


# One measurement in a child process -------------------------------------------------------


def measure_one(path: str, model: str, chat_format: str | None, threads: int, words: int,
                tokens: int, seed: int, bench: BenchCall | None = None,
                long: bool = False) -> dict[str, Any]:
    """Warm up, then REPEATS long prompts for prompt speed, then the story prompt REPEATS times
    for generation (the fastest of each counts); the worker then writes LONG_REPLIES long
    replies where `long` (the first round), each beside a llama-bench run (`bench`), for its
    rate at the end against the start, and runs side by side with the bare loop and
    llama-bench, for the generation ratios."""
    session = common.open_session(path, model, threads, N_CTX, seed, chat_format)
    long_replies: dict[str, Any] = {}
    turns: list[dict[str, float]] = []
    try:
        session.ask(WARMUP, max_tokens=4, seed=seed)
        reads = []  # (tokens/s, tokens, seconds): the same length, a new text each time
        for repeat in range(REPEATS):
            pp = session.ask(common.long_prompt(words, start=repeat), max_tokens=1, seed=seed)
            if isinstance(session, common.DirectSession):
                count = session.context_tokens
            else:
                count = pp.prompt_tokens
            reads.append((count / pp.ttft if pp.ttft else 0.0, count, pp.ttft))
        _rate, pp_tokens, pp_ttft = max(reads)
        runs = [session.ask(common.STORY_PROMPT, max_tokens=tokens, seed=seed)
                for _ in range(REPEATS)]
        if isinstance(session, common.WorkerSession):
            long_replies = long_reply(session, seed, bench) if long else {}
            turns = side_by_side(session, bench, tokens, seed, words, pp_tokens)
    finally:
        session.close()
    worker = isinstance(session, common.WorkerSession)
    rates = [run.loop_rate if worker else run.rate for run in runs]
    tg = runs[rates.index(max(rates))]
    return {"path": path, "pp_ttft": pp_ttft, "pp_tokens": pp_tokens, "ttft": runs[0].ttft,
            "tg_rate": max(rates), "tg_rates": rates, "tg_tokens": tg.tokens,
            "tg_prompt_tokens": tg.prompt_tokens, "side_by_side": turns, **long_replies}


@dataclass(frozen=True)
class BenchCall:
    """How the worker's child runs llama-bench beside itself."""

    binary: str
    model: Path
    threads: int
    no_repack: bool
    memory: Memory = LLAMA_CPP_DEFAULT  # side_by_side sets the worker's own

    def windows(self, depth: int) -> dict[str, float]:
        """tg of one WINDOW at the start of a long reply to a prompt of `depth` tokens
        ("early") and one at its end ("late"), in one llama-bench run."""
        late = depth + LONG_REPLY - WINDOW
        rates = run_llama_bench(self.binary, self.model, self.threads, 0, WINDOW, 1,
                                self.no_repack, depths=(depth, late), memory=self.memory)
        return {"early": rates[f"tg@{depth}"], "late": rates[f"tg@{late}"]}

    def run(self, pp_tokens: int, tokens: int, depth: int,
            memory: Memory | None = None) -> dict[str, float]:
        """pp of `pp_tokens` and tg of `tokens`, both from `depth`, in one llama-bench run."""
        return run_llama_bench(self.binary, self.model, self.threads, pp_tokens, tokens, 1,
                               self.no_repack, depths=(depth,),
                               memory=self.memory if memory is None else memory)


def side_by_side(session: common.WorkerSession, bench: BenchCall | None, tokens: int,
                 seed: int, words: int, pp_tokens: int) -> list[dict[str, float]]:
    """TURNS turns, each one back to back: the worker reading a new long prompt (about
    `pp_tokens` tokens, for pp) and replying to the story prompt (tg), llama-bench's pp and
    tg from the same depth (a child process; this one idles meanwhile) holding the weights
    as the worker's engine does, and the bare loop on the worker's own model and context (on
    the worker's thread, between replies); in every other turn llama-bench's tg once more as
    llama.cpp does by default (llama_bench_default; Memory). The order: turn_order.

    The bare loop must run on the worker's thread: llama.cpp's OpenMP threads spin between
    barriers only while libgomp counts no more of its threads than CPUs, and a second thread
    starting llama.cpp work (this one) adds a team, after which every thread sleeps and is
    woken at each of the hundreds of barriers a token takes (a third slower on two cores).

    This machine's speed swings by a fifth over tens of seconds (other virtual machines on the
    host), and separate child processes per path, run a minute apart, compared the machine's
    moods more than the paths. Within a turn the paths run within seconds of each other, so
    the ratio of a turn's figures is what the code costs.
    """
    engine = session.host.worker._engine
    prompt, _stops, _stop_tokens = engine.render(common.STORY_PROMPT)
    bench = beside(session, bench)
    turns = []
    for index in range(TURNS):
        turn: dict[str, float] = {}
        for path in turn_order(index):
            if path == "worker":
                read = session.ask(common.long_prompt(words, start=REPEATS + index),
                                   max_tokens=1, seed=seed)
                if read.ttft:
                    turn["worker_pp"] = read.prompt_tokens / read.ttft
                turn[path] = session.ask(common.STORY_PROMPT, max_tokens=tokens,
                                         seed=seed).loop_rate
            elif path == "bare":
                turn[path] = on_worker_thread(session, lambda: bare_rate(engine, prompt, tokens))
            elif bench is not None:
                try:
                    if path == "llama_bench":
                        rates = bench.run(pp_tokens, tokens, len(prompt))
                        turn["llama_bench_pp"] = rates["pp"]
                    else:  # llama.cpp's defaults: a reference for generation only
                        rates = bench.run(0, tokens, len(prompt), LLAMA_CPP_DEFAULT)
                    turn[path] = rates["tg"]
                except common.ChildFailed as error:
                    common.progress(f"llama-bench beside the worker failed: {error}")
                    bench = None
        turns.append(turn)
    return turns


def turn_order(index: int) -> tuple[str, ...]:
    """The paths of side-by-side turn `index`, in the order they run. The worker and
    llama-bench, whose ratio is the target, always run next to each other; every other turn
    runs backwards, so the machine's speed drifting over a turn's seconds favours no path.
    llama.cpp's defaults, a reference, run in every other turn (at the end), leaving the
    time to more turns."""
    if index % 2 == 0:
        return ("worker", "llama_bench", "bare", "llama_bench_default")
    return ("bare", "llama_bench", "worker")


def on_worker_thread(session: common.WorkerSession, work: Any) -> Any:
    """work() run on the worker's QThread (its event loop is idle between replies)."""
    import threading

    from PySide6.QtCore import QTimer

    done = threading.Event()
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(work())
        finally:
            done.set()

    QTimer.singleShot(0, session.host.worker, run)
    if not done.wait(300):
        raise common.ChildFailed("the bare loop did not finish on the worker's thread")
    if not result:
        raise common.ChildFailed("the bare loop failed on the worker's thread")
    return result[0]


def bare_rate(engine: Any, prompt: list[int], tokens: int) -> float:
    """The floor under any Python loop: `engine`'s model and context, loaded as Cove loads
    them, decoding one fixed token at a time straight through ctypes after the story prompt
    (no sampling, no text), timed first to last token. What separates it from llama-bench is
    not Cove's loop; what separates the worker from it is."""
    import threading

    import llama_cpp as lib

    decoder = engine._decoder
    # The decoder's record still says the cache holds the prompt alone (this loop does not
    # tell it), so the next evaluation cuts these tokens and reads the last prompt token again.
    decoder.evaluate(prompt, threading.Event())
    token = (lib.llama_token * 1)(prompt[-1])
    times = []
    for _ in range(tokens):
        lib.llama_decode(decoder.ctx, lib.llama_batch_get_one(token, 1))
        lib.llama_get_logits_ith(decoder.ctx, -1)  # waits for the result, as sampling does
        times.append(time.perf_counter())
    return common.window_rate(times, 0, len(times))


def beside(session: common.WorkerSession, bench: BenchCall | None) -> BenchCall | None:
    """`bench` holding the weights as the worker's engine does (Memory)."""
    engine = session.host.worker._engine
    if bench is not None and engine.placement is not None:
        return dataclasses.replace(bench, memory=Memory.of(engine.placement))
    return bench


def long_reply(session: common.WorkerSession, seed: int,
               bench: BenchCall | None) -> dict[str, Any]:
    """LONG_REPLIES pairs, back to back: the worker's decode rate over the last WINDOW of a
    LONG_REPLY-token story and over the first WINDOW, from when its chunks arrived, and
    llama-bench's rate over the same windows from the same depths (BenchCall.windows; every
    other pair first).
    Seeds are tried until that many stories run that long.

    The engine normally hands on the text that comes within a frame in one piece; here it
    hands on every token's (interval 0) so each token's arrival is timed. That costs the same
    on every token, so it cancels out of the late-over-early ratio."""
    engine = session.host.worker._engine
    bench = beside(session, bench)
    depth = len(engine.render(common.STORY_PROMPT)[0])  # the reply starts after the prompt
    interval, engine.chunk_interval_s = engine.chunk_interval_s, 0.0
    replies: list[dict[str, Any]] = []
    try:
        for attempt in range(LONG_SEEDS):
            if len(replies) == LONG_REPLIES:
                break
            first = len(replies) % 2 == 1  # llama-bench before the reply
            theirs = bench_windows(bench, depth) if first else {}
            reply = session.ask(common.STORY_PROMPT, max_tokens=LONG_REPLY, seed=seed + attempt)
            times = reply.chunk_times
            if len(times) < LONG_REPLY - 8:  # a few tokens may share a chunk (split characters)
                continue
            ours = {"early": common.window_rate(times, 0, WINDOW),
                    "late": common.window_rate(times, len(times) - WINDOW, len(times)),
                    "tokens": reply.tokens, "chunks": len(times)}
            if not first:
                theirs = bench_windows(bench, depth)
            replies.append({**ours, **{f"llama_bench_{key}": rate
                                       for key, rate in theirs.items()}})
    finally:
        engine.chunk_interval_s = interval
    if replies:
        return {"long_replies": replies}
    return {"long_skipped": f"no story ran to {LONG_REPLY} tokens in {LONG_SEEDS} seeds"}


def bench_windows(bench: BenchCall | None, depth: int) -> dict[str, float]:
    """BenchCall.windows, or nothing where llama-bench is missing or fails."""
    if bench is None:
        return {}
    try:
        return bench.windows(depth)
    except common.ChildFailed as error:
        common.progress(f"llama-bench beside a long reply failed: {common.tail(str(error), 300)}")
        return {}


def child(path: str, model: common.BenchModel, threads: int, words: int, tokens: int,
          seed: int, bench: dict[str, Any], no_repack: bool, long: bool) -> dict[str, Any]:
    args = [__file__, "--one", path, "--model-path", str(model.path), "--threads", str(threads),
            "--words", str(words or PP_WORDS.get(model.label, 380)), "--tokens", str(tokens),
            "--seed", str(seed)]
    if model.chat_format:
        args += ["--chat-format", model.chat_format]
    if path == "worker" and "binary" in bench:
        args += ["--llama-bench", str(bench["binary"])] + (["--no-repack"] if no_repack else [])
    if path == "worker" and long:
        args.append("--long")
    return common.run_child(args, timeout=600)


# The comparison -----------------------------------------------------------------------------


def compare_model(model: common.BenchModel, bench: dict[str, Any], threads: int, rounds: int,
                  words: int, tokens: int, seed: int, budget: common.Budget,
                  share: float, extra_buffers: bool = True) -> dict[str, Any]:
    """Rounds of the three paths; a round after the first starts only while less than
    `share` of the budget is spent."""
    entry: dict[str, Any] = {"model": model.label}
    if model.path is None:
        return {**entry, "skipped": model.missing}
    entry["file"] = model.path.name
    entry["file_mb"] = round(model.path.stat().st_size / common.MIB, 1)
    entry["chat_format"] = model.chat_format or "model's own template"
    memory = cove_memory(model.path)  # llama-bench holds the weights as Cove's engine does
    entry["weights"] = dataclasses.asdict(memory)
    runs: dict[str, list[dict[str, Any]]] = {"llama_bench": [], "direct": [], "worker": [],
                                             "llama_bench_no_repack": []}
    errors: dict[str, str] = {}
    common.progress(f"{model.label}: {rounds} rounds of llama-bench / direct / worker")
    try:
        measure_rounds(model, bench, threads, rounds, words, tokens, seed, budget, share, runs,
                       errors, extra_buffers, memory)
    except common.Interrupted:
        entry["interrupted"] = "the run's time budget ran out during this model"
    if not any(runs.values()):
        return {**entry, "skipped": entry.get("interrupted") or "no path ran"}
    rounds_run = max(len(v) for v in runs.values())
    return {**entry, "rounds": rounds_run, **summarise(runs, errors)}


def measure_rounds(model: common.BenchModel, bench: dict[str, Any], threads: int, rounds: int,
                   words: int, tokens: int, seed: int, budget: common.Budget, share: float,
                   runs: dict[str, list[dict[str, Any]]], errors: dict[str, str],
                   extra_buffers: bool = True, memory: Memory = LLAMA_CPP_DEFAULT) -> None:
    """llama-bench runs with the kernels Cove uses (`extra_buffers`) and holds the weights as
    its engine does (`memory`); where the kernels are the fast ones, it also runs without
    them, to show what the fallback would cost. The references no target reads
    (FIRST_ROUND_ONLY) and the long replies (the worker's child writes them in the first
    round, beside llama-bench) run in the first round only, leaving the time to the
    side-by-side turns."""
    assert model.path is not None
    sizes = {"pp": 512, "depth": 0}  # the worker's prompt sizes, which llama-bench then uses
    paths = ("worker", "direct", "llama_bench") + (
        ("llama_bench_no_repack",) if extra_buffers else ())
    for index in range(rounds):
        if index and not budget.allows(share):
            common.progress(f"{model.label}: time budget spent; stopping after {index} rounds")
            break
        for path in paths:
            if path in errors or (index and path in FIRST_ROUND_ONLY):
                continue
            try:
                if path.startswith("llama_bench"):
                    if "binary" not in bench:
                        errors[path] = str(bench.get("skipped", "not built"))
                        continue
                    runs[path].append(bench_round(path, bench["binary"], model.path,
                                                  threads, tokens, sizes, extra_buffers,
                                                  memory))
                else:
                    result = child(path, model, threads, words, tokens, seed, bench,
                                   not extra_buffers, long=index == 0)
                    runs[path].append(result)
                    if path == "worker":
                        sizes = {"pp": int(result["pp_tokens"]) or sizes["pp"],
                                 "depth": int(result["tg_prompt_tokens"])}
            except common.ChildFailed as error:
                errors[path] = str(error)
                common.progress(f"{model.label}: {path} failed: {common.tail(str(error), 300)}")
        common.progress(f"{model.label}: round {index + 1}/{rounds} done")


def bench_round(path: str, binary: str, model: Path, threads: int, tokens: int,
                sizes: dict[str, int], extra_buffers: bool,
                memory: Memory = LLAMA_CPP_DEFAULT) -> dict[str, float]:
    """One llama-bench run: pp and tg at the worker's sizes."""
    no_repack = path == "llama_bench_no_repack" or not extra_buffers
    return run_llama_bench(binary, model, threads, sizes["pp"], tokens, REPEATS, no_repack,
                           depths=(sizes["depth"],), memory=memory)


def budget_share(index: int, count: int) -> float:
    """The share of the budget spent once model `index` of `count` is done. The first (the
    starter) gets two parts to the others' three: its figures sit well clear of the targets,
    and Gemma's turns take longer."""
    weights = [2] + [3] * (count - 1)
    return sum(weights[:index + 1]) / sum(weights)


def turn_ratio(turns: list[dict[str, float]], numerator: str,
               denominator: str) -> float | None:
    """Median over the side-by-side turns of each turn's ratio (see side_by_side)."""
    pairs = [turn[numerator] / turn[denominator] for turn in turns
             if turn.get(numerator) and turn.get(denominator)]
    return round(common.median(pairs), 4) if pairs else None


def summarise(runs: dict[str, list[dict[str, Any]]], errors: dict[str, str]) -> dict[str, Any]:
    """Best of the rounds for each path's speeds, every round's value, and the ratios the
    targets are about (medians of per-round ratios)."""
    out: dict[str, Any] = {}
    bench = runs.get("llama_bench", [])
    direct = runs.get("direct", [])
    worker = runs.get("worker", [])
    if bench:
        out["llama_bench_pp_tokens_per_second"] = round(common.best([r["pp"] for r in bench]), 2)
        out["llama_bench_tg_tokens_per_second"] = round(common.best([r["tg"] for r in bench]), 2)
        out["llama_bench_pp_samples"] = [round(r["pp"], 1) for r in bench]
        out["llama_bench_tg_samples"] = [round(r["tg"], 1) for r in bench]
    pp: dict[str, list[float]] = {"llama_bench": [r["pp"] for r in bench]}
    for name, path_runs in (("direct", direct), ("worker", worker)):
        if not path_runs:
            continue
        # Each path's own count of the prompt it read (the same text, the same template).
        pp[name] = [r["pp_tokens"] / r["pp_ttft"] for r in path_runs
                    if r.get("pp_tokens") and r.get("pp_ttft")]
        if pp[name]:
            out[f"{name}_pp_tokens_per_second"] = round(common.best(pp[name]), 2)
            out[f"{name}_pp_samples"] = [round(v, 1) for v in pp[name]]
            out[f"{name}_pp_prompt_tokens"] = int(common.median(
                [r["pp_tokens"] for r in path_runs if r.get("pp_tokens")]))
        out[f"{name}_tg_tokens_per_second"] = round(
            common.best([r["tg_rate"] for r in path_runs]), 2)
        out[f"{name}_ttft_seconds"] = round(
            common.best([r["ttft"] for r in path_runs], larger=False), 4)
        out[f"{name}_tg_samples"] = [round(r["tg_rate"], 1) for r in path_runs]
        out[f"{name}_tokens"] = int(common.median([r["tg_tokens"] for r in path_runs]))
    if worker and worker[0].get("tg_prompt_tokens"):
        out["tg_context_tokens"] = int(worker[0]["tg_prompt_tokens"])  # llama-bench's -d
    tg = {"llama_bench": [r["tg"] for r in bench], "direct": [r["tg_rate"] for r in direct],
          "worker": [r["tg_rate"] for r in worker]}
    turns = [turn for r in worker for turn in r.get("side_by_side", [])]
    bare = [turn["bare"] for turn in turns if turn.get("bare")]
    if bare:
        out["bare_tg_tokens_per_second"] = round(common.best(bare), 2)
    if turns:
        out["side_by_side_samples"] = {
            path: [round(turn[path], 1) for turn in turns if turn.get(path)]
            for path in ("worker", "bare", "llama_bench", "llama_bench_default", "worker_pp",
                         "llama_bench_pp")}
        default = [turn["llama_bench_default"] for turn in turns
                   if turn.get("llama_bench_default")]
        if default:
            out["llama_bench_default_tg_tokens_per_second"] = round(common.best(default), 2)
    ttft = {"direct": [r["ttft"] for r in direct], "worker": [r["ttft"] for r in worker]}
    fallback = runs.get("llama_bench_no_repack", [])
    if fallback:  # what the plain kernels cost, where the fast ones run too
        out["llama_bench_no_repack_pp_tokens_per_second"] = round(
            common.best([r["pp"] for r in fallback]), 2)
        out["llama_bench_no_repack_tg_tokens_per_second"] = round(
            common.best([r["tg"] for r in fallback]), 2)
        for kind in ("pp", "tg"):
            ratio = common.paired_ratio([r[kind] for r in fallback], [r[kind] for r in bench])
            if ratio is not None:
                out[f"no_repack_vs_default_{kind}"] = ratio
    for key, value in (("worker_vs_llama_bench_tg",
                        turn_ratio(turns, "worker", "llama_bench")
                        or common.paired_ratio(tg["worker"], tg["llama_bench"])),
                       ("worker_vs_llama_bench_pp",
                        turn_ratio(turns, "worker_pp", "llama_bench_pp")
                        or common.paired_ratio(pp.get("worker", []), pp["llama_bench"])),
                       ("direct_vs_llama_bench_tg",
                        common.paired_ratio(tg["direct"], tg["llama_bench"])),
                       ("worker_vs_bare_tg", turn_ratio(turns, "worker", "bare")),
                       ("bare_vs_llama_bench_tg", turn_ratio(turns, "bare", "llama_bench")),
                       ("worker_vs_llama_bench_default_tg",
                        turn_ratio(turns, "worker", "llama_bench_default")),
                       ("worker_vs_direct_tg", common.paired_ratio(tg["worker"], tg["direct"])),
                       ("worker_vs_direct_ttft",
                        common.paired_ratio(ttft["worker"], ttft["direct"]))):
        if value is not None:
            out[key] = value
    out.update(summarise_long(worker))
    for path, message in errors.items():
        out[f"{path}_skipped"] = common.tail(message, 400)
    return out


def summarise_long(worker: list[dict[str, Any]]) -> dict[str, Any]:
    """Late-over-early decode rate of a long reply, the worker's against llama-bench's beside
    it: the gap is the median of the pairs' differences (long_reply)."""
    out: dict[str, Any] = {}
    replies = [reply for r in worker for reply in r.get("long_replies", [])
               if reply.get("early")]
    ours = [reply["late"] / reply["early"] for reply in replies]
    theirs = [reply["llama_bench_late"] / reply["llama_bench_early"] for reply in replies
              if reply.get("llama_bench_early")]
    gaps = [reply["late"] / reply["early"]
            - reply["llama_bench_late"] / reply["llama_bench_early"]
            for reply in replies if reply.get("llama_bench_early")]
    if ours:
        out["worker_long_reply_ratio"] = round(common.median(ours), 4)
        out["worker_long_reply_samples"] = [round(v, 3) for v in ours]
    if theirs:
        out["llama_bench_long_reply_ratio"] = round(common.median(theirs), 4)
        out["llama_bench_long_reply_samples"] = [round(v, 3) for v in theirs]
    if gaps:
        out["long_reply_gap_samples"] = [round(v, 3) for v in gaps]
        out["long_reply_gap"] = round(abs(common.median(gaps)), 4)
    skipped = [r["long_skipped"] for r in worker if r.get("long_skipped")]
    if skipped:
        out["worker_long_reply_skipped"] = skipped[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round per model")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=None, help="tokens generated per run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="no further rounds once measuring has taken this long "
                             "(default 480, quick 60; the build is not counted)")
    parser.add_argument("--from-source", action="store_true",
                        help="build llama.cpp's libraries too instead of reusing the wheel's")
    parser.add_argument("--no-build", action="store_true",
                        help="use a cached llama-bench only; never build")
    parser.add_argument("--one", choices=("direct", "worker"), help=argparse.SUPPRESS)
    parser.add_argument("--llama-bench", help=argparse.SUPPRESS)
    parser.add_argument("--no-repack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--long", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    parser.add_argument("--chat-format", help=argparse.SUPPRESS)
    parser.add_argument("--words", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = args.threads or common.physical_cores()
    tokens = args.tokens or (32 if args.quick else 128)
    words = 100 if args.quick else args.words  # 0: PP_WORDS, about 512 tokens
    if args.one:
        bench_call = BenchCall(args.llama_bench, Path(args.model_path), threads,
                               args.no_repack) if args.llama_bench else None
        common.emit(measure_one(args.one, args.model_path, args.chat_format, threads, words,
                                tokens, args.seed, bench_call, args.long))
        return 0

    rounds = args.rounds or (1 if args.quick else 5)
    common.stop_on_sigterm()
    try:
        bench = build_llama_bench(from_source=args.from_source, allow_build=not args.no_build)
    except common.Interrupted:
        bench = {"skipped": "the run's time budget ran out while building llama-bench"}
    if "skipped" in bench:
        common.progress(bench["skipped"])
    models = common.bench_models(args.quick)
    kernels = common.cove_kernels()
    common.progress(kernels.summary())
    budget = common.Budget(args.max_seconds or (60 if args.quick else 480))
    entries: list[dict[str, Any]] = []
    for index, model in enumerate(models):
        if entries and "interrupted" in entries[-1]:
            entries.append({"model": model.label, "skipped": entries[-1]["interrupted"]})
            continue
        entries.append(compare_model(model, bench, threads, rounds, words, tokens, args.seed,
                                     budget, budget_share(index, len(models)),
                                     kernels.extra_buffers))
    result: dict[str, Any] = {
        "benchmark": "llama_bench",
        "threads": threads,
        "rounds": rounds,
        "tokens": tokens,
        "n_ctx": N_CTX,
        "llama_bench_build": {k: v for k, v in bench.items() if k != "skipped"},
        # The configuration every path ran with, from Cove's CPU check.
        "cpu_kernels": {"extra_buffers": kernels.extra_buffers,
                        "outcome": kernels.outcome.value, "summary": kernels.summary()},
        "models": entries,
        "target_worker_vs_llama_bench_tg": TARGET_WORKER_VS_LLAMA_BENCH,
        "target_worker_vs_llama_bench_pp": TARGET_WORKER_VS_LLAMA_BENCH_PP,
        "target_long_reply_gap": TARGET_LONG_REPLY_GAP,
        "target_rules": {"target_worker_vs_llama_bench_tg": "at_least",
                         "target_worker_vs_llama_bench_pp": "at_least",
                         "target_long_reply_gap": "at_most"},
    }
    if "skipped" in bench:
        result["skipped"] = bench["skipped"]
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
