"""Generation speed with the encrypted history saving the reply, against no saving at all.

Each run is a fresh child process (see throughput.py for why) that opens the real window,
sends one prompt and reports the reply's decode rate; "on" runs save the reply to a real
encrypted store (once a second while it streams, and at the end). A round runs one child
of each mode back to back, every other round "on" first, so the machine's speed drifting
over a round favours neither; the ratio is the median of the rounds' own on/off ratios.
Prints one JSON line. Target: speed with saving on within 2% of saving off (ratio >= 0.98).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import common

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "Write a long, detailed story about a lighthouse keeper."


def measure(saving: bool, tokens: int, seed: int) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from cove.inference.engine import GenerationParams, LoadOptions
    from cove.models.starter import starter_model_path
    from cove.storage.crypto import KdfParams
    from cove.ui.chat.controller import ChatController
    from cove.ui.chat.window import MainWindow
    from cove.ui.history.presenter import HistoryPresenter
    from cove.ui.history.session import HistorySession, HistoryState

    _app = QApplication.instance() or QApplication(sys.argv[:1])
    controller = ChatController(params=GenerationParams(max_tokens=tokens, seed=seed),
                                load_options=LoadOptions(n_ctx=2048, seed=seed))
    window = MainWindow(controller)
    loop = QEventLoop()
    QTimer.singleShot(600_000, loop.quit)
    with tempfile.TemporaryDirectory() as home:
        session = None
        if saving:
            session = HistorySession(Path(home) / "cove.db", parent=window,
                                     kdf_params=KdfParams.at_floor())
            HistoryPresenter(window, session)
            session.sig_state.connect(lambda state, _m: loop.quit()
                                      if state in (HistoryState.SETUP,
                                                   HistoryState.UNLOCKED) else None)
            session.open()
            loop.exec()
            session.setup_with_passphrase("benchmark passphrase")
            loop.exec()
            assert session.unlocked
        controller.sig_model_ready.connect(loop.quit)
        controller.load_model(str(starter_model_path()))
        loop.exec()
        controller.sig_reply_finished.connect(lambda *_: loop.quit())
        window.composer.set_text(PROMPT)
        window.composer.send_button.click()
        loop.exec()
        reply = controller.last_reply()
        saved = 0
        if session is not None and session.store is not None:
            stored = session.store.load_messages(controller.model.conversation.id)
            saved = len(stored[-1].text) if stored else 0  # type: ignore[union-attr]
        window.close()
    stats = reply.stats if reply else None
    return {"rate": stats.tokens_per_second if stats else 0.0,
            "tokens": stats.tokens if stats else 0, "saved_chars": saved}


def round_order(index: int) -> tuple[str, str]:
    """The modes of round `index` in the order they run: every other round "on" first."""
    return ("off", "on") if index % 2 == 0 else ("on", "off")


def summarise(runs: dict[str, list[dict]]) -> dict:
    """The rates (medians) and the ratio: the median of the rounds' own on/off ratios, each
    round's two children having run back to back."""
    on, off = ([run["rate"] for run in runs[mode]] for mode in ("on", "off"))
    return {"saving_on_tokens_per_second": round(common.median(on), 2),
            "saving_off_tokens_per_second": round(common.median(off), 2),
            "ratio": common.paired_ratio(on, off) or 0.0,
            "round_ratios": [round(a / b, 4) for a, b in zip(on, off, strict=True) if b]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.tokens = 1, 64
    if args.one:
        print(json.dumps(measure(args.one == "on", args.tokens, args.seed)))
        return 0
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for index in range(args.rounds):
        for mode in round_order(index):
            try:
                runs[mode].append(common.run_child(
                    [__file__, "--one", mode, "--tokens", str(args.tokens),
                     "--seed", str(args.seed)], timeout=900))
            except common.ChildFailed as error:
                return common.emit_failure("saving_overhead",
                                           f"saving {mode} run failed: {error}")
    summary = summarise(runs)
    print(json.dumps({
        "benchmark": "saving_overhead",
        "tokens": runs["on"][-1]["tokens"],
        **summary,
        "saved_chars": runs["on"][-1]["saved_chars"],
        "target_ratio": 0.98,
        "ratio_ok": summary["ratio"] >= 0.98,
        "target_rules": {"target_ratio": "at_least"},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
