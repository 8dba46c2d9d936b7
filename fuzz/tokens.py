"""Interesting byte strings per format, inserted by the mutator (structure-aware where cheap)."""

from __future__ import annotations

import pickle
import struct

NO_TOKENS: tuple[bytes, ...] = ()

# opcodes with their arguments: globals, calls, memo traffic, framing, protocol headers
PICKLE_TOKENS = (
    b"\x80\x02", b"\x80\x04", b"\x80\x05", b"\x95" + struct.pack("<Q", 2**62), b"cos\nsystem\n",
    b"\x8c\x08builtins\x8c\x04eval\x93", b"R", b"b", b"o", b"i", b"\x81", b"\x92", b".",
    b"(", b"t", b"0", b"2", b"q\x00", b"h\x00", b"j\xff\xff\xff\x7f", b"r\xff\xff\xff\xff",
    b"\x94", b"B" + struct.pack("<I", 0x7FFFFFFF), b"C\xff", b"X" + struct.pack("<I", 2**31),
    b"\x8e" + struct.pack("<Q", 2**63), b"\x96", b"\x97", b"\x98", b"}", b"]", b"e", b"s", b"u",
    b"N", b"\x88", b"\x89", b"K\x01", b"J\xff\xff\xff\xff", b"\x8a\x09" + b"\xff" * 9,
    b"Vos\nsystem\n", b"S'x'\n", b"P1\n", b"Q", b"\x85", b"\x86", b"\x87",
    pickle.dumps(b"\x80\x04K\x01.", protocol=4)[2:-1],
)  # fmt: skip

ZIP_TOKENS = (
    b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x07\x08",
    b"\xff\xff\xff\xff", b"\x01\x00\x10\x00" + b"\xff" * 16, b"../", b"/etc/passwd", b"\x08\x00",
    b"\x0e\x00", b"data.pkl",
)  # fmt: skip

TAR_TOKENS = (b"ustar\x0000", b"ustar  \x00", b"../", b"././@LongLink", b"0000777\x00",
              b"77777777777\x00", b"pax", b"L", b"K", b"x", b"g", b"2", b"1", b"5")  # fmt: skip

SEVENZIP_TOKENS = (b"7z\xbc\xaf\x27\x1c", b"\x00\x04", b"\x01", b"\x04", b"\x06", b"\x07",
                   b"\x0b", b"\x0c", b"\x17", b"\x21", b"\x03\x01\x01", b"\xff" * 9)  # fmt: skip

HDF5_TOKENS = (b"\x89HDF\r\n\x1a\n", b"OHDR", b"TREE", b"HEAP", b"GCOL", b"SNOD",
               b"\xff" * 8, b"model_config", b"keras_version")  # fmt: skip

PROTO_TOKENS = (b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x00",
                b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
                b"\x1a\x03abc", b"\x3a", b"\x0f", b"\x0c", b"\x0b", b"ReadFile", b"PyFunc",
                b"../x", b"location")  # fmt: skip

GGUF_TOKENS = (b"GGUF", struct.pack("<Q", 2**63), struct.pack("<I", 8), struct.pack("<I", 9),
               b"tokenizer.chat_template", b"{{", b"}}", b"{%", b"%}", b"__class__",
               b"|attr(", b"cycler")  # fmt: skip

JSON_TOKENS = (b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"1e999", b"-1",
               b"18446744073709551616", b'"__metadata__"', b'"data_offsets"', b'"dtype"',
               b'"shape"', b"\\ud800")  # fmt: skip

NPY_TOKENS = (b"\x93NUMPY", b"\x01\x00", b"\x02\x00", b"\x03\x00", b"'descr': '|O'",
              b"'fortran_order': True", b"'shape': (", b"), }", b"<f8", b"V", b"(-1,)")  # fmt: skip
