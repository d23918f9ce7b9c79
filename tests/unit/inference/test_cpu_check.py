"""The CPU check: a child that faults picks the plain kernels, recorded once, used everywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cove.inference import cpu_check
from cove.inference.cpu_check import (
    CHECK_FILE,
    FAST_KERNELS_ENV,
    CpuCheck,
    CpuIdentity,
    CpuKernels,
    FastKernels,
    Outcome,
    cpu_identity,
)
from cove.inference.engine import Engine, EngineError, GenerationParams, LoadOptions
from cove.models import probe

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")

AMX_CPU = CpuIdentity(
    build="llama-cpp-python 0.3.36 libggml-cpu.so:1:1",
    cpu="Intel(R) Xeon(R) Processor",
    flags=("amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_fp16", "avx512f"),
    all_flags=("amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_fp16", "avx512f", "sse2"),
)
# What the fake child does with each configuration: SIGILL with llama.cpp's extra buffer
# types (as the AMX machine did), a normal answer without them.
FAULTS_WITH_EXTRA_BUFFERS = f"""
import json, os, signal, sys
if {probe.NO_EXTRA_BUFFERS_FLAG!r} not in sys.argv:
    os.kill(os.getpid(), signal.SIGILL)
print({probe.RESULT_MARKER!r} + json.dumps({{"ok": True, "architecture": "llama",
      "n_vocab": 49152, "context_length": 8192}}))
