"""ChatController: the GUI-thread go-between for the composer, the message model and the worker."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from cove.core.conversation import Conversation, Message, MessageState, ReplyStats, Role
from cove.inference.engine import GenerationParams, LoadOptions
from cove.inference.worker import EngineFactory, WorkerHost
from cove.ui.chat.message_model import MessageListModel

log = logging.getLogger(__name__)

FRAME_MS = 16  # streamed text reaches the view at most once per frame
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
        self.kernels_summary = ""  # which llama.cpp CPU kernels run (status bar, privacy panel)
        self.ready = False
        self._request = 0
        self._row = -1
        self._pending = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self._flush)
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
        return self._row >= 0

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
        conversation = self.model.conversation
        question = Message(Role.USER, text)
        self.model.append(question)
        self.sig_message_added.emit(conversation, question)
        history = conversation.history_for_reply(self.system_prompt)
        reply = Message(Role.ASSISTANT, "", model=self.model_name, state=MessageState.STREAMING)
        self._row = self.model.append(reply)
        self.sig_message_added.emit(conversation, reply)
        self._saved_length = 0
        self._save_timer.start()
        self._request = self.host.generate(history, self.params)
        self.sig_busy_changed.emit(True)
        return True

    def stop(self) -> None:
        if self.busy:
            self.host.cancel(self._request)

    def new_conversation(self) -> None:
        self.show_conversation(Conversation())

    def show_conversation(self, conversation: Conversation, loaded_from: int = 0) -> None:
        """Show another conversation; a running reply is stopped and saved first."""
        if self.busy:
            self.stop()
            self._flush()
            reply = self.model.message(self._row)
            reply.state = MessageState.STOPPED
            self.sig_message_changed.emit(self.model.conversation, reply)
        self._end_reply()
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
        self.sig_model_ready.emit(name, n_ctx)

    def _on_load_failed(self, message: str) -> None:
        self.ready = False
        self.sig_model_failed.emit(message)

    def _on_chunk(self, request_id: int, text: str) -> None:
        if request_id != self._request or not self.busy:
            return
        self._pending += text
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _on_finished(self, request_id: int, stats: ReplyStats, stopped: bool) -> None:
        if request_id != self._request or not self.busy:
            return
        self._flush()
        state = MessageState.STOPPED if stopped else MessageState.DONE
        self.model.finish(self._row, state, stats=stats)
        self.sig_message_changed.emit(self.model.conversation, self.model.message(self._row))
        self._end_reply()
        self.sig_reply_finished.emit(stats, stopped)

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request or not self.busy:
            return
        self._flush()
        self.model.finish(self._row, MessageState.FAILED, error=message)
        self.sig_message_changed.emit(self.model.conversation, self.model.message(self._row))
        self._end_reply()
        self.sig_reply_failed.emit(message)

    def _flush(self) -> None:
        self._flush_timer.stop()
        if self._pending and self.busy:
            self.model.append_text(self._row, self._pending)
        self._pending = ""

    def _save_progress(self) -> None:
        """Save the growing reply when it has grown since the last save."""
        if not self.busy:
            return
        reply = self.model.message(self._row)
        if len(reply.text) + len(self._pending) != self._saved_length:
            self._flush()
            self._saved_length = len(reply.text)
            self.sig_message_changed.emit(self.model.conversation, reply)

    def _end_reply(self) -> None:
        was_busy = self.busy
        self._save_timer.stop()
        self._row = -1
        self._pending = ""
        if was_busy:
            self.sig_busy_changed.emit(False)

    def last_reply(self) -> Message | None:
        messages = self.model.conversation.messages
        return messages[-1] if messages and messages[-1].role is Role.ASSISTANT else None
