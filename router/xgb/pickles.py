"""Recognising pickles and joblib dumps, which is what most trained models on disk are.

They are never unpickled (unpickling runs code from the file); they are recognised by their
first bytes so that the refusal can say how to convert them, instead of "not JSON or UBJ".
"""

from __future__ import annotations

from typing import Final

CONVERSION_RECIPE: Final = (
    "load it where it was trained and save it in XGBoost's own format: "
    'model = joblib.load("model.pkl")  (or pickle.load), then '
    'model.save_model("model.ubj")  (an XGBClassifier, XGBRegressor or Booster; '
    'for another wrapper: model.get_booster().save_model("model.ubj"))'
)

# A pickle of protocol 2 or later starts with the PROTO opcode and its protocol number.
_PICKLE_PROTOCOLS: Final = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))
# joblib.dump(..., compress=...) writes a pickle inside one of these compressors.
_COMPRESSED: Final = {
    b"\x1f\x8b": "gzip",
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x04\x22\x4d\x18": "lz4",
    b"ZF0x": "zlib (an old joblib)",
}


def pickle_refusal(data: bytes | bytearray | memoryview) -> str | None:
    """Why ``data`` is refused if it is a pickle or a compressed joblib dump, else ``None``."""
    head = bytes(data[:8])
    if head.startswith(_PICKLE_PROTOCOLS):
        kind = "a Python pickle (pickle.dump or joblib.dump)"
    else:
        compressor = next(
            (name for magic, name in _COMPRESSED.items() if head.startswith(magic)), None
        )
        if compressor is None:
            return None
        kind = f"a {compressor}-compressed file, such as joblib.dump(..., compress=...) writes"
    return f"this is {kind}, which is never unpickled; {CONVERSION_RECIPE}"
