"""ChatController: the GUI-thread go-between for the composer, the message model and the worker."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from cove.core.budget import PromptTooLong, rough_tokens
from cove.core.conversation import Conversation, Message, MessageState, ReplyStats, Role
from cove.core.presets import BUILT_IN, ConversationSettings, Preset
from cove.core.titles import MAX_TOKENS as TITLE_TOKENS
from cove.core.titles import clean_title, title_prompt
from cove.inference.engine import GenerationParams, LoadOptions
from cove.inference.worker import EngineFactory, WorkerHost
from cove.ui.chat.message_model import MessageListModel, Roles

log = logging.getLogger(__name__)

FRAME_MS = 16  # streamed text reaches the view at most once per frame
# While a reply streams, each flush lays its text out again whole (Markdown has no cheap
# append) and repaints it, which takes longer as it grows. Flushes then come at least this
# many times the GUI thread's time per flush apart, so drawing a reply takes at most about
# a tenth of that thread: on a machine whose cores all generate, it comes out of the
# model's speed (benchmarks/ui_latency.py's window_vs_worker_tg).
FLUSH_COST_FACTOR = 10
# A flush waits at least this long after the text came. The worker hands text on by
# emitting a Qt signal, and PySide lets go of the GIL while it does; a flush starting right
# then took the GIL for its whole layout and repaint (1 to 3 ms, mostly in Qt's C++, where
# Python cannot hand the GIL back), and the worker, and with it llama.cpp, waited for it:
# 2.5% of some replies' time in the window. A few milliseconds later the worker is back in
# its C loop, which runs without the GIL.
FLUSH_DELAY_MS = 3
FRAME_AVERAGING = 0.25  # each flush's weight in that time (an exponential moving average)
SAVE_MS = 1000  # a streaming reply is saved at least this often, so a crash loses at most this


class ChatController(QObject):
    sig_model_loading = Signal(str)
    """A model started loading; the argument is its name."""
    sig_load_progress = Signal(float)
    """Load progress of that model, 0.0 to 1.0."""
    sig_model_ready = Signal(str, int)
    """The model is ready: name and context length."""
    sig_model_failed = Signal(str)
    """The model could not be loaded; a message a person can act on."""
    sig_busy_changed = Signal(bool)
    """A reply started (True) or ended (False)."""
    sig_reply_finished = Signal(object, bool)
    """A reply ended: its ReplyStats, and whether the user stopped it."""
    sig_reply_failed = Signal(str)
    """A reply failed; a message a person can act on."""
    sig_message_added = Signal(object, object)
    """A message (user's, or a reply just started) joined the Conversation: save it."""
    sig_message_changed = Signal(object, object)
    """A reply grew or ended: save its current state."""
    sig_conversation_changed = Signal(object)
    """Another Conversation is shown (new, or opened from history)."""
    sig_messages_withdrawn = Signal(object, list)
    """The model never read these newest messages (list of Message) of the Conversation: the
    history forgets them."""
    sig_settings_changed = Signal(object)
    """The Conversation's own settings changed: keep them."""
    sig_title = Signal(object, str)
    """The model wrote this title for the Conversation (after its first exchange)."""
    sig_branch_changed = Signal(object)
    """The Conversation shows another branch (a version chosen, regenerated or edited)."""
    sig_writing = Signal(str)
    """A reply is being written into the conversation with this id ("": none is)."""
    sig_prompt_returned = Signal(str, str)
    """A message the model cannot read (text) went back to the composer, and why (message)."""

    def __init__(self, engine_factory: EngineFactory | None = None,
                 params: GenerationParams | None = None,
                 load_options: LoadOptions | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._params = params or GenerationParams()
        self.load_options = load_options or LoadOptions()
        self._system_prompt = ""
        self.model = MessageListModel(Conversation(), self)
        self.host = WorkerHost(engine_factory, self)
        self.model_name = ""
        self.model_path: Path | None = None
        self.chat_format_label = ""
        # How llama.cpp runs the model, in words: its CPU kernels, where the weights live
        # (the model's tooltip, the About box, the privacy panel).
        self.kernels_summary = ""
        self.ready = False
        self.context_tokens = 0  # the loaded model's context length
        self._request = 0
        # The reply being written and the conversation it belongs to; that conversation may
        # no longer be the one on screen (the person opened another: the reply goes on).
        self._reply: Message | None = None
        self._reply_conversation: Conversation | None = None
        self._reply_loaded_from = 0
        self._pending = ""
        # The model names new conversations after their first reply (Settings > Chat).
        self.auto_titles = False
        self.presets: list[Preset] = list(BUILT_IN)  # and the person's own, once unlocked
        self.project_prompts: dict[str, str] = {}  # project id -> its system prompt, unlocked
        self._title_request = 0
        self._title_for: Conversation | None = None
        self._title_text = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._last_flush_at = 0.0  # perf_counter of the last flush
        self._last_flush_cpu: float | None = None  # the GUI thread's time then (None: new)
        self._frame_cpu = 0.0  # the GUI thread's time from one flush to the next
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(SAVE_MS)
        self._save_timer.timeout.connect(self._save_progress)
        self._saved_length = 0
        self.loaded_from = 0  # the stored position of the first message on screen

        host = self.host  # its signals arrive on the GUI thread
        host.sig_load_progress.connect(self.sig_load_progress)
        host.sig_loaded.connect(self._on_loaded)
        host.sig_load_failed.connect(self._on_load_failed)
        host.sig_chunk.connect(self._on_chunk)
        host.sig_finished.connect(self._on_finished)
        host.sig_failed.connect(self._on_failed)

    @property
    def params(self) -> GenerationParams:
        """How replies are sampled (the model's settings; see configure)."""
        return self._params

    @property
    def system_prompt(self) -> str:
        """What the model is told before every conversation ("" for nothing)."""
        return self._system_prompt

    def configure(self, *, params: GenerationParams | None = None,
                  system_prompt: str | None = None) -> None:
        """The one way in for how replies are made; a reply already running keeps what it
        started with. None leaves that part as it is."""
        if params is not None:
            self._params = params
        if system_prompt is not None:
            self._system_prompt = system_prompt

    @property
    def busy(self) -> bool:
        return self._reply is not None

    @property
    def writing_elsewhere(self) -> Conversation | None:
        """The conversation a reply is being written into, when it is not the one shown."""
        if self._reply_conversation is not None and not self._attached():
            return self._reply_conversation
        return None

    def _attached(self) -> bool:
        """Whether the reply being written is in the conversation on screen."""
        return (self._reply_conversation is not None
                and self.model.conversation is self._reply_conversation)

    def _reply_row(self) -> int:
        if self._reply is None or not self._attached():
            return -1
        return self.model.row_of(self._reply.id)

    def load_model(self, path: str | Path, chat_format: str | None = None,
                   options: LoadOptions | None = None) -> None:
        """Load a model in the background (the old one is unloaded first), stopping any
        reply first. chat_format None: the file's own template, or a built-in by its kind;
        options None: `load_options`."""
        self.stop()
        self.ready = False
        self.model_path = Path(path)
        self.model_name = Path(path).stem
        self.sig_model_loading.emit(self.model_name)
        self.host.load(path, replace(options or self.load_options, chat_format=chat_format))

    def fail_load(self, model_name: str, message: str) -> None:
        """A model could not be loaded before the worker saw it (refused by its trial load):
        said the same way as a load that failed."""
        self.stop()
        self.ready = False
        self.model_name = model_name
        self.sig_model_failed.emit(message)

    def send(self, text: str) -> bool:
        """Add the user's message and start the reply. False if a reply is already running."""
        if self.busy or not self.ready or not text.strip():
            return False
        if self.context_tokens and rough_tokens(text) > self.context_tokens:
            # Plainly longer than anything the model reads: refused before it is saved.
            self.sig_prompt_returned.emit(
                text, str(PromptTooLong(rough_tokens(text), self.context_tokens)))
            return True
        conversation = self.model.conversation
        question = Message(Role.USER, text)
        self.model.append(question)
        self.sig_message_added.emit(conversation, question)
        self._start_reply(conversation)
        return True

    def settings_for(self, conversation: Conversation) -> tuple[str, GenerationParams]:
        """The system prompt and sampling a reply in `conversation` gets: its own settings
        over its project's prompt, over the model's."""
        own = conversation.settings
        default = self.project_prompts.get(own.project) or self.system_prompt
        system = own.system_prompt_for(self.presets, default)
        return system, replace(self.params, **own.overrides())

    def set_conversation_settings(self, settings: ConversationSettings) -> None:
        """Settings for the conversation on screen (its preset, prompt, sampling)."""
        conversation = self.model.conversation
        conversation.settings = settings
        self.sig_settings_changed.emit(conversation)

    def _start_reply(self, conversation: Conversation,
                     params: GenerationParams | None = None) -> None:
        """Ask the model for the next message of the shown branch."""
        system, own_params = self.settings_for(conversation)
        params = params or own_params
        self.model.length_limit = params.max_tokens
        history = conversation.history_for_reply(system)
        reply = Message(Role.ASSISTANT, "", model=self.model_name, state=MessageState.STREAMING)
        self.model.append(reply)
        self._reply, self._reply_conversation = reply, conversation
        self._reply_loaded_from = self.loaded_from
        self.sig_message_added.emit(conversation, reply)
        self.sig_writing.emit(conversation.id)
        self._saved_length = 0
        self._save_timer.start()
        # The conversation's id keeps its model state apart in the worker's state cache.
        self._request = self.host.generate(history, params, conversation.id)
        self.sig_busy_changed.emit(True)

    def can_regenerate(self, message: Message) -> bool:
        messages = self.model.conversation.messages
        return (not self.busy and self.ready and message.role is Role.ASSISTANT
                and bool(messages) and messages[-1] is message)

    def regenerate(self, message: Message) -> bool:
        """Write another version of the last reply; the old one is kept beside it."""
        if not self.can_regenerate(message):
            return False
        conversation = self.model.conversation
        versions = len(conversation.alternatives(message))
        conversation.branch_before(message)
        self.model.show_path()
        params = self.settings_for(conversation)[1]
        if params.seed is not None:  # a fixed seed would write the same reply again
            params = replace(params, seed=params.seed + versions)
        self._start_reply(conversation, params)
        self.sig_branch_changed.emit(conversation)
        return True

    def edit(self, message: Message, text: str) -> bool:
        """Send `text` as a new version of the person's `message`: a branch starts there;
        the old branch is kept and reachable from the message's < 1/2 > control."""
        conversation = self.model.conversation
        if (self.busy or not self.ready or message.role is not Role.USER
                or message not in conversation.messages or not text.strip()):
            return False
        if self.context_tokens and rough_tokens(text) > self.context_tokens:
            return self.send(text)  # refused the same way, before anything changes
        conversation.branch_before(message)
        self.model.show_path()
        sent = self.send(text)
        self.sig_branch_changed.emit(conversation)
        return sent

    def delete(self, message: Message) -> bool:
        """Delete a message, or the person's message with its reply; what followed stays."""
        conversation = self.model.conversation
        if self.busy or message not in conversation.messages:
            return False
        gone = conversation.delete(message)
        self.model.show_path()
        for item in gone:
            self.sig_message_changed.emit(conversation, item)  # saved without its text
        self.sig_branch_changed.emit(conversation)
        self.sig_conversation_changed.emit(conversation)
        return True

    def continue_reply(self, message: Message) -> bool:
        """Go on with the last reply where it stopped (at the length limit, or stopped by
        the person): the model reads it so far and writes on, into the same message."""
        conversation = self.model.conversation
        row = self.model.rowCount() - 1
        if (self.busy or not self.ready or row < 0 or self.model.message(row) is not message
                or not self.model.index(row, 0).data(Roles.CONTINUABLE)):
            return False
        system, params = self.settings_for(conversation)
        history = conversation.history_for_reply(system)  # ends with the reply so far
        message.state = MessageState.STREAMING
        self.model.finish(row, MessageState.STREAMING)
        self._reply, self._reply_conversation = message, conversation
        self._reply_loaded_from = self.loaded_from
        self.sig_writing.emit(conversation.id)
        self._saved_length = len(message.text)
        self._save_timer.start()
        self._request = self.host.generate(history, params, conversation.id)
        self.sig_busy_changed.emit(True)
        return True

    def show_alternative(self, message: Message, step: int) -> bool:
        """Show the previous (-1) or next (+1) version of a message, and what follows it."""
        conversation = self.model.conversation
        versions = conversation.alternatives(message)
        if self.busy or len(versions) < 2 or message not in versions:
            return False
        target = versions[(versions.index(message) + step) % len(versions)]
        conversation.choose(target)
        self.model.show_path()
        self.sig_branch_changed.emit(conversation)
        self.sig_conversation_changed.emit(conversation)
        return True

    def stop(self) -> None:
        if self.busy:
            self.host.cancel(self._request)

    def stop_and_save(self) -> None:
        """Stop a running reply and save it as it stands, now (before a lock or a delete:
        its text must not outlive the key)."""
        if not self.busy:
            return
        self.stop()
        self._flush()
        self._finish_reply(MessageState.STOPPED)

    def new_conversation(self) -> None:
        self.show_conversation(Conversation())

    def show_conversation(self, conversation: Conversation, loaded_from: int = 0) -> None:
        """Show another conversation. A reply being written goes on in the background into
        its own conversation (and is saved there); opening that one again shows it live."""
        self._flush()
        if self._reply_conversation is not None and conversation.id == \
                self._reply_conversation.id:
            conversation, loaded_from = self._reply_conversation, self._reply_loaded_from
        elif self._attached():
            self._reply_loaded_from = self.loaded_from
        self.loaded_from = loaded_from
        self.model.set_conversation(conversation)
        self.sig_conversation_changed.emit(conversation)

    def show_earlier(self, messages: list[Message], loaded_from: int) -> None:
        self.loaded_from = loaded_from
        self.model.prepend(messages)

    def shutdown(self) -> bool:
        self._flush_timer.stop()
        return self.host.shutdown()

    # Worker signals (queued onto the GUI thread) -------------------------------------------

    def _on_loaded(self, name: str, n_ctx: int, chat_format_label: str = "",
                   kernels: str = "") -> None:
        self.model_name = name
        self.chat_format_label = chat_format_label
        self.kernels_summary = kernels
        self.ready = True
        self.context_tokens = n_ctx
        self.sig_model_ready.emit(name, n_ctx)

    def _on_load_failed(self, message: str) -> None:
        self.ready = False
        self.sig_model_failed.emit(message)

    def _on_chunk(self, request_id: int, text: str) -> None:
        if request_id == self._title_request and request_id:
            self._title_text += text
            return
        if request_id != self._request or not self.busy:
            return
        self._pending += text
        if not self._flush_timer.isActive():
            wait = self._last_flush_at + self.flush_gap_ms() / 1000 - time.perf_counter()
            self._flush_timer.start(max(FLUSH_DELAY_MS, round(wait * 1000)))

    def flush_gap_ms(self) -> int:
        """How far apart flushes of streamed text come: a frame, or more where drawing
        the reply takes long (FLUSH_COST_FACTOR)."""
        return max(FRAME_MS, round(FLUSH_COST_FACTOR * self._frame_cpu * 1000))

    def _on_finished(self, request_id: int, stats: ReplyStats, stopped: bool) -> None:
        if request_id == self._title_request and request_id:
            self._title_done()
            return
        if request_id != self._request or not self.busy:
            return
        self._flush()
        state = MessageState.STOPPED if stopped else MessageState.DONE
        conversation = self._reply_conversation
        self._finish_reply(state, stats=stats)
        self.sig_reply_finished.emit(stats, stopped)
        if conversation is not None and not stopped:
            self._ask_for_title(conversation)

    # Titles: the model names a conversation after its first exchange -----------------------

    def _ask_for_title(self, conversation: Conversation) -> None:
        """After the first reply has ended (never before: it must not wait), ask the model
        for a short title, in a request of its own capped at a few tokens."""
        tree = conversation.tree
        if not self.auto_titles or len(tree) != 2 or tree[1].state is not MessageState.DONE:
            return
        self._title_for = conversation
        self._title_text = ""
        params = replace(self.params, max_tokens=TITLE_TOKENS, temperature=0.2)
        self._title_request = self.host.generate(title_prompt(tree[0].text, tree[1].text),
                                                 params)

    def _title_done(self) -> None:
        conversation, text = self._title_for, self._title_text
        self._title_request, self._title_for, self._title_text = 0, None, ""
        title = clean_title(text)
        if conversation is not None and title:  # junk: the first words stay the title
            self.sig_title.emit(conversation, title)

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id == self._title_request and request_id:
            self._title_request, self._title_for, self._title_text = 0, None, ""
            return  # no title from the model: the first words stay
        if request_id != self._request or not self.busy:
            return
        if PromptTooLong.said_in(message):
            self._withdraw(message)
            return
        self._flush()
        self._finish_reply(MessageState.FAILED, error=message)
        self.sig_reply_failed.emit(message)

    def _finish_reply(self, state: MessageState, stats: ReplyStats | None = None,
                      error: str = "") -> None:
        """The reply ended: mark it (on screen or not), save it, and free the model."""
        reply, conversation = self._reply, self._reply_conversation
        assert reply is not None and conversation is not None
        row = self._reply_row()
        if row >= 0:
            self.model.finish(row, state, stats=stats, error=error)
        else:
            reply.state = state
            reply.stats = stats if stats is not None else reply.stats
            reply.error = error or reply.error
        self.sig_message_changed.emit(conversation, reply)
        self._end_reply()

    def _withdraw(self, message: str) -> None:
        """The model refused the message as too long: it never saw it, so it leaves the
        conversation and the history, and goes back to the composer."""
        conversation = self._reply_conversation
        assert conversation is not None
        attached = self._attached()
        self._pending = ""
        if attached:
            taken = self.model.remove_last(2)
        else:
            taken = conversation.messages[-2:]
            conversation.remove(taken)
        self._end_reply()
        self.sig_messages_withdrawn.emit(conversation, taken)
        question = taken[0].text if taken and taken[0].role is Role.USER else ""
        self.sig_prompt_returned.emit(question if attached else "", message)

    def _flush(self) -> None:
        self._flush_timer.stop()
        if self._pending and self._reply is not None:
            row = self._reply_row()
            if row >= 0:
                started = time.thread_time()
                self.model.append_text(row, self._pending)
                self._measure_frame(started)
            else:  # written in the background: the text still goes into its message
                self._reply.text += self._pending
        self._pending = ""

    def _measure_frame(self, started: float) -> None:
        """The GUI thread's time since the last flush (its repaint, and whatever else the
        window did) and this one's, averaged over the last few flushes (Windows counts a
        thread's time in 15.6 ms ticks, so one flush reads 0 or a whole tick); at a reply's
        first flush, this one's alone."""
        now = time.thread_time()
        if self._last_flush_cpu is None:
            self._frame_cpu = now - started
        else:
            self._frame_cpu += FRAME_AVERAGING * (now - self._last_flush_cpu - self._frame_cpu)
        self._last_flush_cpu = now
        self._last_flush_at = time.perf_counter()

    def _save_progress(self) -> None:
        """Save the growing reply when it has grown since the last save."""
        reply, conversation = self._reply, self._reply_conversation
        if reply is None or conversation is None:
            return
        if len(reply.text) + len(self._pending) != self._saved_length:
            self._flush()
            self._saved_length = len(reply.text)
            self.sig_message_changed.emit(conversation, reply)

    def _end_reply(self) -> None:
        was_busy = self.busy
        self._save_timer.stop()
        self._reply = self._reply_conversation = None
        self._pending = ""
        self._frame_cpu, self._last_flush_cpu = 0.0, None  # the next reply starts short
        if was_busy:
            self.sig_writing.emit("")
            self.sig_busy_changed.emit(False)

    def last_reply(self) -> Message | None:
        messages = self.model.conversation.messages
        return messages[-1] if messages and messages[-1].role is Role.ASSISTANT else None
