"""Where the key-encryption key comes from (keyring or passphrase); wrapping the data key.

Everything here blocks (Argon2id takes about half a second, a keyring call can wait on an
unlock prompt), so the GUI calls it off its thread. Every keyring call goes through
:func:`call_with_timeout`, because a keyring unlock prompt can stay open for as long as nobody
answers it: the caller says how long to wait (a :class:`KeyringWait`: a limit, or none and a
Cancel of its own) and hears when a prompt has probably opened.

Public API:

- ``KeySource`` (from ``key_choice``): ``KEYRING`` or ``PASSPHRASE``.
- ``KeyRecord``: what is stored in clear beside the data (store id, key id, source, wrapped data
  key, Argon2id parameters); ``.to_json()`` / ``KeyRecord.from_json(text)``.
- ``KeyringWait(limit_s, cancel, notice_after_s, on_prompt)``: how long a keyring call may take
  (None: until ``cancel`` is set) and whom to tell once it has taken long enough that an unlock
  prompt is probably open. Every function below that takes ``timeout_s`` takes a number of
  seconds or a ``KeyringWait``.
- ``call_with_timeout(fn, timeout_s)``: run `fn` on a daemon thread; ``KeyringTimeout`` if slow,
  ``KeyringCancelled`` once the wait's ``cancel`` is set.
- The keyring's outcomes, each with a sentence to show: ``KeyringLocked`` (its prompt was
  closed), ``KeyringTimeout`` (locked or prompting past the limit), ``KeyringCancelled``,
  ``NoKeyring``, ``KeyringSecretMissing`` (the item is gone), ``KeyringSecretRejected``, and
  ``KeyringUnavailable`` (their base: any other failure of the backend).
- ``keyring_is_usable(backend=None) -> bool``: False for the fail, null and keyrings.alt backends.
- ``keyring_entry_name(store_id) -> str``: the keyring user name under service ``"Cove"``;
  the item is stored with ``KEYRING_LABEL`` and application ``"Cove"`` where the backend keeps
  them (Secret Service), and found by its service and user name, as items made before were.
- ``passphrase_from_environment() -> str | None``: ``COVE_PASSPHRASE``, for automation;
  ``environment_passphrase_problem() -> str | None``: a sentence if it is not UTF-8.
- ``create_with_keyring(store_id, timeout_s) -> (KeyRecord, data_key)``: new data key, KEK in the
  keyring (stored, then read back and compared).
- ``create_with_passphrase(store_id, passphrase, kdf_params=None) -> (KeyRecord, data_key)``.
- ``unlock_with_keyring(record, timeout_s) -> data_key``.
- ``unlock_with_passphrase(record, passphrase) -> data_key``: else ``WrongPassphrase``.
- ``change_passphrase(record, old, new, kdf_params=None) -> KeyRecord``: re-wraps the data key only.
- ``rewrap_for_passphrase(record, data_key, passphrase, kdf_params=None) -> KeyRecord``.
- ``rewrap_for_keyring(record, data_key, timeout_s) -> KeyRecord``.
- ``forget_keyring_secret(store_id, timeout_s) -> None``: best effort, after leaving the keyring.

A secret whose write Cove stopped waiting for (a limit, or Cancel) is removed when it lands, and
writes to one keyring item never overlap, so a late write cannot replace a newer secret.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from cove.storage.crypto import (
    KEY_BYTES,
    CostlyKdfParameters,
    DecryptionError,
    KdfParams,
    WeakKdfParameters,
    calibrate_argon2id,
    check_kdf_params,
    derive_kek,
    new_data_key,
    new_key_id,
    unwrap_key,
    wrap_key,
)
from cove.storage.key_choice import KeySource

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

KEYRING_SERVICE = "Cove"
KEYRING_APPLICATION = "Cove"
# What a person sees beside the item in Seahorse or KWallet's manager.
KEYRING_LABEL = ("Cove: key to your encrypted chat history. Deleting it makes the history "
                 "unreadable unless you have the recovery key")
# How long a keyring call may take where nobody can press Cancel (the command line, scripts):
# an unanswered unlock prompt would otherwise hang them forever. The window waits with a Cancel
# of its own instead.
KEYRING_TIMEOUT_S = 60.0
# A keyring answers in about half a second when it is unlocked; after this long its unlock
# prompt has most likely opened, and the person is told so.
KEYRING_NOTICE_S = 1.5
LOCKED_PROMPT_TEXT = "Your keyring is locked: unlock it in the prompt that opened."
PASSPHRASE_ENV = "COVE_PASSPHRASE"
_DATA_KEY_PURPOSE = "data-key"

T = TypeVar("T")


class KeyAccessError(Exception):
    """The data key could not be reached; the message is safe to show and to log."""


class WrongPassphrase(KeyAccessError):
    def __init__(self) -> None:
        super().__init__("That passphrase does not open this history.")


class WrongKeySource(KeyAccessError):
    """Asked to unlock with the keyring a store kept by passphrase, or the other way round."""


class KeyRecordDamaged(KeyAccessError):
    """The stored key record cannot be read; without it the data key is lost."""


class KeyRecordWeakened(KeyAccessError, WeakKdfParameters):
    """The key record asks for a weaker Argon2id than Cove's floor: likely edited; never used."""

    def __init__(self) -> None:
        super().__init__("The key record asks for weaker protection than Cove allows; "
                         "it may have been tampered with.")


