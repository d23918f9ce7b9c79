"""Copy a real GGUF model with another chat template: a loadable model with a hostile one."""

from __future__ import annotations

import struct
from pathlib import Path

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _U32 = 8, 9, 4
_TEMPLATE_KEY = "tokenizer.chat_template"


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """Write `source` to `target` with `tokenizer.chat_template` set to `template` (added
    when the file has none); every tensor and other key is copied byte for byte."""
    data = source.read_bytes()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", data, 0)
    assert magic == b"GGUF" and version == 3, "a GGUF v3 file"
    offset = 24
    kept: list[bytes] = []
    alignment = 32
    for _ in range(n_kv):
        start = offset
        key, offset = _string(data, offset)
        (kind,) = struct.unpack_from("<I", data, offset)
        offset = _skip_value(data, offset + 4, kind)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", data, offset - 4)
        if key != _TEMPLATE_KEY:
            kept.append(data[start:offset])
    infos_start = offset
    for _ in range(n_tensors):
        _, offset = _string(data, offset)
        (n_dims,) = struct.unpack_from("<I", data, offset)
        offset += 4 + 8 * n_dims + 4 + 8
    infos = data[infos_start:offset]
    data_start = offset + (-offset % alignment)
    kept.append(_pack_string(_TEMPLATE_KEY) + struct.pack("<I", _STRING) + _pack_string(template))
    header = struct.pack("<4sIQQ", b"GGUF", 3, n_tensors, len(kept)) + b"".join(kept) + infos
    header += b"\0" * (-len(header) % alignment)
    with target.open("wb") as out:
        out.write(header)
        out.write(memoryview(data)[data_start:])
    return target


def _string(data: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", data, offset)
    end = offset + 8 + length
    return data[offset + 8 : end].decode("utf-8"), end


def _pack_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _skip_value(data: bytes, offset: int, kind: int) -> int:
    if kind == _STRING:
        return _string(data, offset)[1]
    if kind == _ARRAY:
        item_kind, count = struct.unpack_from("<IQ", data, offset)
        offset += 12
        if item_kind in _SCALAR_SIZES:
            return offset + _SCALAR_SIZES[item_kind] * count
        for _ in range(count):
            offset = _skip_value(data, offset, item_kind)
        return offset
    return offset + _SCALAR_SIZES[kind]
