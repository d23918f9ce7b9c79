"""inspect_gguf on the two real models and on damaged and hostile files."""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cove.models.gguf import (
    KEEP_STRING_BYTES,
    MAX_KEPT_TEXT_BYTES,
    MAX_KEYS,
    MAX_TEMPLATE_BYTES,
    ArraySummary,
    ModelFileError,
    TextSummary,
    ValueType,
    format_parameter_count,
    inspect_gguf,
)
from tests.hubserver import (
    GGUF_ARRAY,
    GGUF_STRING,
    GGUF_UINT64,
    gguf_string,
    kv_string,
    kv_u32,
    make_gguf,
)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- real models ---------------------------------------------------------------------------


def test_starter_model_metadata(starter_model: Path) -> None:
    info = inspect_gguf(starter_model)
    assert info.architecture == "llama"
    assert info.parameters == "135M"
    assert 130_000_000 < info.parameter_count < 140_000_000
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.license == "apache-2.0"
    assert info.has_chat_template
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.version == 3
    assert info.data_offset < 2_000_000  # only the header was needed
    assert info.metadata["tokenizer.ggml.tokens"] == ArraySummary(ValueType.STRING, 49152)
    assert "has_chat_template" in info.summary() and "chat_template" not in info.summary()
    # 30 layers x 3 KV heads x (64 + 64) values x 2 bytes x 4,096 tokens.
    assert info.kv_cache_bytes(4096) == 30 * 3 * 128 * 2 * 4096
    assert info.estimate_ram_bytes(4096) > info.file_size + info.kv_cache_bytes(4096)


def test_gemma_model_metadata(gemma_model: Path) -> None:
    info = inspect_gguf(gemma_model)
    assert info.architecture == "gemma3"
    assert info.name == "Gemma 3 270m"
    assert info.parameters == "270M"
    assert info.quantization == "Q4_K_M"
    assert info.context_length == 32768
    assert info.license == "gemma"
    assert not info.has_chat_template and info.chat_template is None


def test_reads_only_the_header(gemma_model: Path, starter_model: Path) -> None:
    """Model files are inspected quickly and in a few MB, without reading their tensor data."""
    started = time.perf_counter()
    info = inspect_gguf(gemma_model)  # 250 MB, a 262,144-entry vocabulary
    assert time.perf_counter() - started < 5
    assert info.data_offset < info.file_size // 10
    tracemalloc.start()
    try:
        inspect_gguf(starter_model)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # reading the 98 MB file whole would show here


def test_parameter_labels() -> None:
    assert format_parameter_count(134_515_008) == "135M"
    assert format_parameter_count(1_235_814_400) == "1.2B"
    assert format_parameter_count(8_030_261_248) == "8B"
    assert format_parameter_count(950) == "950"


def test_synthetic_file_is_sound(tmp_path: Path) -> None:
    info = inspect_gguf(write(tmp_path / "ok.gguf", make_gguf(file_type=1)))
    assert info.quantization == "F16"
    assert info.parameter_count == 64 * 16
    assert info.parameters == "1K"


def test_quantization_from_tensors_when_unlabelled(tmp_path: Path) -> None:
    info = inspect_gguf(write(tmp_path / "nolabel.gguf", make_gguf(file_type=None)))
    assert info.quantization == "F32"


# -- damaged and hostile files -------------------------------------------------------------


def test_truncated_real_model(tmp_path: Path, starter_model: Path) -> None:
    with starter_model.open("rb") as handle:
        head = handle.read(1_000_000)  # the header alone is about 1.8 MB
    with pytest.raises(ModelFileError, match="incomplete"):
        inspect_gguf(write(tmp_path / "cut.gguf", head))


def test_truncated_tensor_data(tmp_path: Path) -> None:
    data = make_gguf(tensors=[("w", (256, 256))])
    with pytest.raises(ModelFileError, match=r"incomplete.*tensor 'w'"):
        inspect_gguf(write(tmp_path / "short.gguf", data[:-1000]))


def test_garbage(tmp_path: Path) -> None:
    garbage = bytes((i * 7919) % 251 for i in range(100_000))
    with pytest.raises(ModelFileError, match="not a GGUF"):
        inspect_gguf(write(tmp_path / "garbage.gguf", garbage))


def test_garbage_after_a_valid_signature(tmp_path: Path) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 1, 3) + bytes(range(256)) * 40
    with pytest.raises(ModelFileError, match="damaged"):
        inspect_gguf(write(tmp_path / "garbage.gguf", data))