"""
FAULTS_ALWAYS = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"


@pytest.fixture(autouse=True)
def no_forced_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAST_KERNELS_ENV, raising=False)


def fake_child(monkeypatch: pytest.MonkeyPatch, code: str) -> list[list[str]]:
    """Make the probe start `python -c code FLAGS PATH`; returns the flags each child got."""
    started: list[list[str]] = []

    def command(path: Path, *flags: str) -> list[str]:
        started.append(list(flags))
        return [sys.executable, "-c", code, *flags, str(path)]

    monkeypatch.setattr(probe, "_probe_command", command)
    return started


def checker(folder: Path, **kwargs: object) -> CpuCheck:
    return CpuCheck(folder, identity=lambda: AMX_CPU, **kwargs)  # type: ignore[arg-type]


def recorded(folder: Path) -> dict[str, dict[str, object]]:
    data = json.loads((folder / CHECK_FILE).read_text(encoding="utf-8"))
    assert data["version"] == 1
    return data["checks"]


def test_a_child_killed_by_sigill_makes_cove_use_the_plain_kernels(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = fake_child(monkeypatch, FAULTS_WITH_EXTRA_BUFFERS)
    kernels = checker(tmp_path).kernels()
    assert started == [[probe.CPU_CHECK_FLAG],
                       [probe.NO_EXTRA_BUFFERS_FLAG, probe.CPU_CHECK_FLAG]]
    assert kernels.outcome is Outcome.FALLBACK and kernels.usable
    assert kernels.extra_buffers is False
    assert kernels.signal_name == "SIGILL"
    assert kernels.summary().startswith(
        "Fast AMX kernels are off: this CPU reported AMX but faulted on it (SIGILL)")
    entry = recorded(tmp_path)[AMX_CPU.key]
    assert entry["outcome"] == "fallback" and entry["extra_buffers"] is False
    assert entry["cpu"] == "Intel(R) Xeon(R) Processor"


def test_the_outcome_is_reused_without_a_child_by_a_later_start(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_child(monkeypatch, FAULTS_WITH_EXTRA_BUFFERS)
    first = checker(tmp_path).kernels()
    started = fake_child(monkeypatch, FAULTS_ALWAYS)
    again = checker(tmp_path).kernels()  # a new process would build a new checker
    assert started == [] and again == first


def test_another_build_or_cpu_is_checked_again(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_child(monkeypatch, FAULTS_WITH_EXTRA_BUFFERS)
    checker(tmp_path).kernels()
    rebuilt = CpuIdentity("llama-cpp-python 0.3.37", AMX_CPU.cpu, AMX_CPU.flags,
                          AMX_CPU.all_flags)
    started = fake_child(monkeypatch, "import sys; sys.exit(0)")  # answers nothing, no fault
    CpuCheck(tmp_path, identity=lambda: rebuilt).kernels()
    assert started == [[probe.CPU_CHECK_FLAG]]


def test_a_forced_choice_is_honoured_without_a_child(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = fake_child(monkeypatch, FAULTS_ALWAYS)
    check = checker(tmp_path)
    on = check.kernels(choice=FastKernels.ON)
    assert (on.extra_buffers, on.outcome, on.source) == (True, Outcome.FORCED, "Settings")
    monkeypatch.setenv(FAST_KERNELS_ENV, "off")  # the environment wins over the setting
    off = check.kernels(choice="on")
    assert (off.extra_buffers, off.source) == (False, FAST_KERNELS_ENV)
    assert off.summary() == f"Fast CPU kernels are off, as set by {FAST_KERNELS_ENV}."
    assert started == [] and not (tmp_path / CHECK_FILE).exists()


def test_when_both_configurations_fault_the_message_names_the_cpu_and_its_flags(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = fake_child(monkeypatch, FAULTS_ALWAYS)
    kernels = checker(tmp_path).kernels()
    assert len(started) == 2 and not kernels.usable
    message = kernels.message()
    assert "llama.cpp cannot run on this CPU (Intel(R) Xeon(R) Processor" in message
    assert "amx_tile" in message and "avx512f" in message and "SIGILL" in message
    assert recorded(tmp_path)[AMX_CPU.key]["outcome"] == "unusable"


def test_an_unusable_cpu_stops_the_load_with_that_message_and_no_crash(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_child(monkeypatch, FAULTS_ALWAYS)
    monkeypatch.setattr(cpu_check, "_shared", checker(tmp_path))
    with pytest.raises(EngineError, match=r"cannot run on this CPU .*amx_tile"):
        Engine(starter_model, LoadOptions(n_ctx=256)).load()


def test_a_file_that_fails_for_other_reasons_is_not_taken_for_a_cpu_fault(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_child(monkeypatch, "import sys; sys.exit(3)")
    kernels = checker(tmp_path).kernels()
    assert kernels.outcome is Outcome.UNKNOWN and kernels.extra_buffers
    assert not (tmp_path / CHECK_FILE).exists()  # tried again next time


def test_the_loaded_model_is_tried_when_the_starter_is_missing(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[Path] = []

    def runner(model: Path, extra_buffers: bool) -> int | None:
        tried.append(model)
        return None

    check = checker(tmp_path, runner=runner, reference_model=lambda: None)
    assert check.kernels(starter_model).outcome is Outcome.CHECKED
    assert tried == [starter_model]
    nothing = checker(tmp_path / "other", runner=runner, reference_model=lambda: None)
    assert nothing.kernels(None).outcome is Outcome.UNKNOWN


def test_a_damaged_record_is_ignored_and_rewritten(
        tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / CHECK_FILE).write_text("{not json", encoding="utf-8")
    fake_child(monkeypatch, FAULTS_WITH_EXTRA_BUFFERS)
    assert checker(tmp_path).kernels().outcome is Outcome.FALLBACK
    assert recorded(tmp_path)[AMX_CPU.key]["outcome"] == "fallback"


def test_identity_reads_the_cpu_model_and_its_vector_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
        "flags\t\t: fpu sse2 avx2 avx512f amx_tile amx_int8 fma\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n", encoding="utf-8")
    identity = cpu_identity(cpuinfo)
    assert identity.cpu == "Intel(R) Xeon(R) Processor"
    assert identity.flags == ("amx_int8", "amx_tile", "avx2", "avx512f", "fma")
    assert "llama-cpp-python 0." in identity.build
    assert identity.key == cpu_identity(cpuinfo).key
    assert identity.key != CpuIdentity(identity.build, "Other", (), ()).key


def test_a_record_round_trips() -> None:
    kernels = CpuKernels(False, Outcome.FALLBACK, "cpu", ("amx_tile",), "SIGILL")
    assert CpuKernels.from_json(json.loads(json.dumps(kernels.to_json()))) == kernels
    assert CpuKernels.from_json({"outcome": "nonsense"}) is None


# -- with the real llama.cpp on this machine ---------------------------------------------------


@pytest.mark.real_model
def test_the_real_check_passes_here_and_records_its_choice(
        tmp_path: Path, starter_model: Path) -> None:
    kernels = CpuCheck(tmp_path).kernels()
    assert kernels.outcome in (Outcome.CHECKED, Outcome.FALLBACK), kernels
    identity = cpu_identity()
    entry = recorded(tmp_path)[identity.key]
    assert entry["extra_buffers"] is kernels.extra_buffers
    assert entry["cpu"] == identity.cpu
    if kernels.outcome is Outcome.CHECKED:
        assert kernels.summary() == (
            "Fast CPU kernels are on: this CPU ran them in a one-time check.")


@pytest.mark.real_model
def test_the_real_probe_child_runs_without_extra_buffers(starter_model: Path) -> None:
    result = probe.probe_model_file(starter_model, extra_buffers=False, cpu_check=True)
    assert result.architecture == "llama"


@pytest.mark.real_model
def test_the_engine_loads_and_answers_with_the_plain_kernels(
        starter_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAST_KERNELS_ENV, "off")
    engine = Engine(starter_model, LoadOptions(n_ctx=256, fast_kernels="auto"))
    engine.load()
    try:
        stream = engine.stream_chat([{"role": "user", "content": "Say hi."}],
                                    GenerationParams(max_tokens=8, seed=1))
        assert "".join(stream).strip()
        assert engine.kernels_summary == (
            f"Fast CPU kernels are off, as set by {FAST_KERNELS_ENV}.")
    finally:
        engine.close()


def test_model_params_turn_extra_buffers_off_for_one_load_only() -> None:
    import llama_cpp.llama_cpp as lib

    from cove.models.llama_params import model_params

    original = lib.llama_model_default_params
    with model_params(extra_buffers=False):
        assert lib.llama_model_default_params().use_extra_bufts is False
    assert lib.llama_model_default_params is original
    assert original().use_extra_bufts is True


def test_sigill_is_a_signal_the_check_sees(tmp_path: Path, starter_model: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake_child(monkeypatch, FAULTS_ALWAYS)
    assert cpu_check.run_check_child(starter_model, True) == signal.SIGILL
    fake_child(monkeypatch, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert cpu_check.run_check_child(starter_model, True) == 0  # out of memory, not the CPU


def test_the_check_child_writes_no_core_file_when_it_faults(tmp_path: Path) -> None:
    """The child the check starts may die by SIGILL; like Cove, it turns core files off."""
    code = ("import resource; from cove.models.probe import child_main; "
            "child_main([sys.argv[1]]); "
            "print('limit', resource.getrlimit(resource.RLIMIT_CORE)[0])")
    result = subprocess.run([sys.executable, "-c", "import sys; " + code,
                             str(tmp_path / "missing.gguf")],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines()[-1] == "limit 0"
