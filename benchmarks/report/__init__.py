"""The parts of benchmarks/run_all.py: running the scripts (runner), judging their figures and
writing the Markdown report (report), and drawing its plots (plots)."""
