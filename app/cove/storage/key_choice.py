"""The choices a person makes about the history's key: where it lives, how strong a passphrase is.

Nothing here touches a key, so it imports neither the keyring nor cryptography: the unlock
page, which the window shows first, needs only these names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class KeySource(enum.StrEnum):
    KEYRING = "keyring"
    PASSPHRASE = "passphrase"


class Strength(enum.StrEnum):
    WEAK = "weak"
    FAIR = "fair"
    STRONG = "strong"


@dataclass(frozen=True)
class PassphraseStrength:
    level: Strength
    hint: str


def passphrase_strength(passphrase: str) -> PassphraseStrength:
    """A rough rating for the setup dialog: length counts most, then variety."""
    length = len(passphrase)
    classes = sum(
        (
            any(c.islower() for c in passphrase),
            any(c.isupper() for c in passphrase),
            any(c.isdigit() for c in passphrase),
            any(not c.isalnum() for c in passphrase),
        )
    )
    distinct = len(set(passphrase.lower()))
    if length < 8 or distinct < 5:
        return PassphraseStrength(
            Strength.WEAK, "Too easy to guess: use at least 12 characters, a few unrelated "
            "words work well.")
    if length >= 16 or (length >= 12 and classes >= 3):
        return PassphraseStrength(Strength.STRONG, "Strong: long and hard to guess.")
    if length >= 12 or classes >= 3:
        return PassphraseStrength(
            Strength.FAIR, "Fair: adding another word or two would make it much harder to guess.")
    return PassphraseStrength(
        Strength.WEAK, "Weak: make it longer; a few unrelated words are easy to remember.")
