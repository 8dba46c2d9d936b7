"""Write the demo's model files: a benign safetensors file and an unsafe pickle.

Binaries are generated here at demo time rather than committed, so the repository holds no
opaque files. Pure standard library: the safetensors file is written by hand (an 8-byte
little-endian header length, a JSON header, then the raw tensor bytes) and the unsafe pickle
is assembled opcode by opcode. Nothing here is ever loaded; mlgate reads both statically.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"


def safetensors_bytes() -> bytes:
    """A 2x2 float32 classifier head in the safetensors format."""
    data = struct.pack("<4f", 0.25, -0.5, 0.75, 1.0) + struct.pack("<2f", 0.0, 0.1)
    header = {
        "__metadata__": {"format": "pt"},
        "classifier.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "classifier.bias": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment
    return struct.pack("<Q", len(raw)) + raw + data


def unsafe_pickle_bytes() -> bytes:
    """A protocol-2 pickle whose loading would run ``os.system`` (it is never loaded).

    The same bytes ``pickle.dumps`` writes for an object whose ``__reduce__`` returns
    ``(os.system, ("echo pwned",))`` on Linux, spelled out so no such object is needed.
    """
    command = b"echo pwned"
    return (
        b"\x80\x02"  # PROTO 2
        + b"cposix\nsystem\n"  # GLOBAL posix.system
        + b"q\x00"  # BINPUT 0
        + b"X"
        + struct.pack("<I", len(command))
        + command  # BINUNICODE
        + b"q\x01"  # BINPUT 1
        + b"\x85"  # TUPLE1
        + b"q\x02"  # BINPUT 2
        + b"R"  # REDUCE
        + b"q\x03"  # BINPUT 3
        + b"."  # STOP
    )


def main() -> int:
    MODELS.mkdir(exist_ok=True)
    written = []
    benign = MODELS / "classifier.safetensors"
    if not benign.exists():
        benign.write_bytes(safetensors_bytes())
        written.append(benign)
    unsafe = MODELS / "unsafe_model.pkl"
    unsafe.write_bytes(unsafe_pickle_bytes())
    written.append(unsafe)
    for path in written:
        print(f"wrote {path.relative_to(MODELS.parent.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
