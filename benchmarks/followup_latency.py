"""Time to first token of a follow-up message as a conversation grows, through Cove's worker.

A chat with the starter model is played turn by turn through WorkerHost, as a user would:
each message is sent with the whole history before it, and the reply joins the history.
llama-cpp-python keeps the KV cache of the previous prompt and reply and evaluates only the
tokens that differ, so a follow-up should cost about as much as its own new text, not the
whole conversation. Recorded: TTFT after 1, 4, 8 and 16 prior turns ("warm", the real case),
and, for contrast, the same histories sent with their first message changed so nothing past
the system prompt can be reused ("cold", what every follow-up would cost without the cache).
Target: TTFT at the longest conversation under 3x TTFT at the shortest (warm).

Switching back: the same chat (A) grown to 20 turns, then a follow-up in A (no switch), a
turn in another conversation (B), and a follow-up in A again, twice over. Cove's worker keeps
A's model state in RAM while B runs (inference/state_cache.py), so coming back reads only the
new message. Target: TTFT after A->B->A at most 1.5x the follow-up without switching (the
median of the pairs' ratios); for contrast, the same with the state cache's budget at 0
("cold", a full re-read). The cache's memory after the switches is reported with its budget
(target: within it). As in the app, the requests name no conversation: the worker tells them
apart by the tokens they share.

Each round is a fresh child process (up to three, fewer once --max-seconds is spent); each
time is the best of the rounds, since other work on a shared machine only ever slows a run
down, and each ratio is the median of the rounds' own ratios.
"""

from __future__ import annotations

import argparse
from typing import Any

import common

TARGET_RATIO = 3.0
TARGET_SWITCH_BACK_RATIO = 1.5
TARGET_STATE_CACHE_SHARE = 1.0  # of its budget
SWITCH_TURNS = 20  # A's length before the switches
SWITCH_PAIRS = 4  # follow-up / switch-back pairs a round (the ratio is their median)
OTHER = [{"role": "user", "content": "Something else: how do bees make honey? Answer in detail, "
                                     "with the steps a hive goes through over a summer."}]
LENGTHS = (1, 4, 8, 16)
QUICK_LENGTHS = (1, 4)
QUESTIONS = [
    "What is a lighthouse?", "Why are lighthouses tall?", "Who keeps a lighthouse?",
    "How did keepers light the lamp?", "What is a Fresnel lens?", "Name a famous lighthouse.",
    "Why do lighthouses flash?", "What do sailors see at night?", "Are lighthouses automated?",
    "What is fog signal?", "How far can the light be seen?", "What colour are lighthouses?",
    "Where is the oldest lighthouse?", "What replaced many lighthouses?",
    "Can people visit lighthouses?", "What is a lightship?", "Write one line about the sea.",
]
WARMUP = [{"role": "system", "content": "Warm up."}, {"role": "user", "content": "Hi"}]


def play(lengths: tuple[int, ...], reply_tokens: int, threads: int, seed: int) -> dict[str, Any]:
    """One chat through a fresh worker: warm TTFT per turn, then cold TTFT per length."""
    starter = common.starter_model()
    if starter.path is None:
        raise SystemExit(starter.missing)
    session = common.WorkerSession(str(starter.path), threads, 4096, seed)
    try:
        session.ask(WARMUP, max_tokens=4, seed=seed)
        history: list[dict[str, str]] = []
        warm: list[float] = []
        prompt_tokens: list[int] = []
        for turn in range(max(lengths) + 1):
            question = {"role": "user", "content": QUESTIONS[turn % len(QUESTIONS)]}
            reply = session.ask([*history, question], max_tokens=reply_tokens, seed=seed)
            warm.append(reply.ttft)
            prompt_tokens.append(reply.prompt_tokens)
            history += [question, {"role": "assistant", "content": reply.text}]
        cold: list[float] = []
        for length in lengths:
            prior = history[: 2 * length]
            changed = {"role": "user", "content": f"(Conversation {length}.) {prior[0]['content']}"}
            question = history[2 * length]
            reply = session.ask([changed, *prior[1:], question], max_tokens=1, seed=seed)
            cold.append(reply.ttft)
        switches = switch_back(session, history, reply_tokens, seed)
    finally:
        session.close()
    return {"warm_by_turn": warm, "prompt_tokens_by_turn": prompt_tokens, "cold": cold,
            **switches}


def switch_back(session: common.WorkerSession, history: list[dict[str, str]],
                reply_tokens: int, seed: int) -> dict[str, Any]:
    """Follow-up TTFTs in A without and after a switch to B, then after one with the state
    cache off; the cache's memory after the switches."""
    a = list(history)
    turn = len(a) // 2
    prompt_tokens = 0

    def in_a() -> float:
        nonlocal turn, prompt_tokens
        question = {"role": "user", "content": QUESTIONS[turn % len(QUESTIONS)]}
        reply = session.ask([*a, question], max_tokens=reply_tokens, seed=seed)
        a.extend([question, {"role": "assistant", "content": reply.text}])
        turn += 1
        prompt_tokens = reply.prompt_tokens
        return reply.ttft

    while turn < SWITCH_TURNS:
        in_a()
    follow: list[float] = []
    back: list[float] = []
    for _pair in range(SWITCH_PAIRS):
        follow.append(in_a())
        session.ask(OTHER, max_tokens=reply_tokens, seed=seed)
        back.append(in_a())
    used, budget = session.state_cache_bytes()
    session.set_state_cache_budget_mb(0)
    session.ask(OTHER, max_tokens=reply_tokens, seed=seed)
    cold_back = in_a()
    return {"follow_ttft": follow, "switch_back_ttft": back, "cold_switch_back_ttft": cold_back,
            "switch_turns": SWITCH_TURNS, "a_prompt_tokens": prompt_tokens,
            "state_cache_bytes": used, "state_cache_budget_bytes": budget}


