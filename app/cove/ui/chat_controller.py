"""ChatController: the GUI-thread go-between for the composer, the message model and the worker."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from cove.core.conversation import Conversation, Message, MessageState, ReplyStats, Role
from cove.inference.engine import GenerationParams, LoadOptions
from cove.inference.worker import EngineFactory, WorkerHost
from cove.ui.message_model import MessageListModel

log = logging.getLogger(__name__)

FRAME_MS = 16  # streamed text reaches the view at most once per frame


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

    def __init__(self, engine_factory: EngineFactory | None = None,
                 params: GenerationParams | None = None,
                 load_options: LoadOptions | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.params = params or GenerationParams()
        self.load_options = load_options or LoadOptions()
        self.system_prompt = ""
        self.model = MessageListModel(Conversation(), self)
        self.host = WorkerHost(engine_factory, self)
        self.model_name = ""
        self.ready = False
        self._request = 0
        self._row = -1
        self._pending = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self._flush)

        host = self.host  # its signals arrive on the GUI thread
        host.sig_load_progress.connect(self.sig_load_progress)
        host.sig_loaded.connect(self._on_loaded)
        host.sig_load_failed.connect(self._on_load_failed)
        host.sig_chunk.connect(self._on_chunk)
        host.sig_finished.connect(self._on_finished)
        host.sig_failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self._row >= 0

    def load_model(self, path: str | Path) -> None:
        """Load a model in the background, stopping any reply first."""
        self.stop()
        self.ready = False
        self.model_name = Path(path).stem
        self.sig_model_loading.emit(self.model_name)
        self.host.load(path, self.load_options)

    def send(self, text: str) -> bool:
        """Add the user's message and start the reply. False if a reply is already running."""
        if self.busy or not self.ready or not text.strip():
            return False
        conversation = self.model.conversation
        self.model.append(Message(Role.USER, text))
        history = conversation.history_for_reply(self.system_prompt)
        self._row = self.model.append(
            Message(Role.ASSISTANT, "", model=self.model_name, state=MessageState.STREAMING)
        )
        self._request = self.host.generate(history, self.params)
        self.sig_busy_changed.emit(True)
        return True

    def stop(self) -> None:
        if self.busy:
            self.host.cancel(self._request)

    def new_conversation(self) -> None:
        self.stop()
        self._end_reply()
        self.model.set_conversation(Conversation())

    def shutdown(self) -> bool:
        self._flush_timer.stop()
        return self.host.shutdown()

    # Worker signals (queued onto the GUI thread) -------------------------------------------

    def _on_loaded(self, name: str, n_ctx: int) -> None:
        self.model_name = name
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
        self._end_reply()
        self.sig_reply_finished.emit(stats, stopped)

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request or not self.busy:
            return
        self._flush()
        self.model.finish(self._row, MessageState.FAILED, error=message)
        self._end_reply()
        self.sig_reply_failed.emit(message)

    def _flush(self) -> None:
        self._flush_timer.stop()
        if self._pending and self.busy:
            self.model.append_text(self._row, self._pending)
        self._pending = ""

    def _end_reply(self) -> None:
        was_busy = self.busy
        self._row = -1
        self._pending = ""
        if was_busy:
            self.sig_busy_changed.emit(False)

    def last_reply(self) -> Message | None:
        messages = self.model.conversation.messages
        return messages[-1] if messages and messages[-1].role is Role.ASSISTANT else None
