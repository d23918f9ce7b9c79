"""Running the benchmark scripts: failures recorded, the time budget kept, other work seen.

The scripts run here are a few lines of Python; no model runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import run_all
from report import report, runner

from tests.benchmarks.conftest import BENCH_DIR, ScriptWriter
from tests.benchmarks.fake_results import fake_data

# Other work on the machine -------------------------------------------------------------------


def test_other_processes_cpu_is_counted_between_samples(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # pid 1 grew by 1.5 s, pid 2 is new (all of its 0.5 s counts), pid 3 ended (ignored)
    assert runner.cpu_added({1: 10.0, 3: 4.0}, {1: 11.5, 2: 0.5}) == 2.0
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    assert runner.machine_share(2.0, 10.0) == 0.1  # 2 CPU-seconds of 20


def test_busy_work_outside_the_run_is_seen_and_our_own_is_not(tmp_path: Path) -> None:
    busy = ("import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n"
            "end = time.time() + 2.5\nwhile time.time() < end: pass\n")
    script = tmp_path / "busy.py"
    script.write_text(busy)
    with runner.OtherWork(interval=0.5) as others:
        # the shell exits at once, so this busy process is nobody's child in this run
        subprocess.run(["sh", "-c", f"'{sys.executable}' '{script}' '{tmp_path / 'outsider'}' "
                                    ">/dev/null 2>&1 &"], check=True)
        ours = subprocess.Popen([sys.executable, str(script), str(tmp_path / "ours")])
        ours.wait()
    outsider = int((tmp_path / "outsider").read_text())
    assert others.seen.get(outsider, 0.0) >= 1.0
    assert ours.pid not in others.seen
    assert others.cpu_seconds >= others.seen[outsider] - 0.5
    data = fake_data()
    data["runs"][0]["others_cpu_share"] = 0.4
    text = report.render_report(data, plots=[])
    assert "during: ui_latency (40%)" in text
    assert "other processes used 40% of the CPU meanwhile (noisy)" in text


# Running scripts -----------------------------------------------------------------------------


def test_a_script_that_fails_is_recorded_with_its_stderr_and_others_still_run(
        write_script: ScriptWriter) -> None:
    good = write_script("good.py", """
        import json, sys
        print("progress", file=sys.stderr)
        print("noise")
        print(json.dumps({"benchmark": "good", "speed_ms": 3, "quick": "--quick" in sys.argv}))
    """)
    bad = write_script("bad.py", """
        raise RuntimeError("the model file is gone")
    """)
    silent = write_script("silent.py", "print('no json here')\n")
    old = write_script("old.py", """
        import argparse, json
        argparse.ArgumentParser().parse_args()
        print(json.dumps({"benchmark": "old", "figure_ms": 1}))
    """)
    records = {p.stem: runner.run_script(p, ["--quick"], timeout=60)
               for p in (good, bad, silent, old)}
    assert records["good"]["status"] == "ok"
    assert records["good"]["result"]["quick"] is True
    assert records["bad"]["status"] == "failed"
    assert "the model file is gone" in records["bad"]["stderr_tail"]
    assert records["silent"] == {**records["silent"], "status": "failed",
                                 "reason": "no JSON line on stdout"}
    assert records["old"]["status"] == "ok" and records["old"]["flags_ignored"] == ["--quick"]


def test_a_failed_child_is_the_scripts_error_line_and_run_all_records_why(
        tmp_path: Path) -> None:
    model = tmp_path / "missing.gguf"
    record = runner.run_script(BENCH_DIR / "throughput.py",
                               ["--model", str(model), "--quick"], timeout=120)
    assert record["status"] == "failed" and record["returncode"] == 1
    assert record["result"]["benchmark"] == "throughput"
    assert record["reason"].startswith("direct run failed: exit 1: ")
    assert f"Model path does not exist: {model}" in record["reason"]


def test_a_script_past_its_time_is_recorded_as_failed(write_script: ScriptWriter) -> None:
    slow = write_script("slow.py", "import time\ntime.sleep(30)\n")
    record = runner.run_script(slow, [], timeout=1)
    assert record["status"] == "failed" and "timed out" in record["reason"]


def test_a_script_stopped_by_the_budget_keeps_what_it_printed_on_sigterm(
        write_script: ScriptWriter) -> None:
    patient = write_script("patient.py", """
        import json, signal, sys, time
        def stop(*_):
            print(json.dumps({"benchmark": "patient", "rounds": 1, "speed_ms": 2.0}))
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", file=sys.stderr, flush=True)
        time.sleep(30)
    """)
    record = runner.run_script(patient, [], timeout=2)
    assert record["status"] == "ok" and record["result"]["speed_ms"] == 2.0
    assert "partial result" in record["note"]


# The entry point (benchmarks/run_all.py) -----------------------------------------------------


def test_scripts_past_the_whole_runs_budget_are_skipped_and_the_builder_runs_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [p.name for p in runner.discover()]
    assert names[-1] == "llama_bench.py" and "common.py" not in names
    assert "run_all.py" not in names and "startup.py" in names
    monkeypatch.setattr(run_all, "RESULTS_FILE", tmp_path / "results.json")
    monkeypatch.setattr(run_all, "REPORT_FILE", tmp_path / "performance.md")
    monkeypatch.setattr(run_all, "IMG_DIR", tmp_path / "img")
    monkeypatch.setattr(run_all, "make_plots", lambda data, folder: [])
    assert run_all.main(["--budget", "10", "--only", "startup,memory"]) == 0
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [(r["script"], r["status"]) for r in runs] == [("memory.py", "skipped"),
                                                         ("startup.py", "skipped")]
    assert "no time left" in (tmp_path / "performance.md").read_text()


def test_report_only_rewrites_the_report_from_results(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(fake_data()))
    monkeypatch.setattr(run_all, "RESULTS_FILE", results)
    monkeypatch.setattr(run_all, "REPORT_FILE", tmp_path / "docs" / "performance.md")
    monkeypatch.setattr(run_all, "IMG_DIR", tmp_path / "docs" / "img")
    monkeypatch.setattr(run_all, "make_plots", lambda data, folder: [])
    assert run_all.main(["--report-only"]) == 0
    text = (tmp_path / "docs" / "performance.md").read_text()
    assert "❌ missed" in text and json.loads(results.read_text())["wall_seconds"] == 42.0


def test_the_command_line_is_unchanged() -> None:
    shown = subprocess.run([sys.executable, str(BENCH_DIR / "run_all.py"), "--help"],
                           capture_output=True, text=True, check=True).stdout
    for option in ("--quick", "--only", "--timeout", "--budget", "--report-only"):
        assert option in shown