def per_round_ratio(series: list[list[float]], longest: int, shortest: int) -> float | None:
    """Median over rounds of longest/shortest within each round (a round's own turns ran
    seconds apart, so machine noise cancels better than across rounds)."""
    ratios = [s[longest] / s[shortest] for s in series if s[shortest]]
    return round(common.median(ratios), 3) if ratios else None


def summarise(lengths: tuple[int, ...], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    turns = len(rounds[0]["warm_by_turn"])
    by_turn = [common.best([r["warm_by_turn"][t] for r in rounds], larger=False)
               for t in range(turns)]
    warm = [by_turn[length] for length in lengths]
    cold = [common.best([r["cold"][i] for r in rounds], larger=False)
            for i in range(len(lengths))]
    return {
        "turns": list(lengths),
        "ttft_seconds": [round(v, 4) for v in warm],
        "cold_ttft_seconds": [round(v, 4) for v in cold],
        "prompt_tokens": [rounds[0]["prompt_tokens_by_turn"][length] for length in lengths],
        "ttft_by_turn_seconds": [round(v, 4) for v in by_turn],
        "ttft_ratio": per_round_ratio([r["warm_by_turn"] for r in rounds], lengths[-1],
                                      lengths[0]),
        "cold_ttft_ratio": per_round_ratio([r["cold"] for r in rounds], -1, 0),
        "cache_speedup_at_longest": round(cold[-1] / warm[-1], 2) if warm[-1] else None,
        **summarise_switches(rounds),
    }


def summarise_switches(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Switch-back TTFT over the follow-up TTFT just before it, pair by pair; the cache's
    memory against its budget."""
    rounds = [r for r in rounds if r.get("follow_ttft")]
    if not rounds:
        return {}
    ratios = [b / f for r in rounds
              for f, b in zip(r["follow_ttft"], r["switch_back_ttft"], strict=True) if f]
    cold = [r["cold_switch_back_ttft"] / common.median(r["follow_ttft"]) for r in rounds]
    used = max(r["state_cache_bytes"] for r in rounds)
    budget = min(r["state_cache_budget_bytes"] for r in rounds)
    return {
        "switch_turns": rounds[0]["switch_turns"],
        "switch_a_prompt_tokens": rounds[0]["a_prompt_tokens"],
        "follow_ttft_samples": [round(v, 4) for r in rounds for v in r["follow_ttft"]],
        "switch_back_ttft_samples": [round(v, 4) for r in rounds for v in r["switch_back_ttft"]],
        "cold_switch_back_ttft_samples": [round(r["cold_switch_back_ttft"], 4) for r in rounds],
        "switch_back_ratio": round(common.median(ratios), 3) if ratios else None,
        "cold_switch_back_ratio": round(common.median(cold), 3),
        "state_cache_mb": round(used / common.MIB, 1),
        "state_cache_budget_mb": round(budget / common.MIB, 1),
        "state_cache_share": round(used / budget, 3) if budget else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 and 4 prior turns, one round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--reply-tokens", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=90,
                        help="no further rounds once this much time is spent")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    reply_tokens = args.reply_tokens or (12 if args.quick else 32)
    threads = args.threads or common.physical_cores()
    if args.one:
        common.emit(play(lengths, reply_tokens, threads, args.seed))
        return 0
    starter = common.starter_model()
    if starter.path is None:
        common.emit({"benchmark": "followup_latency", "skipped": starter.missing})
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    child_args = [__file__, "--one", "--reply-tokens", str(reply_tokens),
                  "--threads", str(threads), "--seed", str(args.seed)]
    if args.quick:
        child_args.append("--quick")
    results = []
    budget = common.Budget(args.max_seconds)
    common.stop_on_sigterm()
    try:
        for index in range(rounds):
            if index and not budget.allows():
                common.progress(f"followup_latency: time budget spent after {index} rounds")
                break
            common.progress(f"followup_latency: round {index + 1}/{rounds}")
            results.append(common.run_child(child_args, timeout=300))
    except common.Interrupted:
        if not results:
            common.emit({"benchmark": "followup_latency",
                         "skipped": "the run's time budget ran out before a round finished"})
            return 0
    except common.ChildFailed as error:
        return common.emit_failure("followup_latency", f"round {len(results) + 1} failed: {error}")
    common.emit({
        "benchmark": "followup_latency",
        "model": starter.path.name,
        "rounds": len(results),
        "reply_tokens": reply_tokens,
        **summarise(lengths, results),
        "target_ttft_ratio": TARGET_RATIO,
        "target_switch_back_ratio": TARGET_SWITCH_BACK_RATIO,
        "target_state_cache_share": TARGET_STATE_CACHE_SHARE,
        "target_rules": {"target_ttft_ratio": "at_most", "target_switch_back_ratio": "at_most",
                         "target_state_cache_share": "at_most"},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
