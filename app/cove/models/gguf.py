"""Checking and reading a GGUF file's header and metadata before llama.cpp may read it."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from cove.models import memory

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
# Far above any real model (the largest have a few thousand tensors and a few hundred keys),
# far below what would make a parser allocate gigabytes.
MAX_TENSORS = 1_000_000
MAX_KEYS = 100_000

# Limits for the full read. Real files stay far inside each: keys are under 100 bytes, chat
# templates under 100 KB, vocabularies under 300,000 entries, tensor names under 64 bytes.
# Each limit keeps a hostile file from costing more than a second or two and a few MB.
MAX_KEY_BYTES = 4096
MAX_STRING_BYTES = 16 * 1024 * 1024
MAX_ARRAY_DEPTH = 3
MAX_STRINGS_TOTAL = 4_000_000  # string elements summed over every array in the file
MAX_TENSOR_NAME_BYTES = 1024
MAX_INSPECT_TENSORS = 100_000  # a hostile file at this limit takes about a second to read
MAX_DIMS = 4  # GGML_MAX_DIMS
# Arrays longer than this are summarised (type and length), not kept: vocabularies and
# merge lists are large and the app never needs them.
KEEP_ARRAY_ELEMENTS = 64
# Text values longer than this are summarised (their length), not kept: no key the app reads
# is that long, and a hostile file with many 16 MB strings must not cost gigabytes. The chat
# template is the one long text the app needs; it has its own limit, and a longer one is
# refused. What is kept is capped in total, too.
KEEP_STRING_BYTES = 64 * 1024
MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_KEPT_TEXT_BYTES = 8 * 1024 * 1024
TEMPLATE_KEY = "tokenizer.chat_template"
DEFAULT_ALIGNMENT = 32
_READ_BUFFER = 1024 * 1024
_INT64_MAX = 2**63 - 1


class ModelFileError(Exception):
    """A model file that cannot be used; the message says why and what to do."""


class ValueType(IntEnum):
    """The GGUF metadata value types (gguf.md, "GGUFValueType")."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALARS: dict[int, struct.Struct] = {
    ValueType.UINT8: struct.Struct("<B"),
    ValueType.INT8: struct.Struct("<b"),
    ValueType.UINT16: struct.Struct("<H"),
    ValueType.INT16: struct.Struct("<h"),
    ValueType.UINT32: struct.Struct("<I"),
    ValueType.INT32: struct.Struct("<i"),
    ValueType.FLOAT32: struct.Struct("<f"),
    ValueType.BOOL: struct.Struct("<B"),
    ValueType.UINT64: struct.Struct("<Q"),
    ValueType.INT64: struct.Struct("<q"),
    ValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TYPE_OFFSET = struct.Struct("<IQ")

# ggml tensor types: id -> (name, elements per block, bytes per block). From ggml.h and
# gguf-py's GGML_QUANT_SIZES; ids 4, 5 and 31-33, 36-38 were removed from the format.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}

# llama.h's llama_ftype, the value of `general.file_type`: what people call the quantization.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    41: "Q2_0",
}


@dataclass(frozen=True)
class ArraySummary:
    """A metadata array too long to keep (a vocabulary, say): its element type and length."""

    element_type: ValueType
    length: int


@dataclass(frozen=True)
class TextSummary:
    """A metadata text too long to keep: its length in bytes."""

    length: int


MetadataValue = int | float | bool | str | tuple[object, ...] | ArraySummary | TextSummary


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.ggml_type][0]

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GGUFInfo:
    """What Cove knows about a model file after reading its header, never its tensor data."""

    path: Path
    file_size: int
    version: int
    tensor_count: int
    alignment: int
    data_offset: int
    architecture: str
    name: str | None
    size_label: str | None
    parameter_count: int
    quantization: str | None
    file_type: int | None
    context_length: int | None
    license: str | None
    chat_template: str | None
    metadata: Mapping[str, MetadataValue] = field(repr=False)
    tensors: tuple[TensorInfo, ...] = field(repr=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template and self.chat_template.strip())

    @property
    def parameters(self) -> str:
        """A short size for people ("135M", "8B"): the file's own label, else counted."""
        return self.size_label or format_parameter_count(self.parameter_count)

    def kv_cache_bytes(self, n_ctx: int = memory.REFERENCE_CONTEXT) -> int | None:
        """Memory of llama.cpp's key/value cache for `n_ctx` tokens, if the header says."""
        return memory.kv_cache_bytes(self.metadata, n_ctx)

    def estimate_ram_bytes(self, n_ctx: int = memory.REFERENCE_CONTEXT) -> int:
        """RAM to run this file at `n_ctx` tokens (see memory.estimate_ram_bytes)."""
        return memory.estimate_ram_bytes(self.file_size, n_ctx, self.metadata)

    def summary(self) -> dict[str, object]:
        """The facts worth storing (registry, logs): no template text, no vocabulary."""
        return {
            "architecture": self.architecture,
            "name": self.name,
            "parameters": self.parameters,
            "parameter_count": self.parameter_count,
            "quantization": self.quantization,
            "context_length": self.context_length,
            "license": self.license,
            "has_chat_template": self.has_chat_template,
            "gguf_version": self.version,
            "tensor_count": self.tensor_count,
        }


