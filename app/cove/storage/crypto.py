"""AES-256-GCM row sealing, size padding, data-key wrapping and floored Argon2id derivation.

Row blobs are ``FORMAT_VERSION (1 byte) | nonce (12 bytes) | ciphertext+tag``. The associated
data names the table, conversation id, row id, sequence number and key id, so a blob that is
copied onto another row, moved to another conversation or renumbered fails authentication.
Every failure to authenticate raises :class:`DecryptionError`, whatever the cause.

Public API:

- ``new_data_key() -> bytes``: a random 256-bit data key.
- ``new_key_id() -> str``: a random id naming one data key (stored in clear beside rows).
- ``padded_size(length) -> int`` / ``pad(data) -> bytes`` / ``unpad(data) -> bytes``: size buckets.
- ``row_aad(table, conversation_id, row_id, seq, key_id) -> bytes``: associated data of a row.
- ``RowCipher(data_key, key_id)``: ``.seal(table, conversation_id, row_id, seq, plaintext)``,
  ``.open(table, conversation_id, row_id, seq, blob, key_id=None)`` and
  ``.open_many(table, rows) -> list[bytes | None]`` (the batch path the sidebar uses).
- ``wrap_key(kek, data_key, context) -> bytes`` / ``unwrap_key(kek, wrapped, context)``.
- ``KdfParams``: Argon2id parameters with salt; ``.to_dict()``, ``.from_dict()``, ``.at_floor()``.
- ``check_kdf_params(params)``: raises :class:`WeakKdfParameters` below the floor and
  :class:`CostlyKdfParameters` above what this machine allows (``kdf_ceiling()``).
- ``kdf_ceiling(memory_kib, lanes) -> KdfCeiling``: the most memory and passes allowed here.
- ``derive_kek(passphrase, params) -> bytes``: Argon2id, refusing parameters below the floor.
- ``calibrate_argon2id(target_seconds=0.5) -> KdfParams``: parameters that take about that long.
"""

from __future__ import annotations

import base64
import os
import secrets
import struct
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_VERSION = 1
BLOB_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES

# Padding buckets: powers of two from 256 bytes to 4 KiB, then whole 4 KiB steps. Small
# messages (most of them) reveal only a rough size class; long ones waste under 4 KiB.
MIN_BUCKET = 256
STEP_ABOVE = 4096
_PAD_MARKER = 0x80

# The floor no stored or requested parameters may go under, tests included: 64 MiB of memory
# and two passes is about the least that still makes offline guessing costly.
ARGON2_MIN_MEMORY_KIB = 64 * 1024
ARGON2_MIN_ITERATIONS = 2
ARGON2_MIN_LANES = 1
ARGON2_MIN_SALT_BYTES = 16
# Ceilings, so an edited key record cannot make an unlock eat all memory or stall for minutes.
# Memory: 1 GiB or a quarter of this machine's RAM, whichever is lower (calibration never asks
# for more than 256 MiB). Passes: as many as this machine does in ARGON2_MAX_SECONDS at the
# record's memory, measured once per process and only when a record asks for more work than
# ARGON2_UNMEASURED_WORK, which any machine Cove runs on does in well under that time.
ARGON2_MAX_MEMORY_KIB = 1024 * 1024
ARGON2_MAX_ITERATIONS = 64
ARGON2_MAX_LANES = 16
ARGON2_MAX_SECONDS = 10.0
ARGON2_UNMEASURED_WORK = 256 * 1024 * 4  # KiB x passes: 256 MiB four times
ARGON2_DEFAULT_LANES = 4
_CALIBRATION_MAX_MEMORY_KIB = 256 * 1024


class DecryptionError(Exception):
    """A sealed blob did not authenticate: damaged, moved, swapped, or the wrong key."""


class WeakKdfParameters(ValueError):
    """Argon2id parameters below Cove's floor (or above its ceiling); they are never used."""


class CostlyKdfParameters(WeakKdfParameters):
    """Argon2id parameters above what this machine allows: an unlock would stall or swap."""


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def new_key_id() -> str:
    return secrets.token_hex(8)