def test_absurd_tensor_dimensions(tmp_path: Path) -> None:
    data = make_gguf(tensors=[("w", (64, 16))])
    # Rewrite the shape in place: 2^40 x 2^20 floats, far more than the file holds.
    at = data.index(struct.pack("<QQ", 64, 16))
    data = data[:at] + struct.pack("<QQ", 2**40, 2**20) + data[at + 16 :]
    with pytest.raises(
        ModelFileError, match=r"tensor 'w' claims dimensions .* more than the whole"
    ):
        inspect_gguf(write(tmp_path / "huge-tensor.gguf", data))


def test_too_many_dimensions(tmp_path: Path) -> None:
    data = make_gguf(tensors=[("w", (2, 2, 2, 2, 2))])
    with pytest.raises(ModelFileError, match="5 dimensions"):
        inspect_gguf(write(tmp_path / "5d.gguf", data))


def test_absurd_key_count(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError,
                       match=r"damaged or not a complete model \(its header is invalid\)"):
        inspect_gguf(write(tmp_path / "keys.gguf", make_gguf(key_count=MAX_KEYS + 1)))


def test_key_count_larger_than_the_file(tmp_path: Path) -> None:
    # Under the hard limit and the file's byte count, but 50,000 keys need 650 KB at least.
    data = make_gguf(key_count=50_000, tensors=[("w", (256, 256))])
    with pytest.raises(ModelFileError, match="50,000 metadata keys"):
        inspect_gguf(write(tmp_path / "keys.gguf", data))


def test_huge_string_length(tmp_path: Path) -> None:
    hostile = gguf_string("general.description") + struct.pack("<IQ", GGUF_STRING, 2**62)
    data = make_gguf(extra_kv=[hostile], tensors=[])
    with pytest.raises(ModelFileError, match=r"'general.description' claims to be .* bytes long"):
        inspect_gguf(write(tmp_path / "string.gguf", data))


def test_huge_array_length(tmp_path: Path) -> None:
    hostile = gguf_string("tokenizer.ggml.tokens") + struct.pack(
        "<IIQ", GGUF_ARRAY, GGUF_STRING, 2**40
    )
    data = make_gguf(extra_kv=[hostile], tensors=[])
    with pytest.raises(ModelFileError, match="claims 1,099,511,627,776 elements"):
        inspect_gguf(write(tmp_path / "array.gguf", data))


def test_huge_key_length(tmp_path: Path) -> None:
    data = make_gguf(extra_kv=[struct.pack("<Q", 10**12)], tensors=[])
    with pytest.raises(ModelFileError, match="a metadata key claims"):
        inspect_gguf(write(tmp_path / "key.gguf", data))


def test_unknown_value_type(tmp_path: Path) -> None:
    hostile = gguf_string("general.odd") + struct.pack("<I", 77) + b"\0" * 16
    with pytest.raises(ModelFileError, match="unknown value type"):
        inspect_gguf(write(tmp_path / "type.gguf", make_gguf(extra_kv=[hostile])))


def test_duplicate_key(tmp_path: Path) -> None:
    data = make_gguf(extra_kv=[kv_string("general.name", "Again")])
    with pytest.raises(ModelFileError, match="appears twice"):
        inspect_gguf(write(tmp_path / "dup.gguf", data))


def test_deeply_nested_arrays(tmp_path: Path) -> None:
    nested = gguf_string("general.nest") + struct.pack("<I", GGUF_ARRAY)
    nested += struct.pack("<IQ", GGUF_ARRAY, 1) * 6 + struct.pack("<IQ", GGUF_UINT64, 0)
    with pytest.raises(ModelFileError, match="nests arrays"):
        inspect_gguf(write(tmp_path / "nest.gguf", make_gguf(extra_kv=[nested], tensors=[])))


def test_unknown_tensor_type(tmp_path: Path) -> None:
    data = make_gguf(tensors=[("w", (64, 16))])
    at = data.index(struct.pack("<QQ", 64, 16)) + 16
    data = data[:at] + struct.pack("<I", 99) + data[at + 4 :]
    with pytest.raises(ModelFileError, match=r"tensor type Cove does not know \(99"):
        inspect_gguf(write(tmp_path / "ttype.gguf", data))


def test_overlapping_tensors(tmp_path: Path) -> None:
    data = make_gguf(tensors=[("a", (64, 16)), ("b", (64, 16))])
    second = data.index(b"\x01\x00\x00\x00\x00\x00\x00\x00b")  # name length 1, "b"
    at = data.index(struct.pack("<I", 0), second + 9 + 4 + 16) + 4  # b's offset field
    data = data[:at] + struct.pack("<Q", 0) + data[at + 8 :]
    with pytest.raises(ModelFileError, match=r"tensor 'b' starts at byte 0 .* end at byte 4,096"):
        inspect_gguf(write(tmp_path / "overlap.gguf", data))


