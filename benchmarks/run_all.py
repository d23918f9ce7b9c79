"""Run every benchmark in benchmarks/, then write results.json and docs/performance.md.

Each script prints one JSON line. A script that fails (non-zero exit, no JSON line, or
timeout) is recorded as failed with the tail of its stderr, and the rest still run. The
report is a table of every figure, its target and whether it holds, with plots in docs/img/.
Each script states which way its targets point (`target_rules`); see report/report.py.

    python benchmarks/run_all.py [--quick] [--only NAME,...] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package
from common import BENCH_DIR, REPO_ROOT
from report.plots import make_plots
from report.report import render_report
from report.runner import discover, load_average, machine_info, run_scripts

RESULTS_FILE = BENCH_DIR / "results.json"
REPORT_FILE = REPO_ROOT / "docs" / "performance.md"
IMG_DIR = REPO_ROOT / "docs" / "img"


def write_outputs(data: Mapping[str, Any]) -> None:
    RESULTS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    plots = make_plots(data, IMG_DIR)
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(render_report(data, plots))
    print(f"wrote {RESULTS_FILE}, {REPORT_FILE} and {len(plots)} plots in {IMG_DIR}",
          file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    parser.add_argument("--timeout", type=float, default=600, help="most seconds per script")
    parser.add_argument("--budget", type=float, default=870,
                        help="seconds for the whole run (default 870: make bench stays under "
                             "15 minutes); a script gets at most what is left")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report and plots from benchmarks/results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        write_outputs(json.loads(RESULTS_FILE.read_text()))
        return 0
    started = time.perf_counter()
    before = load_average()
    scripts = discover([n for n in args.only.split(",") if n])
    flags = ["--quick"] if args.quick else []
    runs = run_scripts(scripts, flags, args.timeout, args.budget)
    data = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": args.quick,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"before": before, "after": load_average()},
        "machine": machine_info(),
        "runs": runs,
    }
    write_outputs(data)
    failed = [r["script"] for r in runs if r["status"] == "failed"]
    print(f"bench finished in {data['wall_seconds']} s; "
          f"{len(runs) - len(failed)} of {len(runs)} scripts ran"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
