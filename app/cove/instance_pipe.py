"""One Cove per store on Windows: the running Cove answers on a named pipe.

instance.py's AF_UNIX socket and flock do not exist there, and QLocalServer (QtNetwork) stays
out of the process, so this uses the standard library's named pipes (multiprocessing.connection,
family "AF_PIPE", the code Python's own process pools run on Windows). Ownership is the pipe's
name: the listener's first pipe is made with FILE_FLAG_FIRST_PIPE_INSTANCE, so while one Cove
holds the name another cannot make it, and the name goes away with the process however it
ends (no stale claim after a crash). A second launch connects, sends instance.py's request
(`activate TOKEN`) and waits for its answer, as on Linux.

A named pipe has no descriptor a QSocketNotifier could watch, so the running Cove waits for
launches on a thread of its own (`serve`) and hands each request to the GUI thread.

The pipe's name is derived from the data folder (instance_name); another local user who knew
it and made the pipe first could make Cove believe it is already open (it would say so and
exit), but could read nothing: a request and its answer carry no content.

The same code runs on Linux in the tests with family "AF_UNIX" (tests/unit/test_instance_pipe.py);
Windows itself is not run in this project's CI (no Windows machine).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from cove.instance import (
    ACKNOWLEDGED,
    MAX_REQUEST,
    InstanceUnavailable,
    instance_name,
    launch_token,
    parse_request,
    request_line,
)

log = logging.getLogger(__name__)

PIPE_FAMILY = "AF_PIPE"
PIPE_ROOT = "\\\\.\\pipe\\"


def pipe_address(data_folder: Path) -> str:
    return PIPE_ROOT + instance_name(data_folder)


class PipeInstance:
    """This process is the one Cove on its store: it holds the pipe's name and answers on it.

    `serve(callback)` starts answering; `close()` stops and lets the name go."""

    def __init__(self, listener: Any, address: str, family: str) -> None:
        self._listener = listener
        self.address = address
        self.family = family
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def serve(self, on_activation: Callable[[str], None]) -> None:
        """Answer launches from a thread of this instance's own; each one that asks calls
        `on_activation(token)` on that thread (a queued Qt signal takes it to the window)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, args=(on_activation,),
                                            name="cove-instance", daemon=True)
            self._thread.start()

    def _serve(self, on_activation: Callable[[str], None]) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except OSError:
                if not self._closed.is_set():
                    log.warning("single instance: the pipe stopped accepting")
                return
            with connection:
                if self._closed.is_set():
                    return  # close() woke this thread
                token = answer(connection)
            if token is not None:
                on_activation(token)

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop answering and let go of the store's name; only once."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None and self._thread.is_alive():
            # The thread waits in accept(), which closing the listener does not wake on
            # every system: a connection of our own does.
            with contextlib.suppress(OSError, EOFError), \
                    Client(self.address, family=self.family):
                pass
            self._thread.join(timeout_s)
        with contextlib.suppress(OSError):
            self._listener.close()


def answer(connection: Connection, timeout_s: float = 0.2) -> str | None:
    """Read one request from a launch and acknowledge it; its token ("" for none), or None
    when it sent no activation request within `timeout_s` (a stuck launch waits no longer)."""
    try:
        if not connection.poll(timeout_s):
            return None
        token = parse_request(connection.recv_bytes(MAX_REQUEST))
        if token is not None:
            connection.send_bytes(ACKNOWLEDGED)
        return token
    except (OSError, EOFError):
        return None


def activate_pipe(address: str, family: str = PIPE_FAMILY, timeout_s: float = 2.0,
                  token: str = "") -> bool:
    """Ask the Cove answering at `address` to bring its window forward; True when it said
    it would."""
    try:
        connection = Client(address, family=family)
    except (OSError, EOFError):
        return False
    with connection:
        try:
            connection.send_bytes(request_line(token))
            return bool(connection.poll(timeout_s)) and connection.recv_bytes(64) == ACKNOWLEDGED
        except (OSError, EOFError):
            return False


def claim_pipe(data_folder: Path, *, family: str = PIPE_FAMILY, address: str | None = None,
               wait_s: float = 3.0) -> PipeInstance | None:
    """instance.claim on Windows: a PipeInstance to keep for the process's life, or None when
    another Cove holds the store and was asked to come forward. Raises InstanceUnavailable
    when neither works."""
    address = address or pipe_address(data_folder)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            listener = Listener(address, family=family)
        except OSError as error:
            # Another Cove holds the name (Windows: access denied on a first instance;
            # AF_UNIX: the address is in use). It may be starting or quitting: ask until it
            # answers or lets go.
            if activate_pipe(address, family, token=launch_token()):
                return None
            if time.monotonic() > deadline:
                raise InstanceUnavailable(
                    f"another Cove holds this store but does not answer ({error})") from None
            time.sleep(0.05)
        else:
            return PipeInstance(listener, address, family)