def test_too_many_tensors_to_read(tmp_path: Path) -> None:
    data = make_gguf(tensor_count=150_000, tensors=[("w", (1024, 1024))])  # 4 MB: it "fits"
    with pytest.raises(ModelFileError, match="150,000 tensors"):
        inspect_gguf(write(tmp_path / "many.gguf", data))


def test_bad_alignment(tmp_path: Path) -> None:
    data = make_gguf(extra_kv=[kv_u32("general.alignment", 48)])
    with pytest.raises(ModelFileError, match="not a power of two"):
        inspect_gguf(write(tmp_path / "align.gguf", data))


def test_missing_architecture(tmp_path: Path) -> None:
    data = make_gguf().replace(b"general.architecture", b"general.architectur_")
    with pytest.raises(ModelFileError, match="architecture"):
        inspect_gguf(write(tmp_path / "noarch.gguf", data))


_SOUND = make_gguf(tensors=[("a", (32, 4)), ("b", (16,))])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SOUND) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(4, len(_SOUND)),
)
def test_mutated_files_fail_cleanly(
    tmp_path: Path, flips: list[tuple[int, int]], length: int
) -> None:
    """Random byte changes and cuts give a result or ModelFileError, never anything else."""
    data = bytearray(_SOUND[:length])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    path = write(tmp_path / "fuzz.gguf", bytes(data))
    try:
        inspect_gguf(path)
    except ModelFileError as error:
        assert str(error)


def sparse_gguf_with_long_texts(path: Path, count: int, length: int) -> Path:
    """A GGUF whose metadata holds `count` text values of `length` bytes each, written as
    holes (the file is sparse: gigabytes long, a few KB on disk)."""
    head = [kv_string("general.architecture", "llama"), kv_u32("llama.context_length", 2048)]
    with path.open("wb") as handle:
        handle.write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(head) + count))
        for part in head:
            handle.write(part)
        for index in range(count):
            handle.write(gguf_string(f"hostile.text.{index}"))
            handle.write(struct.pack("<IQ", GGUF_STRING, length))
            handle.seek(length, 1)  # the text: zero bytes, never written
        handle.write(b"\0" * 32)  # alignment padding before the (empty) data section
    return path


def test_long_metadata_texts_are_summarised_not_kept(tmp_path: Path) -> None:
    big = 16 * 1024 * 1024
    path = sparse_gguf_with_long_texts(tmp_path / "hostile.gguf", 120, big)  # 2 GB of text
    tracemalloc.start()
    try:
        info = inspect_gguf(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # kept whole, the texts would cost 2 GB
    assert info.metadata["hostile.text.0"] == TextSummary(big)
    assert info.metadata["general.architecture"] == "llama"  # short texts are kept


def test_kept_text_is_capped_in_total(tmp_path: Path) -> None:
    path = sparse_gguf_with_long_texts(tmp_path / "many.gguf", 400, KEEP_STRING_BYTES)
    info = inspect_gguf(path)
    kept = [value for key, value in info.metadata.items()
            if key.startswith("hostile.") and isinstance(value, str)]
    assert sum(len(text) for text in kept) <= MAX_KEPT_TEXT_BYTES
    assert isinstance(info.metadata["hostile.text.399"], TextSummary)


def test_a_chat_template_over_its_limit_is_refused(tmp_path: Path) -> None:
    template = "{{ 'x' }}" * (MAX_TEMPLATE_BYTES // 9 + 1)
    with pytest.raises(ModelFileError, match=r"chat template .* Cove accepts at most"):
        inspect_gguf(write(tmp_path / "t.gguf", make_gguf(chat_template=template)))
    fine = "{{ 'x' }}" * 10_000  # 90 KB: longer than other texts may be, still a template
    assert inspect_gguf(write(tmp_path / "ok.gguf", make_gguf(chat_template=fine))
                        ).chat_template == fine


def test_a_folder_or_a_pipe_named_gguf_is_named_for_what_it_is(tmp_path: Path) -> None:
    import os

    from cove.models.gguf import check_gguf_file

    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    with pytest.raises(ModelFileError, match="is a folder"):
        check_gguf_file(folder)
    if hasattr(os, "mkfifo"):
        pipe = tmp_path / "pipe.gguf"
        os.mkfifo(pipe)
        with pytest.raises(ModelFileError, match="is not a regular file"):  # and no hang
            check_gguf_file(pipe)
