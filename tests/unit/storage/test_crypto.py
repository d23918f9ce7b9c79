"""Row sealing, padding, key wrapping and the Argon2id floor."""

from __future__ import annotations

import itertools
import time
import unicodedata

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cove.storage import crypto
from cove.storage.crypto import (
    ARGON2_MIN_ITERATIONS,
    ARGON2_MIN_MEMORY_KIB,
    DecryptionError,
    KdfParams,
    RowCipher,
    WeakKdfParameters,
    calibrate_argon2id,
    derive_kek,
    new_data_key,
    pad,
    padded_size,
    unpad,
    unwrap_key,
    wrap_key,
)

ROW = ("messages", "c0ffee0000000001", "abcdef0123456789", 3)


def test_sealed_row_opens_to_the_same_bytes_and_each_seal_uses_a_fresh_nonce() -> None:
    cipher = RowCipher(new_data_key(), "k1")
    first = cipher.seal(*ROW, b"hello")
    second = cipher.seal(*ROW, b"hello")
    assert first != second
    assert first[1:13] != second[1:13]
    assert cipher.open(*ROW, first) == b"hello"
    assert cipher.open(*ROW, second, key_id="k1") == b"hello"


@pytest.mark.parametrize(
    "moved",
    [
        ("conversations", *ROW[1:]),
        (ROW[0], "c0ffee0000000002", *ROW[2:]),
        (*ROW[:2], "abcdef0123456780", ROW[3]),
        (*ROW[:3], 4),
    ],
    ids=["other table", "other conversation", "other row", "other seq"],
)
def test_a_row_moved_anywhere_else_fails_to_open(moved: tuple[str, str, str, int]) -> None:
    cipher = RowCipher(new_data_key(), "k1")
    blob = cipher.seal(*ROW, b"secret")
    with pytest.raises(DecryptionError):
        cipher.open(*moved, blob)


def test_another_key_or_key_id_fails_to_open() -> None:
    data_key = new_data_key()
    blob = RowCipher(data_key, "k1").seal(*ROW, b"secret")
    with pytest.raises(DecryptionError):
        RowCipher(new_data_key(), "k1").open(*ROW, blob)
    with pytest.raises(DecryptionError):
        RowCipher(data_key, "k2").open(*ROW, blob)
    with pytest.raises(DecryptionError):
        RowCipher(data_key, "k1").open(*ROW, blob, key_id="k2")


def test_every_single_flipped_byte_fails_to_open() -> None:
    cipher = RowCipher(new_data_key(), "k1")
    blob = cipher.seal(*ROW, b"a short message")
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.open(*ROW, bytes(damaged))
    with pytest.raises(DecryptionError):
        cipher.open(*ROW, blob[:-1])


def test_ciphertext_sizes_only_show_the_size_bucket() -> None:
    cipher = RowCipher(new_data_key(), "k1")
    sizes = {len(cipher.seal(*ROW, b"x" * n)) - crypto.BLOB_OVERHEAD for n in range(0, 9000, 7)}
    assert sizes == {256, 512, 1024, 2048, 4096, 8192, 12288}
    assert padded_size(0) == 256
    assert padded_size(255) == 256
    assert padded_size(256) == 512
    assert padded_size(4095) == 4096
    assert padded_size(4096) == 8192
    assert padded_size(1_000_000) % 4096 == 0
    assert padded_size(1_000_000) - 1_000_000 <= 4096


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x80", b"abc\x00\x00", b"\x80" * 300])
def test_padding_round_trips_data_ending_in_zeros_or_markers(data: bytes) -> None:
    assert unpad(pad(data)) == data
    assert len(pad(data)) == padded_size(len(data))


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"abc", b"abc\x80\x00\x01\x00",
                                  b"\x80\x01", b"x\x80\x00\x80\x7f"])
def test_bad_padding_is_refused(data: bytes) -> None:
    with pytest.raises(DecryptionError):
        unpad(data)


def test_unpadding_agrees_with_stripping_the_zeros_then_the_marker() -> None:
    """The marker search against the plain definition, on every short mix of the bytes that
    matter (zeros, markers, others), well and badly padded."""
    def stripped(data: bytes) -> bytes | None:
        rest = data.rstrip(b"\x00")
        return rest[:-1] if rest and rest[-1] == 0x80 else None

    for length in range(7):
        for data in itertools.product(b"\x00\x80\x01a", repeat=length):
            plain = bytes(data)
            try:
                got: bytes | None = unpad(plain)
            except DecryptionError:
                got = None
            assert got == stripped(plain), plain


def test_an_authentic_row_without_its_padding_does_not_open() -> None:
    key, nonce = new_data_key(), bytes(crypto.NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, b"text\x80\x00\x07", crypto.row_aad(*ROW, "k1"))
    blob = bytes([crypto.FORMAT_VERSION]) + nonce + sealed
    cipher = RowCipher(key, "k1")
    assert cipher.open_many(ROW[0], [(*ROW[1:], "k1", blob)]) == [None]
    with pytest.raises(DecryptionError):
        cipher.open(*ROW, blob)


def test_wrapped_key_opens_only_with_its_kek_and_context() -> None:
    kek, data_key = new_data_key(), new_data_key()
    wrapped = wrap_key(kek, data_key, b"data-key:k1")
    assert unwrap_key(kek, wrapped, b"data-key:k1") == data_key
    with pytest.raises(DecryptionError):
        unwrap_key(new_data_key(), wrapped, b"data-key:k1")
    with pytest.raises(DecryptionError):
        unwrap_key(kek, wrapped, b"data-key:k2")


