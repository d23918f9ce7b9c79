"""The recovery key: a second wrap of the data key, for when the keyring item or passphrase is lost.

A recovery key is 160 random bits shown as eight groups of five base32 characters (the last
group carries a check, so a typo is told apart from a wrong key). It has as much entropy as
the data key needs from it, so the key-encryption key comes from HKDF, not Argon2id. The
wrapped data key is kept as one more ``meta`` row (``recovery_record``), beside the key record;
making a new recovery key replaces that row, which revokes the old key; removing it deletes the
row. Nothing here touches the file: ``ConversationStore`` reads and writes the row.

Public API:

- ``RecoveryKey``: ``.text`` (``ABCDE-FGHIJ-…``), ``.groups``; ``new_recovery_key()``;
  ``parse_recovery_key(text)`` (spaces, dashes, case and look-alike digits forgiven;
  ``RecoveryKeyMistyped`` otherwise).
- ``RecoveryRecord``: ``.to_json()`` / ``RecoveryRecord.from_json(text)``;
  ``wrap_for_recovery(store_id, key_id, data_key, key) -> RecoveryRecord``;
  ``unwrap_with_recovery_key(record, key) -> data key`` (``WrongRecoveryKey`` if it does not fit).
- ``confirmation_groups(count=2) -> tuple[int, ...]``: which groups (0-based) to ask back.
- ``META_RECOVERY_RECORD``: the ``meta`` row's name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cove.storage.crypto import KEY_BYTES, DecryptionError, unwrap_key, wrap_key
from cove.storage.keys import KeyAccessError

log = logging.getLogger(__name__)

META_RECOVERY_RECORD = "recovery_record"
SECRET_BYTES = 20  # 160 bits
CHECK_BYTES = 5  # 40 bits of SHA-256: eight groups of five characters in all
GROUP_CHARS = 5
GROUPS = (SECRET_BYTES + CHECK_BYTES) * 8 // 5 // GROUP_CHARS
_PURPOSE = "recovery"
# Characters people misread for base32 ones (base32 has no 0, 1 or 8).
_LOOK_ALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})
_SEPARATORS = re.compile(r"[\s\-_.]+")


class RecoveryKeyMistyped(KeyAccessError):
    """The text is not a recovery key: wrong length, a character base32 lacks, or a typo."""


class WrongRecoveryKey(KeyAccessError):
    def __init__(self) -> None:
        super().__init__("That recovery key does not open this history. It may be an older "
                         "one that a newer recovery key replaced.")


class NoRecoveryKey(KeyAccessError):
    def __init__(self) -> None:
        super().__init__("This history has no recovery key.")


class RecoveryRecordDamaged(KeyAccessError):
    def __init__(self) -> None:
        super().__init__("The stored recovery record is damaged, so no recovery key can open "
                         "this history.")


def _check(secret: bytes) -> bytes:
    return hashlib.sha256(b"cove-recovery-check-v1" + secret).digest()[:CHECK_BYTES]


@dataclass(frozen=True)
class RecoveryKey:
    secret: bytes

    @property
    def text(self) -> str:
        return "-".join(self.groups)

    @property
    def groups(self) -> list[str]:
        encoded = base64.b32encode(self.secret + _check(self.secret)).decode("ascii")
        return [encoded[i:i + GROUP_CHARS] for i in range(0, len(encoded), GROUP_CHARS)]

    def __repr__(self) -> str:  # never in a log or a traceback
        return "RecoveryKey(…)"


def new_recovery_key() -> RecoveryKey:
    return RecoveryKey(secrets.token_bytes(SECRET_BYTES))


def parse_recovery_key(text: str) -> RecoveryKey:
    """The key in `text`, forgiving case, spaces, dashes and 0/1/8 typed for O/I/B."""
    cleaned = _SEPARATORS.sub("", text).upper().translate(_LOOK_ALIKES)
    if len(cleaned) != GROUPS * GROUP_CHARS:
        raise RecoveryKeyMistyped(
            f"A recovery key has {GROUPS} groups of {GROUP_CHARS} letters and digits; this has "
            f"{len(cleaned)} characters. Check it against your copy.")
    try:
        raw = base64.b32decode(cleaned)
    except ValueError:
        raise RecoveryKeyMistyped(
            "A recovery key has only the letters A to Z and the digits 2 to 7. Check it "
            "against your copy.") from None
    secret, check = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    if not secrets.compare_digest(check, _check(secret)):
        raise RecoveryKeyMistyped("That recovery key has a typo: check each group against "
                                  "your copy.")
    return RecoveryKey(secret)


def confirmation_groups(count: int = 2) -> tuple[int, ...]:
    """`count` different groups, in order, to ask back when a new key is confirmed."""
    chosen: set[int] = set()
    while len(chosen) < count:
        chosen.add(secrets.randbelow(GROUPS))
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class RecoveryRecord:
    """The data key wrapped by a recovery key; stored in clear, holds nothing secret."""

    store_id: str
    key_id: str
    recovery_id: str
    wrapped_key: bytes

    def wrap_context(self) -> bytes:
        return json.dumps({"purpose": _PURPOSE, "store_id": self.store_id,
                           "key_id": self.key_id, "recovery_id": self.recovery_id},
                          sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps({"version": 1, "store_id": self.store_id, "key_id": self.key_id,
                           "recovery_id": self.recovery_id,
                           "wrapped_key": base64.b64encode(self.wrapped_key).decode("ascii")},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RecoveryRecord:
        try:
            data = json.loads(text)
            if data["version"] != 1:
                raise ValueError
            return cls(str(data["store_id"]), str(data["key_id"]), str(data["recovery_id"]),
                       base64.b64decode(data["wrapped_key"], validate=True))
        except (KeyError, TypeError, ValueError):
            raise RecoveryRecordDamaged() from None


def _kek(key: RecoveryKey, store_id: str, recovery_id: str) -> bytes:
    # 160 random bits need no stretching; HKDF binds the KEK to this store and this key.
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=recovery_id.encode(),
                info=f"cove-recovery-kek-v1:{store_id}".encode()).derive(key.secret)


def wrap_for_recovery(store_id: str, key_id: str, data_key: bytes,
                      key: RecoveryKey) -> RecoveryRecord:
    recovery_id = secrets.token_hex(8)
    unsealed = RecoveryRecord(store_id, key_id, recovery_id, b"")
    wrapped = wrap_key(_kek(key, store_id, recovery_id), data_key, unsealed.wrap_context())
    return RecoveryRecord(store_id, key_id, recovery_id, wrapped)


def unwrap_with_recovery_key(record: RecoveryRecord, key: RecoveryKey) -> bytes:
    try:
        return unwrap_key(_kek(key, record.store_id, record.recovery_id), record.wrapped_key,
                          record.wrap_context())
    except DecryptionError:
        log.info("wrong recovery key")
        raise WrongRecoveryKey() from None