def padded_size(length: int) -> int:
    """The bucket a plaintext of `length` bytes lands in (one byte goes to the pad marker)."""
    needed = length + 1
    if needed <= MIN_BUCKET:
        return MIN_BUCKET
    if needed <= STEP_ABOVE:
        return 1 << (needed - 1).bit_length()
    return -(-needed // STEP_ABOVE) * STEP_ABOVE


def pad(data: bytes) -> bytes:
    """ISO/IEC 7816-4 padding (0x80 then zeros) up to the size bucket."""
    return data + b"\x80" + bytes(padded_size(len(data)) - len(data) - 1)


def _unpadded_size(data: bytes) -> int:
    """Where the pad marker is (the data's length before padding); -1 if badly padded.

    The marker is the last 0x80 byte, with only zeros after it; found without copying, as
    stripping the zeros and then the marker copied each plaintext twice (a sixth of opening
    5,000 notes)."""
    marker = data.rfind(b"\x80")
    if marker < 0 or data.count(0, marker + 1) != len(data) - marker - 1:
        return -1
    return marker


def unpad(data: bytes) -> bytes:
    size = _unpadded_size(data)
    if size < 0:
        raise DecryptionError("bad padding")
    return data[:size]


_pack_length = struct.Struct(">I").pack


def _field(value: bytes) -> bytes:
    # Lengths make the encoding unambiguous: ("ab", "c") and ("a", "bc") differ.
    return _pack_length(len(value)) + value


def _length_prefixed(*fields: bytes) -> bytes:
    return b"".join(_field(f) for f in fields)


_ROW_TAG = _field(b"cove-row-v1")


def row_aad(table: str, conversation_id: str, row_id: str, seq: int, key_id: str) -> bytes:
    """Associated data that ties a row body to where it belongs."""
    # Written out rather than looped: it runs once per row, 10,000 times to list the sidebar.
    return (_ROW_TAG + _field(table.encode()) + _field(conversation_id.encode())
            + _field(row_id.encode()) + _field(str(seq).encode()) + _field(key_id.encode()))


class RowCipher:
    """Seals and opens row bodies with one data key; safe to share between threads."""

    def __init__(self, data_key: bytes, key_id: str) -> None:
        if len(data_key) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        self._aead = AESGCM(data_key)
        self.key_id = key_id

    def seal(self, table: str, conversation_id: str, row_id: str, seq: int,
             plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        aad = row_aad(table, conversation_id, row_id, seq, self.key_id)
        return bytes([FORMAT_VERSION]) + nonce + self._aead.encrypt(nonce, pad(plaintext), aad)

    def open(self, table: str, conversation_id: str, row_id: str, seq: int,
             blob: bytes, key_id: str | None = None) -> bytes:
        """The plaintext of `blob`; `key_id` is the row's clear key id, checked against ours."""
        row = (conversation_id, row_id, seq, self.key_id if key_id is None else key_id, blob)
        plaintext = self.open_many(table, [row])[0]
        if plaintext is None:
            raise DecryptionError("authentication failed")
        return plaintext

    def open_many(self, table: str, rows: Iterable[tuple[str, str, int, str, bytes]]
                  ) -> list[bytes | None]:
        """Plaintexts of many rows of `table`, given as (conversation id, row id, seq, key id,
        blob); None for each row that fails. The one decryption path, written for speed: the
        sidebar opens 10,000 summaries at unlock."""
        decrypt = self._aead.decrypt
        own_key_id = self.key_id
        head = _ROW_TAG + _field(table.encode())
        tail = _field(own_key_id.encode())
        opened: list[bytes | None] = []
        for conversation_id, row_id, seq, key_id, blob in rows:
            if key_id != own_key_id or len(blob) < BLOB_OVERHEAD or blob[0] != FORMAT_VERSION:
                opened.append(None)
                continue
            conversation_field = _field(conversation_id.encode())
            row_field = (conversation_field if row_id == conversation_id
                         else _field(row_id.encode()))
            aad = head + conversation_field + row_field + _field(str(seq).encode()) + tail
            try:
                padded = decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
            except InvalidTag:
                opened.append(None)
                continue
            size = _unpadded_size(padded)
            opened.append(padded[:size] if size >= 0 else None)
        return opened


def wrap_key(kek: bytes, data_key: bytes, context: bytes) -> bytes:
    """The data key sealed under the key-encryption key; `context` names purpose and key id."""
    nonce = os.urandom(NONCE_BYTES)
    aad = _length_prefixed(b"cove-key-wrap-v1", context)
    return bytes([FORMAT_VERSION]) + nonce + AESGCM(kek).encrypt(nonce, data_key, aad)


def unwrap_key(kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    if len(kek) != KEY_BYTES or len(wrapped) < BLOB_OVERHEAD or wrapped[0] != FORMAT_VERSION:
        raise DecryptionError("unknown wrapped key format")
    aad = _length_prefixed(b"cove-key-wrap-v1", context)
    try:
        data_key = AESGCM(kek).decrypt(
            wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :], aad
        )
    except InvalidTag:
        raise DecryptionError("authentication failed") from None
    if len(data_key) != KEY_BYTES:
        raise DecryptionError("wrapped key has the wrong length")
    return data_key


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters as stored beside a passphrase-wrapped key."""

    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    @classmethod
    def at_floor(cls, salt: bytes | None = None) -> KdfParams:
        """The weakest parameters Cove accepts (fast enough for tests, still floored)."""
        return cls(ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_ITERATIONS, ARGON2_DEFAULT_LANES,
                   salt or secrets.token_bytes(16))

    def with_new_salt(self) -> KdfParams:
        return KdfParams(self.memory_kib, self.iterations, self.lanes, secrets.token_bytes(16))

    def to_dict(self) -> dict[str, object]:
        return {
            "algorithm": "argon2id",
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
            "salt": base64.b64encode(self.salt).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> KdfParams:
        """Parameters read back from storage; raises WeakKdfParameters if out of bounds."""
        if data.get("algorithm") != "argon2id":
            raise WeakKdfParameters("unknown key derivation algorithm")
        try:
            memory = data["memory_kib"]
            iterations = data["iterations"]
            lanes = data["lanes"]
            salt_text = data["salt"]
            if not (isinstance(memory, int) and isinstance(iterations, int)
                    and isinstance(lanes, int) and isinstance(salt_text, str)):
                raise TypeError
            salt = base64.b64decode(salt_text, validate=True)
        except (KeyError, TypeError, ValueError):
            raise WeakKdfParameters("malformed key derivation parameters") from None
        params = cls(memory, iterations, lanes, salt)
        check_kdf_params(params)
        return params


@dataclass(frozen=True)
class KdfCeiling:
    """The most Argon2id work this machine allows for one unlock."""

    memory_kib: int
    iterations: int


def _total_memory_kib() -> int:
    import psutil  # here, not at module level: only a record over the floor needs it

    return int(psutil.virtual_memory().total) // 1024


_seconds_per_kib_pass: dict[int, float] = {}  # lanes -> measured seconds per KiB per pass


def _measured_seconds_per_kib_pass(lanes: int) -> float:
    """How long one pass over one KiB takes here (measured at the floor, once per process)."""
    if lanes not in _seconds_per_kib_pass:
        params = KdfParams(ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_ITERATIONS, lanes,
                           secrets.token_bytes(16))
        started = time.perf_counter()
        Argon2id(salt=params.salt, length=KEY_BYTES, iterations=params.iterations,
                 lanes=lanes, memory_cost=params.memory_kib).derive(b"calibration")
        elapsed = time.perf_counter() - started
        _seconds_per_kib_pass[lanes] = elapsed / (params.memory_kib * params.iterations)
    return _seconds_per_kib_pass[lanes]


def _memory_ceiling_kib() -> int:
    return max(ARGON2_MIN_MEMORY_KIB, min(ARGON2_MAX_MEMORY_KIB, _total_memory_kib() // 4))


def _iterations_ceiling(memory_kib: int, lanes: int) -> int:
    per_pass = _measured_seconds_per_kib_pass(lanes) * memory_kib
    if per_pass <= 0:
        return ARGON2_MAX_ITERATIONS
    return max(ARGON2_MIN_ITERATIONS, min(ARGON2_MAX_ITERATIONS,
                                          int(ARGON2_MAX_SECONDS / per_pass)))


def kdf_ceiling(memory_kib: int, lanes: int = ARGON2_DEFAULT_LANES) -> KdfCeiling:
    """The most memory, and the most passes at `memory_kib`, an unlock may use here."""
    return KdfCeiling(_memory_ceiling_kib(), _iterations_ceiling(memory_kib, lanes))


def check_kdf_params(params: KdfParams) -> None:
    """Refuse parameters under the floor or over the ceiling; never weaken silently.

    Under the floor raises WeakKdfParameters; over the ceiling CostlyKdfParameters, always
    before any hashing, so an edited record can neither weaken the key nor stall an unlock.
    """
    if params.memory_kib < ARGON2_MIN_MEMORY_KIB:
        raise WeakKdfParameters("Argon2id memory is under the floor")
    if params.iterations < ARGON2_MIN_ITERATIONS:
        raise WeakKdfParameters("Argon2id iterations are under the floor")
    if params.lanes < ARGON2_MIN_LANES:
        raise WeakKdfParameters("Argon2id lanes are under the floor")
    if params.memory_kib < 8 * params.lanes:
        raise WeakKdfParameters("Argon2id memory is too small for its lanes")
    if len(params.salt) < ARGON2_MIN_SALT_BYTES:
        raise WeakKdfParameters("Argon2id salt is too short")
    if params.lanes > ARGON2_MAX_LANES:
        raise CostlyKdfParameters(
            f"{params.lanes} lanes, where at most {ARGON2_MAX_LANES} are allowed")
    memory_ceiling = _memory_ceiling_kib()
    if params.memory_kib > memory_ceiling:
        raise CostlyKdfParameters(
            f"{params.memory_kib // 1024} MiB of memory, where at most "
            f"{memory_ceiling // 1024} MiB is allowed here")
    if params.iterations > ARGON2_MAX_ITERATIONS:
        raise CostlyKdfParameters(
            f"{params.iterations} passes, where at most {ARGON2_MAX_ITERATIONS} are allowed")
    if (params.memory_kib * params.iterations > ARGON2_UNMEASURED_WORK
            and params.iterations > _iterations_ceiling(params.memory_kib, params.lanes)):
        raise CostlyKdfParameters(
            f"{params.iterations} passes over {params.memory_kib // 1024} MiB, which would take "
            f"over {ARGON2_MAX_SECONDS:.0f} seconds here")


def normalize_passphrase(passphrase: str) -> bytes:
    # NFC, so the same passphrase typed on systems that compose accents differently still opens.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_kek(passphrase: str, params: KdfParams) -> bytes:
    """The key-encryption key from a passphrase; parameters below the floor are refused."""
    check_kdf_params(params)
    kdf = Argon2id(salt=params.salt, length=KEY_BYTES, iterations=params.iterations,
                   lanes=params.lanes, memory_cost=params.memory_kib)
    return kdf.derive(normalize_passphrase(passphrase))


def _time_derivation(params: KdfParams) -> float:
    started = time.perf_counter()
    derive_kek("calibration", params)
    return time.perf_counter() - started


def calibrate_argon2id(target_seconds: float = 0.5) -> KdfParams:
    """Parameters that take about `target_seconds` here, never below the floor.

    Memory grows first (up to 256 MiB, what a desktop can spare), then passes, since memory
    is what makes guessing on GPUs expensive.
    """
    params = KdfParams.at_floor()
    elapsed = _time_derivation(params)
    most_memory = min(_CALIBRATION_MAX_MEMORY_KIB, _memory_ceiling_kib())
    while elapsed * 2 <= target_seconds and params.memory_kib * 2 <= most_memory:
        params = KdfParams(params.memory_kib * 2, params.iterations, params.lanes, params.salt)
        elapsed = _time_derivation(params)
    per_pass = elapsed / params.iterations
    iterations = round(target_seconds / per_pass) if per_pass > 0 else ARGON2_MIN_ITERATIONS
    iterations = max(ARGON2_MIN_ITERATIONS, min(ARGON2_MAX_ITERATIONS, iterations))
    return KdfParams(params.memory_kib, iterations, params.lanes, secrets.token_bytes(16))