class KeyRecordTooCostly(KeyAccessError, CostlyKdfParameters):
    """The key record asks for more Argon2id work than this machine allows; never used."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"The key record asks for more work to unlock than Cove allows on this "
                         f"computer ({detail}); it may have been tampered with to stall the "
                         f"unlock.")
        self.detail = detail


class PassphraseNotText(KeyAccessError):
    """A passphrase that is not valid Unicode text (bytes that are not UTF-8, lone surrogates)."""


class KeyringUnavailable(KeyAccessError):
    """No keyring that keeps secrets: missing, locked, failing, or it dropped what we stored."""


class NoKeyring(KeyringUnavailable):
    """No keyring that keeps secrets is installed or running here."""

    def __init__(self) -> None:
        super().__init__("No system keyring is available.")


class KeyringTimeout(KeyringUnavailable, TimeoutError):
    """The keyring did not answer in time (often an unlock prompt nobody answered)."""


class KeyringLocked(KeyringUnavailable):
    """The keyring stayed locked: its unlock prompt was closed without unlocking it."""

    def __init__(self) -> None:
        super().__init__("Your keyring is still locked: its unlock prompt was closed. Unlock "
                         "the keyring, then try again.")


class KeyringCancelled(KeyringUnavailable):
    """The person stopped waiting for the keyring (Cove's own Cancel)."""

    def __init__(self) -> None:
        super().__init__("Cove stopped waiting for the keyring; nothing was changed.")


class KeyringSecretMissing(KeyringUnavailable):
    """The keyring answered but holds no secret for this store (reset, or another account)."""


class KeyringSecretRejected(KeyAccessError):
    """The keyring holds a secret for this store, but it does not open the data key."""


@dataclass(frozen=True)
class KeyRecord:
    """The wrapped data key and how to unwrap it; stored in clear, holds nothing secret."""

    store_id: str
    key_id: str
    source: KeySource
    wrapped_key: bytes
    # Argon2id parameters exactly as stored (validated, and floored, when used).
    kdf: dict[str, object] | None = field(default=None)

    def wrap_context(self) -> bytes:
        """Associated data for the wrap: purpose, ids, source and KDF parameters, so editing
        any of them in the file makes the unwrap fail instead of silently doing something else."""
        return json.dumps(
            {
                "purpose": _DATA_KEY_PURPOSE,
                "store_id": self.store_id,
                "key_id": self.key_id,
                "source": self.source.value,
                "kdf": self.kdf,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def kdf_params(self) -> KdfParams:
        """The Argon2id parameters; KeyRecordWeakened under the floor, KeyRecordTooCostly over
        the ceiling (both are WeakKdfParameters and KeyAccessError, with a sentence to show)."""
        if self.kdf is None:
            raise WrongKeySource("This history is opened with the system keyring.")
        try:
            return KdfParams.from_dict(self.kdf)
        except CostlyKdfParameters as error:
            log.warning("key record refused: over the ceiling")
            raise KeyRecordTooCostly(str(error)) from None
        except WeakKdfParameters:
            log.warning("key record refused: under the floor")
            raise KeyRecordWeakened() from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "store_id": self.store_id,
                "key_id": self.key_id,
                "source": self.source.value,
                "wrapped_key": base64.b64encode(self.wrapped_key).decode("ascii"),
                "kdf": self.kdf,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyRecord:
        try:
            data = json.loads(text)
            kdf = data["kdf"]
            if kdf is not None and not isinstance(kdf, dict):
                raise TypeError
            if data["version"] != 1:
                raise ValueError
            return cls(
                store_id=str(data["store_id"]),
                key_id=str(data["key_id"]),
                source=KeySource(data["source"]),
                wrapped_key=base64.b64decode(data["wrapped_key"], validate=True),
                kdf=kdf,
            )
        except (KeyError, TypeError, ValueError):
            raise KeyRecordDamaged("The stored key record is damaged.") from None


@dataclass
class KeyringWait:
    """How long to wait for the keyring, and how the caller stops waiting or hears of a prompt.

    `limit_s` None waits until `cancel` is set (the window's Cancel); `on_prompt` is called
    once, from the waiting thread, when a call has taken `notice_after_s`.
    """

    limit_s: float | None = KEYRING_TIMEOUT_S
    cancel: threading.Event | None = None
    notice_after_s: float = KEYRING_NOTICE_S
    on_prompt: Callable[[], None] | None = None
    _noticed: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, timeout_s: float | KeyringWait) -> KeyringWait:
        return timeout_s if isinstance(timeout_s, KeyringWait) else cls(limit_s=timeout_s)

    def notice(self) -> None:
        if not self._noticed and self.on_prompt is not None:
            self._noticed = True  # once for the whole wait, however many calls it spans
            self.on_prompt()


@dataclass
class _Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


_POLL_S = 0.05  # how often a wait looks at its Cancel


def call_with_timeout(fn: Callable[[], T], timeout_s: float | KeyringWait) -> T:
    """`fn()` run on a daemon thread; KeyringTimeout if it takes over the wait's limit,
    KeyringCancelled once its `cancel` is set.

    The thread is abandoned, not killed (Python cannot), so a hung keyring call never keeps
    the app from quitting.
    """
    wait = KeyringWait.of(timeout_s)
    done = threading.Event()
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = fn()
        except BaseException as error:  # handed to the caller's thread below
            outcome.error = error
        finally:
            done.set()

    threading.Thread(target=run, name="cove-keyring-call", daemon=True).start()
    started = time.monotonic()
    while not done.wait(_POLL_S if wait.cancel is not None or wait.on_prompt is not None
                        else _remaining(wait, started)):
        if wait.cancel is not None and wait.cancel.is_set():
            log.info("keyring call cancelled")
            raise KeyringCancelled()
        elapsed = time.monotonic() - started
        if wait.limit_s is not None and elapsed >= wait.limit_s:
            log.warning("keyring call timed out")
            raise KeyringTimeout(
                f"Your keyring did not answer within {wait.limit_s:g} seconds; it may be "
                "locked, with its unlock prompt open. Unlock it, then try again.")
        if elapsed >= wait.notice_after_s:
            wait.notice()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]  # fn's own result, None included


def _remaining(wait: KeyringWait, started: float) -> float | None:
    if wait.limit_s is None:
        return None
    return max(0.0, wait.limit_s - (time.monotonic() - started))


def keyring_is_usable(backend: KeyringBackend | None = None) -> bool:
    """Whether `backend` (the active one by default) could keep a secret at all.

    The fail and null backends keep nothing, and keyrings.alt's stores a file next to the
    data, which is no better than no key. A keyring that passes this can still drop secrets,
    which is why setup reads the secret back.
    """
    from keyring.backends import fail as fail_backend
    from keyring.backends import null as null_backend
    from keyring.backends.chainer import ChainerBackend

    backend = backend if backend is not None else _active_backend()
    if isinstance(backend, ChainerBackend):
        return any(keyring_is_usable(inner) for inner in backend.backends)
    if isinstance(backend, fail_backend.Keyring | null_backend.Keyring):
        return False
    return not type(backend).__module__.startswith("keyrings.alt")


def keyring_entry_name(store_id: str) -> str:
    # The random store id keeps two Cove homes (tests, portable copies) from sharing a secret.
    return f"key-encryption-key-{store_id}"


def passphrase_from_environment() -> str | None:
    """COVE_PASSPHRASE when set and not empty (automation and tests), else None.

    Not checked here (the window asks for it where it cannot show an error): an unlock with a
    value that is not UTF-8 raises PassphraseNotText; ``environment_passphrase_problem`` lets a
    command check it up front.
    """
    return os.environ.get(PASSPHRASE_ENV) or None


def environment_passphrase_problem() -> str | None:
    """A sentence if COVE_PASSPHRASE is set but not valid UTF-8, else None."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value and not _is_text(value):
        return (f"{PASSPHRASE_ENV} is not valid UTF-8 text, so it cannot be the passphrase. "
                f"Set it again in UTF-8, or unset it and type the passphrase.")
    return None


def _is_text(passphrase: str) -> bool:
    # On POSIX, os.environ turns bytes that are not UTF-8 into lone surrogates ("surrogate
    # escapes"); a pasted lone surrogate looks the same. Neither can be encoded for Argon2id.
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require_text(passphrase: str) -> None:
    if not _is_text(passphrase):
        raise PassphraseNotText(
            "The passphrase is not valid UTF-8 text, so it cannot open or protect a history. "
            f"If it comes from {PASSPHRASE_ENV}, set that again in UTF-8.")


# What keyring, SecretStorage and jeepney raise when an unlock prompt was closed or the
# collection stayed locked (by name: importing them here would cost every start).
_LOCKED_ERRORS = {"KeyringLocked", "PromptDismissedException", "LockedException"}


def _keyring_call(fn: Callable[[], T], timeout_s: float | KeyringWait) -> T:
    """A keyring call with a timeout; every backend failure becomes KeyringUnavailable."""
    try:
        return call_with_timeout(fn, timeout_s)
    except KeyAccessError:
        raise
    except Exception as error:
        # Only the type: backends' messages are not ours to log.
        log.warning("keyring call failed: %s", type(error).__name__)
        if type(error).__name__ in _LOCKED_ERRORS:
            raise KeyringLocked() from None
        raise KeyringUnavailable(
            f"The system keyring reported an error ({type(error).__name__}). Check that it "
            "is running and unlocked, then try again."
        ) from None


# The keyring backends worth trying on each platform (the most viable one is chosen).
# keyring's own detection imports every installed backend, and its macOS one looks for the
# Security framework with ctypes.util.find_library, which on Linux runs ldconfig, gcc and ld
# (about 14 processes) on every start. Third-party plugins are left out: keyrings.alt is
# refused anyway.
_PLATFORM_BACKENDS = {
    "linux": ("keyring.backends.SecretService.Keyring", "keyring.backends.libsecret.Keyring",
              "keyring.backends.kwallet.DBusKeyring",
              "keyring.backends.kwallet.DBusKeyringKWallet4"),
    "darwin": ("keyring.backends.macOS.Keyring",),
    "win32": ("keyring.backends.Windows.WinVaultKeyring",),
}


def _platform_backend() -> KeyringBackend:
    """The keyring the person chose (PYTHON_KEYRING_BACKEND or keyringrc.cfg), else the best
    viable backend of this platform's own, else the fail backend."""
    import keyring.core
    from keyring.backends import fail

    try:
        chosen = keyring.core.load_env() or keyring.core.load_config()
    except Exception as error:  # a misspelt choice: fall back to this platform's own
        log.warning("configured keyring backend not usable: %s", type(error).__name__)
        chosen = None
    if chosen is not None:
        return chosen
    platform = "linux" if sys.platform.startswith(("linux", "freebsd")) else sys.platform
    best: KeyringBackend = fail.Keyring()
    best_priority = 0.0
    for name in _PLATFORM_BACKENDS.get(platform, ()):
        try:
            candidate = keyring.core.load_keyring(name)  # raises when not viable here
            priority = float(candidate.priority)
            if priority > best_priority:
                best, best_priority = candidate, priority
        except Exception as error:  # an unusable backend is simply not chosen
            log.debug("keyring backend %s not viable: %s", name, type(error).__name__)
    return best


def _active_backend() -> KeyringBackend:
    # keyring is imported on first use (~70 ms), so a window that only shows a KeySource or
    # rates a passphrase does not wait for it.
    import keyring.core

    # keyring has no public "is one chosen yet?": asking get_keyring() would run the detection
    # this avoids. A backend set with keyring.set_keyring (tests, embedders) is kept.
    if getattr(keyring.core, "_keyring_backend", None) is None:
        keyring.core.set_keyring(_platform_backend())
    return keyring.core.get_keyring()


def _usable_backend() -> KeyringBackend:
    backend = _active_backend()
    if not keyring_is_usable(backend):
        raise NoKeyring()
    return backend


def _read_secret(backend: KeyringBackend, store_id: str,
                 timeout_s: float | KeyringWait) -> str | None:
    """This store's secret as the keyring holds it (base64 text), or None if it holds none."""
    name = keyring_entry_name(store_id)
    return _keyring_call(lambda: backend.get_password(KEYRING_SERVICE, name), timeout_s)


class KeyringDroppedSecret(KeyringUnavailable):
    """The keyring accepted a secret but does not hand it back: it keeps nothing."""

    def __init__(self) -> None:
        super().__init__("The system keyring did not keep the secret it was given.")


_entry_locks: dict[str, threading.Lock] = {}
_entry_locks_guard = threading.Lock()


def _entry_lock(name: str) -> threading.Lock:
    """One lock per keyring item: a write Cove stopped waiting for still holds it until it has
    landed and been removed, so a later write to the same item cannot be overwritten by it."""
    with _entry_locks_guard:
        return _entry_locks.setdefault(name, threading.Lock())


def _set_labelled(backend: KeyringBackend, name: str, secret: str) -> None:
    """Store `secret` with Cove's label and application name where the backend keeps them
    (Secret Service: GNOME Keyring, KWallet's Secret Service, KeePassXC); elsewhere through
    keyring's own call. Other items of this store's (an older label) are removed, so a look-up
    by service and user name finds this one."""
    from keyring.backends import SecretService

    if not isinstance(backend, SecretService.Keyring):
        backend.set_password(KEYRING_SERVICE, name, secret)
        return
    from contextlib import closing

    collection = backend.get_preferred_collection()
    with closing(collection.connection):
        query = backend._query(KEYRING_SERVICE, name)
        attributes = backend._query(KEYRING_SERVICE, name, application=KEYRING_APPLICATION)
        created = collection.create_item(KEYRING_LABEL, attributes, secret, replace=True)
        for item in collection.search_items(query):
            if item.item_path != created.item_path:
                item.delete()


def _delete_if_ours(backend: KeyringBackend, name: str, secret: str) -> None:
    """Remove the item only while it still holds `secret` (never a newer write's)."""
    if backend.get_password(KEYRING_SERVICE, name) == secret:
        backend.delete_password(KEYRING_SERVICE, name)
        log.info("late keyring secret removed")


@dataclass
class _Write:
    lock: threading.Lock = field(default_factory=threading.Lock)
    landed: bool = False
    abandoned: bool = False


def _store_secret_in_keyring(store_id: str, timeout_s: float | KeyringWait) -> bytes:
    """A fresh random KEK placed in the keyring, then read back: some backends drop secrets.

    If Cove stops waiting (its limit, or Cancel) the write may still land later, when the
    keyring's prompt is answered: whichever side sees both the landing and the giving up
    removes that secret, so no stray item is left that opens nothing.
    """
    # Finding the backend can itself talk to D-Bus and hang, so it is timed out as well.
    backend = _keyring_call(_usable_backend, timeout_s)
    kek = secrets.token_bytes(KEY_BYTES)
    secret = base64.b64encode(kek).decode("ascii")
    name = keyring_entry_name(store_id)
    write = _Write()

    def store_and_read_back() -> str | None:
        with _entry_lock(name):
            _set_labelled(backend, name, secret)
            read_back = backend.get_password(KEYRING_SERVICE, name)
            with write.lock:
                write.landed = read_back == secret
                late = write.abandoned
            if late and write.landed:
                _delete_if_ours(backend, name, secret)
            elif read_back not in (None, secret):
                # It keeps something, but not what it was given: leave no useless entry.
                backend.delete_password(KEYRING_SERVICE, name)
            return read_back

    try:
        read_back = _keyring_call(store_and_read_back, timeout_s)
    except KeyringUnavailable:
        with write.lock:
            write.abandoned = True
            landed = write.landed
        if landed:  # it landed just as Cove gave up
            _forget(backend, name, secret)
        raise
    if read_back != secret:
        log.warning("keyring dropped the stored secret")
        raise KeyringDroppedSecret()
    return kek


def _forget(backend: KeyringBackend, name: str, secret: str) -> None:
    try:
        _keyring_call(lambda: _delete_if_ours(backend, name, secret), KEYRING_NOTICE_S * 2)
    except KeyringUnavailable:
        log.info("keyring secret not removed")


def _secret_from_keyring(store_id: str, timeout_s: float | KeyringWait) -> bytes:
    secret = _read_secret(_keyring_call(_usable_backend, timeout_s), store_id, timeout_s)
    if secret is None:
        raise KeyringSecretMissing(
            "The key to this history is gone from the system keyring (the item was deleted, or "
            "this is another account's keyring).")
    try:
        kek = base64.b64decode(secret, validate=True)
    except ValueError:
        kek = b""  # not base64: as damaged as a key of the wrong length
    if len(kek) != KEY_BYTES:
        raise KeyringSecretRejected("The keyring's key for this history is damaged.")
    return kek


def forget_keyring_secret(store_id: str,
                          timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> None:
    """Remove this store's secret from the keyring; best effort (it no longer opens anything)."""
    name = keyring_entry_name(store_id)
    try:
        backend = _keyring_call(_active_backend, timeout_s)
        _keyring_call(lambda: backend.delete_password(KEYRING_SERVICE, name), timeout_s)
    except KeyringUnavailable:
        log.info("keyring secret not removed")


def _wrapped_record(store_id: str, key_id: str, source: KeySource, kek: bytes, data_key: bytes,
                    kdf: dict[str, object] | None) -> KeyRecord:
    unsealed = KeyRecord(store_id, key_id, source, b"", kdf)
    wrapped = wrap_key(kek, data_key, unsealed.wrap_context())
    return KeyRecord(store_id, key_id, source, wrapped, kdf)


def _passphrase_kdf(passphrase: str, kdf_params: KdfParams | None) -> tuple[bytes, KdfParams]:
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    _require_text(passphrase)
    params = kdf_params.with_new_salt() if kdf_params is not None else calibrate_argon2id()
    check_kdf_params(params)
    return derive_kek(passphrase, params), params


def create_with_keyring(store_id: str, timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S
                        ) -> tuple[KeyRecord, bytes]:
    """A new data key wrapped by a random secret kept in the OS keyring."""
    kek = _store_secret_in_keyring(store_id, timeout_s)
    data_key = new_data_key()
    record = _wrapped_record(store_id, new_key_id(), KeySource.KEYRING, kek, data_key, None)
    log.info("data key created (keyring)")
    return record, data_key


def create_with_passphrase(store_id: str, passphrase: str,
                           kdf_params: KdfParams | None = None) -> tuple[KeyRecord, bytes]:
    """A new data key wrapped by an Argon2id key from `passphrase`.

    `kdf_params` defaults to calibrated ones; explicit ones (tests pass the floor) get a fresh
    salt and are still checked against the floor.
    """
    kek, params = _passphrase_kdf(passphrase, kdf_params)
    data_key = new_data_key()
    record = _wrapped_record(store_id, new_key_id(), KeySource.PASSPHRASE, kek, data_key,
                             params.to_dict())
    log.info("data key created (passphrase)")
    return record, data_key


def unlock_with_keyring(record: KeyRecord,
                        timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> bytes:
    if record.source is not KeySource.KEYRING:
        raise WrongKeySource("This history is opened with a passphrase.")
    kek = _secret_from_keyring(record.store_id, timeout_s)
    try:
        return unwrap_key(kek, record.wrapped_key, record.wrap_context())
    except DecryptionError:
        log.warning("keyring secret rejected")
        raise KeyringSecretRejected(
            "The keyring's key does not open this history.") from None


def unlock_with_passphrase(record: KeyRecord, passphrase: str) -> bytes:
    """The data key; WrongPassphrase if it does not fit. Never writes anything."""
    params = record.kdf_params()  # WeakKdfParameters (before any work) if under the floor
    if record.source is not KeySource.PASSPHRASE:
        raise WrongKeySource("This history is opened with the system keyring.")
    _require_text(passphrase)
    kek = derive_kek(passphrase, params)
    try:
        return unwrap_key(kek, record.wrapped_key, record.wrap_context())
    except DecryptionError:
        log.info("wrong passphrase")
        raise WrongPassphrase() from None


def rewrap_for_passphrase(record: KeyRecord, data_key: bytes, passphrase: str,
                          kdf_params: KdfParams | None = None) -> KeyRecord:
    """The same data key (same key id, so no row changes) wrapped for a new passphrase."""
    kek, params = _passphrase_kdf(passphrase, kdf_params)
    return _wrapped_record(record.store_id, record.key_id, KeySource.PASSPHRASE, kek, data_key,
                           params.to_dict())


def rewrap_for_keyring(record: KeyRecord, data_key: bytes,
                       timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> KeyRecord:
    """The same data key wrapped by a fresh secret in the keyring."""
    kek = _store_secret_in_keyring(record.store_id, timeout_s)
    return _wrapped_record(record.store_id, record.key_id, KeySource.KEYRING, kek, data_key, None)


def change_passphrase(record: KeyRecord, old_passphrase: str, new_passphrase: str,
                      kdf_params: KdfParams | None = None) -> KeyRecord:
    """Re-wrap the data key for `new_passphrase`; WrongPassphrase if `old_passphrase` is wrong."""
    data_key = unlock_with_passphrase(record, old_passphrase)
    return rewrap_for_passphrase(record, data_key, new_passphrase, kdf_params)
