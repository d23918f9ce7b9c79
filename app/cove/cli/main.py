"""Command line: parse arguments, set up folders and logging, then start the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from cove import APP_NAME, __version__
from cove.paths import HOME_ENV, FolderUnusable, app_paths


def offline_environment() -> None:
    """Tell libraries that could phone home not to; set before any of them is imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("DO_NOT_TRACK", "1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cove",
        description=f"{APP_NAME}: chat with language models that run on this computer.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument("--home", metavar="DIR",
                        help=f"keep all data, settings, cache and logs under DIR "
                             f"(same as {HOME_ENV}=DIR)")
    parser.add_argument("--model", metavar="PATH", help="the GGUF model file to load")
    parser.add_argument("--smoke-test", metavar="PROMPT",
                        help="open the window, send PROMPT, print the reply and its stats "
                             "as a JSON line, then exit")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="give up on --smoke-test after this long (default 600)")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="longest reply in tokens")
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed, for repeatable "
                        "replies")
    parser.add_argument("--debug", action="store_true", help="log more detail (never text)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="history export: the branch shown as Markdown (default), or "
                             "the whole conversation with every branch as JSON")
    parser.add_argument("--note", metavar="ID", help="draft: work on this note (default: "
                        "standard input)")
    parser.add_argument("--instruction", metavar="TEXT",
                        help="draft instruction: what to do with the text")
    parser.add_argument("command", nargs="*",
                        metavar="history list|export ID, notes list|export ID|import FILE, "
                                "draft ACTION, backup create|restore FILE, "
                                "backup export-all FOLDER, import FORMAT FILE",
                        help="print the saved conversations or notes, import a note, run a "
                             "writing action on a note or standard input, back up or restore "
                             "the history, or import another app's chats, and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from cove.privacy.core_dumps import no_core_dumps
    from cove.privacy.guard import guard

    guard().install()  # before anything else can open a connection
    no_core_dumps()
    argv = list(sys.argv[1:] if argv is None else argv)
    from cove.models.probe import PROBE_FLAG

    if argv[:1] == [PROBE_FLAG]:
        # A frozen Cove is its own Python: the model probe's child process lands here.
        from cove.models.probe import child_main

        return child_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    offline_environment()
    try:
        paths = app_paths().ensure()
    except FolderUnusable as error:  # before logging exists: one line, no traceback
        print(error, file=sys.stderr)
        return 1

    from cove.logging_setup import setup_logging

    setup_logging(paths.log_file, logging.DEBUG if args.debug else logging.INFO)
    logging.getLogger("cove").info("%s %s starting", APP_NAME, __version__)
    if args.command:
        if args.command[0] in ("notes", "draft"):
            from cove.cli.notes import run_draft, run_notes

            return (run_notes(args.command[1:], paths) if args.command[0] == "notes"
                    else run_draft(args.command[1:], args, paths))
        if args.command[0] == "backup":
            from cove.cli.backup import run_backup

            return run_backup(args.command[1:], paths)
        if args.command[0] == "import":
            from cove.cli.importing import run_import

            return run_import(args.command[1:], paths)
        if args.command[0] != "history":
            build_parser().error(f"unknown command {args.command[0]!r}")
        from cove.cli.history import run_history

        return run_history(args.command[1:], paths, args.format)
    if args.smoke_test is not None and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        or sys.platform in ("win32", "darwin")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from cove.platform_check import display_problem

    problem = display_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    args.instance = None
    if args.smoke_test is None:  # a scripted run never stands in for the window
        from cove.instance import InstanceUnavailable, claim

        try:
            args.instance = claim(paths.data)
        except InstanceUnavailable as error:  # start anyway, as before single instance
            logging.getLogger("cove").warning("single instance unavailable: %s", error)
        else:
            if args.instance is None:
                print(f"{APP_NAME} is already open: its window was brought forward.")
                return 0
    from cove.ui.app import run

    try:
        return run(args, paths)
    finally:
        if args.instance is not None:
            args.instance.close()
