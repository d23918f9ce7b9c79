"""Cove's own generation loop on llama.cpp's C API: prompt, sampling, incremental text."""

from __future__ import annotations

import codecs
import ctypes
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

try:  # one sampling step in C (_sampling.c); built by setup.py where a C compiler is
    from cove.inference import _sampling
except ImportError:  # pragma: no cover - the tests require it (test_decode.py)
    _sampling = None  # type: ignore[assignment]

# How many recent tokens the repeat penalty looks at: llama-cpp-python's own default
# (last_n_tokens_size), so a reply reads the same as before, bar the prompt now counting.
PENALTY_LAST_N = 64
MIN_P = 0.05  # llama-cpp-python's chat completion default; Cove has no setting for it
GREEDY = 0.0  # a temperature of 0 picks the likeliest token every time
# Text is handed on at most this often (the first piece at once); what comes in between
# waits and goes with the next. Each hand-off runs the engine's, the worker's and Qt's code
# with caches that the last token's weights have just flushed (about 0.2 ms a hand-off here)
# while llama.cpp's other thread waits, and wakes the GUI thread, which on a machine whose
# cores all run llama.cpp takes one from it. Every other frame of the chat view
# (ui/chat/controller.py FRAME_MS), 30 times a second, reads as smoothly and cost Gemma 3
# 270M about 0.7% less generation speed than every frame, side by side in the worker.
YIELD_INTERVAL_S = 0.033


# What _sampling.run stopped at (the RUN_ values in _sampling.c)
RUN_INTERVAL, RUN_END, RUN_ROOM, RUN_CANCELLED, RUN_FULL, RUN_DECODE_FAILED, RUN_NO_TOKEN = (
    range(7))
BATCH_FIELDS = ("n_tokens", "token", "embd", "pos", "n_seq_id", "seq_id", "logits")


def compiled_loop_available(lib: Any) -> bool:
    """Whether _sampling.run may be used: it is built, and it lays out llama_batch (which it
    passes to llama_decode by value) as this llama-cpp-python does."""
    if _sampling is None:
        return False
    batch = lib.llama_batch
    fields = tuple(name for name, *_rest in batch._fields_)
    layout = (ctypes.sizeof(batch), tuple(getattr(batch, name).offset for name in fields))
    return fields == BATCH_FIELDS and layout == _sampling.BATCH_LAYOUT


class CancelEvent(threading.Event):
    """The cancel Event of a reply, which the token loop in C also reads without the GIL.

    _sampling.run runs a whole interval's tokens without the GIL, so that Python code on the
    GUI thread (drawing the reply so far) cannot hold up the next token; it checks the
    cancel before every token by reading the word that set() writes. Any other Event works
    as well, its is_set() called with the GIL taken back once a token."""

    def __init__(self) -> None:
        super().__init__()
        self._word = ctypes.c_int(0)
        self.address = ctypes.addressof(self._word)

    def set(self) -> None:
        self._word.value = 1
        super().set()

    def clear(self) -> None:
        self._word.value = 0
        super().clear()


class DecodeError(Exception):
    """llama_decode failed; `full` says the context had no room left."""

    def __init__(self, status: int) -> None:
        super().__init__(f"llama_decode returned {status}")
        self.full = status == 1  # llama.cpp: no KV slot for the batch


@dataclass(frozen=True)
class Sampling:
    """One request's sampler chain settings (llama.cpp's order: penalties first)."""

    temperature: float
    top_k: int
    top_p: float
    repeat_penalty: float
    seed: int