@pytest.mark.parametrize(
    "params",
    [
        KdfParams(ARGON2_MIN_MEMORY_KIB - 1, 3, 4, b"s" * 16),
        KdfParams(ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_ITERATIONS - 1, 4, b"s" * 16),
        KdfParams(ARGON2_MIN_MEMORY_KIB, 3, 0, b"s" * 16),
        KdfParams(ARGON2_MIN_MEMORY_KIB, 3, 4, b"s" * 8),
        KdfParams(64 * 1024 * 1024, 3, 4, b"s" * 16),  # 64 GiB: a tampered file's trap
    ],
    ids=["memory", "iterations", "lanes", "salt", "absurd memory"],
)
def test_parameters_outside_the_floor_are_refused_not_used(params: KdfParams) -> None:
    started = time.perf_counter()
    with pytest.raises(WeakKdfParameters):
        derive_kek("passphrase", params)
    with pytest.raises(WeakKdfParameters):
        KdfParams.from_dict(params.to_dict())
    assert time.perf_counter() - started < 0.05  # refused before any hashing


def test_parameters_round_trip_and_the_floor_itself_is_accepted() -> None:
    params = KdfParams.at_floor()
    assert params.memory_kib == 64 * 1024
    assert KdfParams.from_dict(params.to_dict()) == params
    assert len(derive_kek("passphrase", params)) == 32
    with pytest.raises(WeakKdfParameters):
        KdfParams.from_dict({**params.to_dict(), "algorithm": "pbkdf2"})
    with pytest.raises(WeakKdfParameters):
        KdfParams.from_dict({**params.to_dict(), "iterations": "3"})


def test_the_same_passphrase_in_either_unicode_form_gives_the_same_key() -> None:
    params = KdfParams.at_floor()
    composed = unicodedata.normalize("NFC", "café crème")
    decomposed = unicodedata.normalize("NFD", "café crème")
    assert composed != decomposed
    assert derive_kek(composed, params) == derive_kek(decomposed, params)
    assert derive_kek(composed, params) != derive_kek("cafe creme", params)


def test_calibration_never_goes_below_the_floor() -> None:
    params = calibrate_argon2id(target_seconds=0.01)
    assert params.memory_kib >= ARGON2_MIN_MEMORY_KIB
    assert params.iterations >= ARGON2_MIN_ITERATIONS
    assert len(params.salt) >= 16


def test_calibration_lands_near_its_target() -> None:
    params = calibrate_argon2id(target_seconds=0.5)
    started = time.perf_counter()
    derive_kek("passphrase", params)
    elapsed = time.perf_counter() - started
    assert params.memory_kib >= ARGON2_MIN_MEMORY_KIB
    assert 0.15 <= elapsed <= 1.5


# ---- the ceiling: an edited record must not stall the unlock -------------------------------

def test_a_record_asking_for_4_gib_and_64_passes_is_refused_before_any_hashing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Even on a machine with 64 GiB of RAM, 4 GiB is over the 1 GiB ceiling.
    monkeypatch.setattr(crypto, "_total_memory_kib", lambda: 64 * 1024 * 1024)
    params = KdfParams(4 * 1024 * 1024, 64, 4, b"s" * 16)
    started = time.perf_counter()
    with pytest.raises(crypto.CostlyKdfParameters, match="4096 MiB of memory"):
        KdfParams.from_dict(params.to_dict())
    with pytest.raises(crypto.CostlyKdfParameters):
        derive_kek("passphrase", params)
    assert time.perf_counter() - started < 0.05


def test_the_memory_ceiling_is_a_quarter_of_this_machines_ram(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_total_memory_kib", lambda: 1024 * 1024)  # a 1 GiB machine
    with pytest.raises(crypto.CostlyKdfParameters, match="at most 256 MiB"):
        crypto.check_kdf_params(KdfParams(512 * 1024, 2, 4, b"s" * 16))
    crypto.check_kdf_params(KdfParams(256 * 1024, 2, 4, b"s" * 16))


def test_passes_are_capped_at_about_ten_seconds_of_this_machines_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine that takes 0.5 s for one pass over 256 MiB: 20 passes fit in 10 s, 21 do not.
    monkeypatch.setattr(crypto, "_total_memory_kib", lambda: 16 * 1024 * 1024)
    monkeypatch.setattr(crypto, "_seconds_per_kib_pass", {4: 0.5 / (256 * 1024)})
    crypto.check_kdf_params(KdfParams(256 * 1024, 20, 4, b"s" * 16))
    with pytest.raises(crypto.CostlyKdfParameters, match="over 10 seconds"):
        crypto.check_kdf_params(KdfParams(256 * 1024, 21, 4, b"s" * 16))
    assert crypto.kdf_ceiling(256 * 1024, 4) == crypto.KdfCeiling(1024 * 1024, 20)  # 1 GiB


def test_the_ceiling_measures_this_machine_only_for_records_that_ask_for_much(
        monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[int] = []
    monkeypatch.setattr(crypto, "_seconds_per_kib_pass", {})
    real = crypto._measured_seconds_per_kib_pass
    def measuring(lanes: int) -> float:
        measured.append(lanes)
        return real(lanes)

    monkeypatch.setattr(crypto, "_measured_seconds_per_kib_pass", measuring)
    crypto.check_kdf_params(KdfParams(256 * 1024, 4, 4, b"s" * 16))  # what calibration makes
    assert measured == []
    crypto.check_kdf_params(KdfParams(128 * 1024, 12, 4, b"s" * 16))
    assert measured == [4]