def format_parameter_count(count: int) -> str:
    """135_000_000 -> "135M", 1_235_814_400 -> "1.2B"."""
    for threshold, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= threshold:
            value = count / threshold
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + suffix
    return str(count)


def _open_error(path: Path, error: OSError) -> ModelFileError:
    return ModelFileError(
        f"Cove cannot read the model file {path} ({error.strerror or error}). "
        "Check its permissions."
    )


def check_gguf_file(path: str | Path) -> Path:
    """Raise ModelFileError unless `path` is a readable file that starts like a sound GGUF."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"The model file {path} does not exist. Check the path.")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file. Choose a .gguf file.")
    if not path.is_file():  # opening a pipe would wait for a writer, a device for ever
        raise ModelFileError(f"{path} is not a regular file (it is a pipe, socket or device), "
                             "so it cannot be a model file. Choose a .gguf file.")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(24)
    except OSError as error:
        raise _open_error(path, error) from error
    if len(header) < 24 or header[:4] != GGUF_MAGIC:
        if path.suffix.lower() == ".gguf":  # named like one: say what is wrong with it
            raise ModelFileError(
                f"{path.name} is not a GGUF model file, though its name ends in .gguf: it "
                "does not start the way every GGUF file does. It may be damaged, cut short "
                "at the start, or another kind of file renamed."
            )
        raise ModelFileError(
            f"{path.name} is not a GGUF model file. Cove runs models in the GGUF format "
            "(files ending in .gguf)."
        )
    version, tensors, keys = struct.unpack("<IQQ", header[4:24])
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{path.name} uses GGUF version {version}, which Cove cannot read "
            f"(it reads versions {', '.join(map(str, SUPPORTED_VERSIONS))})."
        )
    if tensors > MAX_TENSORS or keys > MAX_KEYS or tensors + keys > size:
        raise ModelFileError(
            f"{path.name} is damaged or not a complete model (its header is invalid). If "
            "you downloaded it, download it again."
        )
    return path


def inspect_gguf(path: str | Path) -> GGUFInfo:
    """Check the whole header of a GGUF file and read its metadata; never its tensor data.

    Every count and length is checked against the file's size and against fixed limits before
    anything is read or allocated, so a truncated, damaged or hostile file raises
    ModelFileError with a message a person can act on, quickly and in little memory.
    """
    path = check_gguf_file(path)
    try:
        with path.open("rb", buffering=_READ_BUFFER) as handle:
            return _Parser(path, handle).parse()
    except ModelFileError:
        raise
    except OSError as error:
        raise _open_error(path, error) from error
    except (struct.error, OverflowError, MemoryError, ValueError) as error:
        # The checks above should leave nothing for these; if one slips through, it is still
        # a damaged file, not a crash.
        raise ModelFileError(
            f"{path.name} is damaged ({type(error).__name__} while reading its header). "
            "Download it again."
        ) from error


class _Parser:
    """One pass over a GGUF header with every length checked before it is trusted."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self.handle = handle
        self.size = _file_size(handle)
        self.pos = 0
        self.strings_seen = 0
        self.text_kept = 0  # bytes of metadata text held in memory
        self.tensors: list[TensorInfo] = []

    # -- errors --------------------------------------------------------------------------

    def damaged(self, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path.name} is damaged: {why}. Download it again.")

    def too_long(self, why: str) -> ModelFileError:
        """A length the rest of the file cannot hold: cut short, or a lie."""
        return ModelFileError(
            f"{self.path.name} is incomplete or damaged: {why}. If it was downloaded or "
            "copied, the transfer was probably cut short; download it again."
        )

    def truncated(self, what: str) -> ModelFileError:
        return ModelFileError(
            f"{self.path.name} is incomplete: it ends ({self.size} bytes) inside {what}. "
            "The download or copy was probably cut short; download it again."
        )

    # -- primitives ----------------------------------------------------------------------

    def remaining(self) -> int:
        return self.size - self.pos

    def read(self, count: int, what: str) -> bytes:
        if count > self.remaining():
            raise self.truncated(what)
        data = self.handle.read(count)
        if len(data) != count:  # the file shrank while being read
            raise self.truncated(what)
        self.pos += count
        return data

    def skip(self, count: int, what: str) -> None:
        if count > self.remaining():
            raise self.truncated(what)
        if count <= 4096:
            self.read(count, what)
        else:
            self.handle.seek(count, 1)
            self.pos += count

    def u32(self, what: str) -> int:
        value: int = _U32.unpack(self.read(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = _U64.unpack(self.read(8, what))[0]
        return value

    def string(self, what: str, limit: int) -> str:
        return self.read(self.string_length(what, limit), what).decode("utf-8",
                                                                        errors="replace")

    def string_length(self, what: str, limit: int) -> int:
        length = self.u64(f"the length of {what}")
        if length > self.remaining():
            raise self.too_long(
                f"{what} claims to be {length:,} bytes long, more than the "
                f"{self.remaining():,} bytes left in the file"
            )
        if length > limit:
            raise self.damaged(
                f"{what} is {length:,} bytes long; Cove accepts at most {limit:,} "
                "(no real model needs more)"
            )
        return length

    def text(self, what: str, key: str) -> str | TextSummary:
        """A metadata text: kept when short (or the chat template), else skipped unread."""
        if key.startswith(TEMPLATE_KEY):
            return self.string(f"the chat template '{key}'", MAX_TEMPLATE_BYTES)
        length = self.string_length(what, MAX_STRING_BYTES)
        if length > KEEP_STRING_BYTES or self.text_kept + length > MAX_KEPT_TEXT_BYTES:
            self.skip(length, what)
            return TextSummary(length)
        self.text_kept += length
        return self.read(length, what).decode("utf-8", errors="replace")

    # -- metadata ------------------------------------------------------------------------

    def value_type(self, what: str) -> ValueType:
        raw = self.u32(f"the type of {what}")
        try:
            return ValueType(raw)
        except ValueError:
            raise self.damaged(f"{what} has an unknown value type ({raw})") from None

    def value(self, kind: ValueType, key: str, depth: int = 0) -> MetadataValue:
        if kind == ValueType.STRING:
            self.count_strings(1, key)
            return self.text(f"the value of '{key}'", key)
        if kind == ValueType.ARRAY:
            return self.array(key, depth + 1)
        scalar = _SCALARS[kind]
        (number,) = scalar.unpack(self.read(scalar.size, f"the value of '{key}'"))
        if kind == ValueType.BOOL:
            return bool(number)
        return number  # type: ignore[no-any-return]

    def count_strings(self, count: int, key: str) -> None:
        self.strings_seen += count
        if self.strings_seen > MAX_STRINGS_TOTAL:
            raise self.damaged(
                f"its metadata holds more than {MAX_STRINGS_TOTAL:,} text values "
                f"(reached at '{key}'), far more than any real model"
            )

    def array(self, key: str, depth: int) -> MetadataValue:
        if depth > MAX_ARRAY_DEPTH:
            raise self.damaged(f"'{key}' nests arrays more than {MAX_ARRAY_DEPTH} deep")
        kind = self.value_type(f"the elements of '{key}'")
        length = self.u64(f"the length of '{key}'")
        # Every element takes at least one byte (a string at least eight), so a length the
        # rest of the file cannot hold is a lie, found before any loop or allocation.
        smallest = 8 if kind == ValueType.STRING else 12 if kind == ValueType.ARRAY else 1
        if kind in _SCALARS:
            smallest = _SCALARS[kind].size
        if length > self.remaining() // smallest:
            raise self.too_long(
                f"the array '{key}' claims {length:,} elements, more than the "
                f"{self.remaining():,} bytes left in the file can hold"
            )
        keep = length <= KEEP_ARRAY_ELEMENTS
        if kind in _SCALARS:
            if not keep:
                self.skip(length * smallest, f"the array '{key}'")
                return ArraySummary(kind, length)
            scalar = _SCALARS[kind]
            data = self.read(length * scalar.size, f"the array '{key}'")
            values = [item[0] for item in scalar.iter_unpack(data)]
            if kind == ValueType.BOOL:
                return tuple(bool(item) for item in values)
            return tuple(values)
        if kind == ValueType.STRING:
            self.count_strings(length, key)
            if keep:
                return tuple(self.text(f"an element of '{key}'", key) for _ in range(length))
            self.skip_strings(length, key)
            return ArraySummary(kind, length)
        # Nested arrays: no model Cove knows uses them; walk them (bounded) and summarise.
        for _ in range(length):
            self.array(key, depth + 1)
        return ArraySummary(kind, length)

    def skip_strings(self, count: int, key: str) -> None:
        """Walk over `count` strings without keeping them: the vocabulary's hot loop."""
        # The same checks as string(), inlined: a 262,144-entry vocabulary costs a tenth of
        # a second instead of half a second.
        read = self.handle.read
        unpack = _U64.unpack
        pos, size = self.pos, self.size
        for _ in range(count):
            if size - pos < 8:
                self.pos = pos
                raise self.truncated(f"the array '{key}'")
            (length,) = unpack(read(8))
            pos += 8
            if length > size - pos:
                self.pos = pos
                raise self.too_long(
                    f"an element of '{key}' claims to be {length:,} bytes long, more than "
                    "the file has left"
                )
            if length > MAX_STRING_BYTES:
                raise self.damaged(
                    f"an element of '{key}' is {length:,} bytes long; Cove accepts at most "
                    f"{MAX_STRING_BYTES:,}"
                )
            if len(read(length)) != length:
                raise self.truncated(f"the array '{key}'")
            pos += length
        self.pos = pos

    # -- the whole header ----------------------------------------------------------------

    def parse(self) -> GGUFInfo:
        self.read(4, "the file signature")
        version = self.u32("the version number")
        tensor_count = self.u64("the tensor count")
        key_count = self.u64("the metadata key count")
        # At least 13 bytes per key (length, empty name, type, one byte) and 24 per tensor.
        if key_count * 13 + tensor_count * 24 > self.remaining():
            raise self.too_long(
                f"its header claims {key_count:,} metadata keys and {tensor_count:,} tensors, "
                f"more than its {self.size:,} bytes can hold"
            )

        metadata: dict[str, MetadataValue] = {}
        for _ in range(key_count):
            key = self.string("a metadata key", MAX_KEY_BYTES)
            if key in metadata:
                raise self.damaged(f"the metadata key '{key}' appears twice")
            kind = self.value_type(f"'{key}'")
            value = self.value(kind, key)
            metadata[key] = value

        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
        ):
            raise self.damaged(f"its data alignment ({alignment!r}) is not a power of two")

        tensors = self.tensor_infos(tensor_count)
        data_offset = -(-self.pos // alignment) * alignment
        self.check_tensor_data(tensors, data_offset, alignment)
        return self.build(version, alignment, data_offset, metadata)

    def tensor_infos(self, count: int) -> list[tuple[str, tuple[int, ...], int, int]]:
        if count > MAX_INSPECT_TENSORS:
            raise self.damaged(
                f"its header claims {count:,} tensors; Cove reads files with up to "
                f"{MAX_INSPECT_TENSORS:,} (real models have a few thousand)"
            )
        infos: list[tuple[str, tuple[int, ...], int, int]] = []
        names: set[str] = set()
        # Constant descriptions: formatting one per field made a million tensors take 15 s.
        for _ in range(count):
            name = self.string("a tensor name", MAX_TENSOR_NAME_BYTES)
            if name in names:
                raise self.damaged(f"the tensor '{name}' appears twice")
            names.add(name)
            n_dims = self.u32("a tensor's shape")
            if n_dims > MAX_DIMS:
                raise self.damaged(
                    f"tensor '{name}' claims {n_dims} dimensions; llama.cpp allows {MAX_DIMS}"
                )
            shape: tuple[int, ...] = struct.unpack(
                f"<{n_dims}Q", self.read(8 * n_dims, "a tensor's shape")
            )
            if any(dim > _INT64_MAX for dim in shape):
                raise self.damaged(f"tensor '{name}' has a negative or absurd dimension")
            ggml_type, offset = _TYPE_OFFSET.unpack(self.read(12, "a tensor's type and offset"))
            if ggml_type not in GGML_TYPES:
                raise ModelFileError(
                    f"{self.path.name} uses a tensor type Cove does not know ({ggml_type}, "
                    f"in '{name}'). It may need a newer Cove, or the file is damaged."
                )
            infos.append((name, shape, ggml_type, offset))
        return infos

    def check_tensor_data(
        self,
        infos: list[tuple[str, tuple[int, ...], int, int]],
        data_offset: int,
        alignment: int,
    ) -> None:
        data_size = self.size - data_offset
        if infos and data_size < 0:
            raise self.truncated("the tensor data, which is missing")
        expected = 0
        for name, shape, ggml_type, offset in infos:
            type_name, block, block_bytes = GGML_TYPES[ggml_type]
            # Python integers do not overflow, so an absurd shape shows up as an absurd size.
            if shape and shape[0] % block:
                raise self.damaged(
                    f"tensor '{name}' has {shape[0]} values per row, not a multiple of the "
                    f"{block}-value blocks of its type {type_name}"
                )
            nbytes = math.prod(shape) // block * block_bytes
            # llama.cpp's loader wants the tensors packed in order, each padded to the
            # alignment; anything else (gaps, overlaps) it refuses, and so does Cove.
            if offset != expected:
                raise self.damaged(
                    f"tensor '{name}' starts at byte {offset:,} of the data, but the tensors "
                    f"before it end at byte {expected:,}"
                )
            if offset + nbytes > data_size:
                dims = " x ".join(f"{dim:,}" for dim in shape) or "a scalar"
                # Far beyond the file is a lie about the shape; a little beyond, a cut file.
                if nbytes > 2 * self.size:
                    raise self.damaged(
                        f"tensor '{name}' claims dimensions {dims} ({nbytes:,} bytes of "
                        f"{type_name}), more than the whole file holds"
                    )
                raise self.truncated(f"the data of tensor '{name}'")
            self.tensors.append(TensorInfo(name, shape, ggml_type, offset, nbytes))
            expected = offset + -(-nbytes // alignment) * alignment

    def build(
        self,
        version: int,
        alignment: int,
        data_offset: int,
        metadata: dict[str, MetadataValue],
    ) -> GGUFInfo:
        architecture = _text(metadata, "general.architecture")
        if not architecture:
            raise ModelFileError(
                f"{self.path.name} does not say which model architecture it holds "
                "(no general.architecture), so llama.cpp cannot run it."
            )
        file_type = _integer(metadata, "general.file_type")
        quantization = FILE_TYPES.get(file_type) if file_type is not None else None
        if quantization is None:
            quantization = _dominant_type(self.tensors)
        template = _text(metadata, "tokenizer.chat_template")
        return GGUFInfo(
            path=self.path,
            file_size=self.size,
            version=version,
            tensor_count=len(self.tensors),
            alignment=alignment,
            data_offset=data_offset,
            architecture=architecture,
            name=_text(metadata, "general.name"),
            size_label=_text(metadata, "general.size_label"),
            parameter_count=sum(tensor.elements for tensor in self.tensors),
            quantization=quantization,
            file_type=file_type,
            context_length=_integer(metadata, f"{architecture}.context_length"),
            license=_text(metadata, "general.license") or _text(metadata, "general.license.name"),
            chat_template=template,
            metadata=MappingProxyType(metadata),
            tensors=tuple(self.tensors),
        )


def _file_size(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_size


def _text(metadata: Mapping[str, MetadataValue], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def _integer(metadata: Mapping[str, MetadataValue], key: str) -> int | None:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _dominant_type(tensors: list[TensorInfo]) -> str | None:
    """The type holding most bytes among the matrices: a fair name for an unlabelled file."""
    weights: dict[str, int] = {}
    for tensor in tensors:
        if len(tensor.shape) >= 2:
            weights[tensor.type_name] = weights.get(tensor.type_name, 0) + tensor.nbytes
    return max(weights, key=lambda name: weights[name]) if weights else None