@dataclass
class Generation:
    """What one run of the loop produced; filled in while it runs."""

    tokens: list[int] = field(default_factory=list)  # sampled, end-of-generation excluded
    first_token_at: float | None = None  # perf_counter when the first token was sampled
    last_token_at: float | None = None
    stopped: bool = False  # the cancel Event ended it
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens the KV cache already held


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class StopScanner:
    """Holds back text that may be the start of a stop string; scans only that tail.

    Text is released as soon as it can no longer begin a stop string, so the held text is
    never longer than the longest stop string, and each token costs the same however long
    the reply is.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""
        self.hit = False
        self._starts = frozenset(stop[0] for stop in self.stops)

    def feed(self, text: str) -> str:
        """The text that is safe to show now; sets `hit` when a stop string completed."""
        if not self.held and self._starts.isdisjoint(text):
            return text  # no stop string can begin here (also: no stop strings at all)
        pending = self.held + text
        cut = min((i for i in (pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.hit = True
            self.held = ""
            return pending[:cut]
        keep = 0
        for stop in self.stops:
            for length in range(min(len(stop) - 1, len(pending)), keep, -1):
                if pending.endswith(stop[:length]):
                    keep = length
                    break
        self.held = pending[len(pending) - keep:] if keep else ""
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        held, self.held = self.held, ""
        return "" if self.hit else held


class ReplyText:
    """A reply's tokens, turned into text when it is handed on (Decoder.generate's loops).

    `known` maps each token the reply sampled to its bytes (None for an end of turn),
    looked up once per reply: a reply repeats many tokens, and a call into llama.cpp costs
    more than a dict lookup. Kept for this reply only (a reply's tokens are its text in
    another form).
    """

    def __init__(self, run: Generation, stops: Sequence[str]) -> None:
        self.run = run
        self.tokens = run.tokens
        self.times: list[float] = []  # when each of tokens[shown:] was sampled
        self.shown = 0  # tokens[:shown] have been turned into text
        self.known: dict[int, bytes | None] = {}
        self.pending = ""  # text not yet handed on
        self.scanner = StopScanner(stops)
        self._text = codecs.getincrementaldecoder("utf-8")(errors="ignore")

    def to_text(self, final: bool) -> None:
        """tokens[shown:] into `pending`; a stop string found there drops the tokens after
        the one that completed it. `final` also takes the bytes and text held back."""
        tokens, scanner, decode = self.tokens, self.scanner, self._text.decode
        for index in range(self.shown, len(tokens)):
            self.pending += scanner.feed(decode(self.known[tokens[index]] or b""))
            if scanner.hit:
                self.run.last_token_at = self.times[index - self.shown]
                del tokens[index + 1:]
                break
        self.shown = len(tokens)
        self.times.clear()
        if final and not scanner.hit:
            self.pending += scanner.feed(decode(b"", final=True)) + scanner.flush()

    def take(self) -> str:
        text, self.pending = self.pending, ""
        return text

    def hand_on(self) -> str:
        """The text of the tokens since the last call that can be shown now ("" if none)."""
        self.to_text(final=False)
        return self.take()


class Decoder:
    """Drives one llama.cpp context (sequence 0) for a Llama that llama-cpp-python loaded.

    Keeps which tokens the KV cache holds, so a prompt that starts like the last one is
    evaluated from where they differ. Not thread-safe: the worker thread alone calls it.
    """

    def __init__(self, llm: Any) -> None:
        import llama_cpp.llama_cpp as lib

        self._lib = lib
        self._llm = llm  # kept referenced: it owns the context and model below
        self.ctx = llm.ctx
        self.vocab = lib.llama_model_get_vocab(llm.model)
        self.memory = lib.llama_get_memory(self.ctx)
        self.n_ctx = int(lib.llama_n_ctx(self.ctx))
        self.n_batch = int(lib.llama_n_batch(self.ctx))
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_swa = max(0, int(lib.llama_model_n_swa(llm.model)))  # 0: no sliding window
        self.tokens: list[int] = []  # what sequence 0 of the KV cache holds, in order
        self._one = (lib.llama_token * 1)()
        self._one_batch = lib.llama_batch_get_one(self._one, 1)  # it points at _one
        self._piece = ctypes.create_string_buffer(64)
        self._sample_buffer: ctypes.Array[Any] | None = None
        self._sample_window: ctypes.Array[ctypes.c_int32] | None = None
        # llama.cpp functions that the C sampling step calls, by address
        get_logits, apply, accept = (
            ctypes.cast(function, ctypes.c_void_p).value
            for function in (lib._lib.llama_get_logits_ith, lib._lib.llama_sampler_apply,
                             lib._lib.llama_sampler_accept))
        self._sample_functions = (get_logits, apply, accept)
        sample_whole, decode, is_eog = (
            ctypes.cast(function, ctypes.c_void_p).value
            for function in (lib._lib.llama_sampler_sample, lib._lib.llama_decode,
                             lib._lib.llama_vocab_is_eog))
        self._run_functions = (self._sample_functions, sample_whole, decode, is_eog)
        self._vocab_address = ctypes.cast(self.vocab, ctypes.c_void_p).value
        self.compiled_loop = compiled_loop_available(lib)

    # The KV cache ---------------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the KV cache, overwriting its buffers (they held the conversation)."""
        self._lib.llama_memory_clear(self.memory, True)
        self.tokens = []

    def snapshot(self) -> ctypes.Array[ctypes.c_uint8] | None:
        """A copy of sequence 0's state (its KV cells) in a fresh buffer; None on failure."""
        lib = self._lib
        size = int(lib.llama_state_seq_get_size(self.ctx, 0))
        if size <= 0:
            return None
        data = (ctypes.c_uint8 * size)()
        if int(lib.llama_state_seq_get_data(self.ctx, data, size, 0)) != size:
            ctypes.memset(data, 0, size)
            return None
        return data

    def restore(self, tokens: Sequence[int], data: ctypes.Array[ctypes.c_uint8]) -> bool:
        """Put a snapshot back as sequence 0, holding `tokens`; False (and an empty cache)
        if llama.cpp refused it."""
        lib = self._lib
        lib.llama_memory_seq_rm(self.memory, 0, -1, -1)
        self.tokens = []
        if int(lib.llama_state_seq_set_data(self.ctx, data, len(data), 0)) == 0:
            self.clear()
            return False
        self.tokens = list(tokens)
        return True

    def evaluate(self, prompt: Sequence[int], cancel: threading.Event) -> int:
        """Bring the KV cache to `prompt`, reusing the longest shared prefix; returns how many
        tokens were reused. The last prompt token is always evaluated, for its logits."""
        shared = min(common_prefix(self.tokens, prompt), len(prompt) - 1)
        if shared < len(self.tokens):
            if (shared <= 0 or not self._lib.llama_memory_seq_rm(self.memory, 0, shared, -1)
                    or not self.window_kept(shared)):
                self.clear()  # a cache that cannot drop a tail (recurrent, SWA) starts over
                shared = 0
            self.tokens = self.tokens[:shared]
        for start in range(shared, len(prompt), self.n_batch):
            if cancel.is_set():
                break
            self._decode(prompt[start:start + self.n_batch])
        return shared

    def window_kept(self, shared: int) -> bool:
        """Whether the cache, cut back to its first `shared` tokens, still holds what the next
        token's sliding-window layers attend to. A window-sized cache (llama_params) drops
        the oldest positions as a conversation grows, so going back far (an edited early
        message) leaves the window before the cut partly gone: the prompt is read again.
        The test is llama.cpp's server's."""
        if self.n_swa <= 0:
            return True
        oldest = int(self._lib.llama_memory_seq_pos_min(self.memory, 0))
        return oldest == 0 or 0 <= oldest < shared - self.n_swa

    def _decode(self, tokens: Sequence[int]) -> None:
        lib = self._lib
        if len(tokens) == 1:
            self._one[0] = tokens[0]
            batch = self._one_batch
        else:
            array = (lib.llama_token * len(tokens))(*tokens)  # alive until the call returns
            batch = lib.llama_batch_get_one(array, len(tokens))
        status = lib.llama_decode(self.ctx, batch)
        if status != 0:
            # A failed batch may have left part of itself in the cache: trust none of it.
            self.clear()
            raise DecodeError(status)
        self.tokens.extend(tokens)

    # Sampling and text ----------------------------------------------------------------------

    @staticmethod
    def first_cut(sampling: Sampling) -> int:
        """How many tokens the chain that `sampler` builds keeps in its first step, the top-k
        cut; 0 when its first step looks at the whole vocabulary."""
        greedy = sampling.temperature <= GREEDY
        wanted = 1 if greedy else sampling.top_k
        if sampling.repeat_penalty != 1.0:
            return wanted + PENALTY_LAST_N if wanted > 0 else 0
        return wanted if wanted > 0 else 0

    def sampler(self, sampling: Sampling, history: Sequence[int]) -> Any:
        """A C sampler chain for one request, fed the prompt's last tokens so the repeat
        penalty sees what the model read, not only what it wrote. `first_cut` says what its
        first step keeps."""
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lib.llama_sampler_chain_add
        greedy = sampling.temperature <= GREEDY
        if sampling.repeat_penalty != 1.0:
            # The penalty only lowers the logits of at most PENALTY_LAST_N tokens, so the best
            # k tokens after it are among the best k + PENALTY_LAST_N before it. Cutting to
            # those first gives the same choice, and the penalty scans a hundred candidates
            # instead of the whole vocabulary (262,144 for Gemma: milliseconds a token).
            cut = self.first_cut(sampling)
            if cut > 0:
                add(chain, lib.llama_sampler_init_top_k(cut))
            add(chain, lib.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N,
                                                        sampling.repeat_penalty, 0.0, 0.0))
        if greedy:
            add(chain, lib.llama_sampler_init_greedy())
        else:
            add(chain, lib.llama_sampler_init_top_k(sampling.top_k))
            add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
            add(chain, lib.llama_sampler_init_min_p(MIN_P, 1))
            add(chain, lib.llama_sampler_init_temp(sampling.temperature))
            add(chain, lib.llama_sampler_init_dist(sampling.seed & 0xFFFFFFFF))
        for token in history[-PENALTY_LAST_N:]:
            lib.llama_sampler_accept(chain, token)
        return chain

    def step_cut(self, sampling: Sampling, history: Sequence[int]
                 ) -> tuple[int, ctypes.Array[ctypes.c_int32] | None]:
        """How many tokens the C step hands a chain that `sampler` built from `history`,
        and the repeat penalty's window the step keeps for that (None: no penalty).

        With a penalty the step lowers the window's logits before it cuts, so it cuts to
        the chain's top-k rather than first_cut's top-k + window (_sampling.c, penalize):
        the window starts as the history's last PENALTY_LAST_N tokens, as the chain's own
        penalty step does, and the step adds each token it samples. 0: no cut (the whole
        vocabulary goes to the chain)."""
        cut = self.first_cut(sampling)
        if sampling.repeat_penalty == 1.0 or cut <= 0:
            return cut, None
        last = list(history[-PENALTY_LAST_N:])
        window = (ctypes.c_int32 * (3 + PENALTY_LAST_N))(
            PENALTY_LAST_N, len(last), len(last) % PENALTY_LAST_N, *last)
        return cut - PENALTY_LAST_N, window

    def sample_step(self, chain: Any, sampling: Sampling,
                    history: Sequence[int]) -> Callable[[], int]:
        """A call that samples the next token from the last logits with `chain` (built from
        `history`) and tells the chain which token it was.

        With the C step (_sampling.c) the chain's first top-k cut is done over the raw
        logits and the chain gets only those tokens, sorted; llama_sampler_sample instead
        copies and sorts the whole vocabulary each token (262,144 entries for Gemma 3: a
        few percent of a token's time). Both give the same token.
        """
        cut, window = self.step_cut(sampling, history)
        if _sampling is None or cut <= 0:
            return functools.partial(self._lib.llama_sampler_sample, chain, self.ctx, -1)
        # The step writes the cut tokens here; kept until the next request's step replaces it
        self._sample_buffer = buffer = (self._lib.llama_token_data * cut)()
        self._sample_window = window
        step = functools.partial(_sampling.sample, self._sample_functions, self.ctx,
                                 ctypes.cast(chain, ctypes.c_void_p).value, self.n_vocab, cut,
                                 ctypes.addressof(buffer), *self.window_arguments(window,
                                                                                sampling))

        def sample() -> int:
            token = step()
            if token < 0:  # llama_sampler_sample would abort the process here
                raise RuntimeError(f"the sampler chain chose no token ({token})")
            return token

        return sample

    @staticmethod
    def window_arguments(window: ctypes.Array[ctypes.c_int32] | None,
                         sampling: Sampling) -> tuple[int, float] | tuple[()]:
        """The C step's last two arguments for `window` (step_cut): its address and the
        penalty; none without a window."""
        if window is None:
            return ()
        return ctypes.addressof(window), sampling.repeat_penalty

    def ends_turn(self, token: int) -> bool:
        """Whether `token` ends the model's turn (end of generation: EOS, EOT, ...)."""
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        """The bytes of one token (possibly part of a UTF-8 character); special tokens, such
        as an end-of-turn marker, have none."""
        lib = self._lib
        size = lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0,
                                        False)
        if size < 0:
            self._piece = ctypes.create_string_buffer(-size)
            size = lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0,
                                            False)
        return self._piece.raw[:size]

    def generate(self, prompt: Sequence[int], sampling: Sampling, max_tokens: int,
                 stops: Sequence[str], cancel: threading.Event,
                 stop_tokens: frozenset[int] = frozenset(),
                 run: Generation | None = None,
                 interval: float = YIELD_INTERVAL_S) -> Iterator[str]:
        """Evaluate `prompt`, then yield the reply's text as it comes.

        The cancel Event is checked before every token; a stop string ends the reply and is
        not shown (nor are the tokens after it); bytes of a character split across tokens wait
        for the rest of it. Text is yielded at most every `interval` seconds (0: every
        token's), the first piece at once; text held back is yielded when the reply ends, also
        when it was cancelled.

        Between two llama_decode calls llama.cpp's other thread waits, and the caches hold
        the weights just read, not this code: that stretch does only what each token needs
        (sample, record, check, decode), in C where _sampling.run is available. Text is made
        from the tokens when it is handed on, so a stop string may be found a few tokens
        late; those tokens are dropped from the reply (the KV cache keeps them, and the next
        prompt's shared prefix ends before them).
        """
        lib = self._lib
        run = run if run is not None else Generation()
        run.prompt_tokens = len(prompt)
        run.reused_tokens = self.evaluate(prompt, cancel)
        if cancel.is_set():
            run.stopped = True
            return
        chain = self.sampler(sampling, prompt)
        reply = ReplyText(run, stops)
        loop = self._compiled_loop if self.compiled_loop else self._python_loop
        try:
            yield from loop(chain, sampling, prompt, reply, max_tokens, stop_tokens, cancel,
                            interval)
            if not reply.scanner.hit:
                reply.to_text(final=not run.stopped)
            if reply.pending:
                yield reply.take()
        finally:
            lib.llama_sampler_free(chain)

    def _python_loop(self, chain: Any, sampling: Sampling, prompt: Sequence[int],
                     reply: ReplyText, max_tokens: int, stop_tokens: frozenset[int],
                     cancel: threading.Event, interval: float) -> Iterator[str]:
        """The token loop in Python, where the C one is not built."""
        sample = self.sample_step(chain, sampling, prompt)
        run, tokens, times, known = reply.run, reply.tokens, reply.times, reply.known
        clock, is_set = time.perf_counter, cancel.is_set
        yielded_at = -interval
        while len(tokens) < max_tokens:
            token = sample()
            if token not in known:
                known[token] = None if self.ends_turn(token) else self.piece(token)
            if known[token] is None or token in stop_tokens:
                break
            now = run.last_token_at = clock()
            if run.first_token_at is None:
                run.first_token_at = now
            tokens.append(token)
            times.append(now)
            if now - yielded_at >= interval:
                text = reply.hand_on()
                if text:
                    yielded_at = now
                    yield text
                if reply.scanner.hit:
                    break
            if len(tokens) >= max_tokens:
                break
            if is_set():  # checked after the yield, before the next token's work
                run.stopped = True
                break
            if len(self.tokens) >= self.n_ctx:
                break  # the context is full: the reply ends here, as at max_tokens
            self._decode((token,))

    def _compiled_loop(self, chain: Any, sampling: Sampling, prompt: Sequence[int],
                       reply: ReplyText, max_tokens: int, stop_tokens: frozenset[int],
                       cancel: threading.Event, interval: float) -> Iterator[str]:
        """The token loop in C (_sampling.run), an interval's worth of tokens a call."""
        assert _sampling is not None
        cut, window = self.step_cut(sampling, prompt)  # the calls share the window
        extra = self.window_arguments(window, sampling)
        buffer = (self._lib.llama_token_data * max(cut, 1))()  # the C step's candidates
        run, tokens = reply.run, reply.tokens
        address = ctypes.cast(chain, ctypes.c_void_p).value
        clock, is_set = time.perf_counter, cancel.is_set
        check = cancel.address if isinstance(cancel, CancelEvent) else is_set
        pending = -1  # the last call's token, sampled but not decoded yet
        wait = 0.0  # a token a call until the first text is out, as in the Python loop
        while len(tokens) < max_tokens:
            try:
                status, new, times, detail = _sampling.run(
                    self._run_functions, self.ctx, address, self.n_vocab, cut,
                    ctypes.addressof(buffer), self._vocab_address, stop_tokens, pending,
                    max_tokens - len(tokens), len(self.tokens), self.n_ctx,
                    wait, clock, check, *extra)
            except BaseException:
                self.clear()  # it may have decoded tokens that self.tokens does not list
                raise
            if status == RUN_DECODE_FAILED:
                self.clear()  # a failed batch may have left part of itself in the cache
                raise DecodeError(detail)
            if status == RUN_NO_TOKEN:
                raise RuntimeError(f"the sampler chain chose no token ({detail})")
            if pending >= 0:
                self.tokens.append(pending)
            self.tokens.extend(new[:detail])
            if new:
                if run.first_token_at is None:
                    run.first_token_at = times[0]
                run.last_token_at = times[-1]
                for token in new:
                    if token not in reply.known:
                        reply.known[token] = self.piece(token)
                tokens.extend(new)
                reply.times.extend(times)
                text = reply.hand_on()
                if text:
                    wait = interval
                    yield text
                if reply.scanner.hit:
                    return
            if status == RUN_CANCELLED or (status == RUN_INTERVAL and is_set()):
                run.stopped = True  # checked again after the yield, as the C loop does
                return
            if status != RUN_INTERVAL:
                return  # an end of turn, max_tokens or a full context
            pending = new[-1]
