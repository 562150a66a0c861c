"""Type-tagged JSON for the values that cross the sandbox boundary (inputs in, outputs out).

Standard library only: the same file is loaded inside the sandbox. Decoding builds nothing but
exact built-in values (``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``,
``bytearray``, ``list``, ``tuple``, ``dict``, ``set``, ``frozenset``), so what a program reports
can never run code outside: an object with a rigged ``__eq__`` arrives as an :class:`Opaque`
placeholder that equals nothing but itself.

Plain JSON carries ``None``/``bool``/``str``/``list`` and small ``int``/finite ``float``; the rest
is a one-key object ``{"$tag": payload}``.
"""

from __future__ import annotations

import base64
import json
import math

MAX_DEPTH = 100
"""Deeper values are rejected (cycles end here too)."""
_SMALL_INT = 1 << 63
_REPR_CAP = 200


class CodecError(ValueError):
    """A value that cannot be encoded, or a document that is not a valid encoding."""


class Opaque:
    """Stands in for a value of a type that cannot cross (a class the program defined, a function...)."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str = ""):
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<opaque {self.type_name}: {self.text}>" if self.text else f"<opaque {self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _type_name(value: object) -> str:
    t = type(value)
    try:
        return f"{t.__module__}.{t.__qualname__}"[:100]
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return "?"


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - untrusted __repr__ (inside the sandbox only)
        return ""
    if type(text) is not str:
        return ""
    return text if len(text) <= _REPR_CAP else text[: _REPR_CAP - 3] + "..."


def encode(value: object, depth: int = 0) -> object:
    """A JSON-ready form of ``value``. Exact built-in types only; anything else becomes opaque."""
    if depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH}")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -_SMALL_INT < value < _SMALL_INT else {"$int": hex(value)}
    if t is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if t is list:
        return [encode(v, depth + 1) for v in value]
    if t is tuple:
        return {"$tuple": [encode(v, depth + 1) for v in value]}
    if t is dict:
        return {"$dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {"$" + t.__name__: [encode(v, depth + 1) for v in value]}
    if t is bytes or t is bytearray:
        return {"$" + t.__name__: base64.b64encode(bytes(value)).decode("ascii")}
    if t is complex:
        return {"$complex": [encode(value.real, depth + 1), encode(value.imag, depth + 1)]}
    if t is Opaque:
        return {"$opaque": [value.type_name, value.text]}
    return {"$opaque": [_type_name(value), _safe_repr(value)]}


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise CodecError(f"malformed encoding: {what}")


def decode(obj: object, depth: int = 0) -> object:
    """Inverse of :func:`encode`; raises :class:`CodecError` on anything else."""
    _need(depth <= MAX_DEPTH, f"nested deeper than {MAX_DEPTH}")
    t = type(obj)
    if obj is None or t is bool or t is str or t is float:
        return obj
    if t is int:
        _need(-_SMALL_INT < obj < _SMALL_INT, "plain int out of range")
        return obj
    if t is list:
        return [decode(v, depth + 1) for v in obj]
    _need(t is dict and len(obj) == 1, "expected a one-key tagged object")
    ((tag, payload),) = obj.items()
    try:
        if tag == "$int":
            _need(type(payload) is str and len(payload) < 100_000, "$int")
            return int(payload, 16)
        if tag == "$float":
            _need(payload in ("nan", "inf", "-inf"), "$float")
            return float(payload)
        if tag == "$complex":
            _need(type(payload) is list and len(payload) == 2, "$complex")
            re_, im = (decode(v, depth + 1) for v in payload)
            _need(type(re_) is float and type(im) is float, "$complex parts")
            return complex(re_, im)
        if tag in ("$bytes", "$bytearray"):
            _need(type(payload) is str, tag)
            raw = base64.b64decode(payload.encode("ascii"), validate=True)
            return raw if tag == "$bytes" else bytearray(raw)
        if tag == "$opaque":
            _need(type(payload) is list and len(payload) == 2 and all(type(p) is str for p in payload), "$opaque")
            return Opaque(payload[0][:100], payload[1][:_REPR_CAP])
        _need(type(payload) is list, tag)
        if tag == "$tuple":
            return tuple(decode(v, depth + 1) for v in payload)
        if tag == "$set":
            return {decode(v, depth + 1) for v in payload}
        if tag == "$frozenset":
            return frozenset(decode(v, depth + 1) for v in payload)
        if tag == "$dict":
            out = {}
            for pair in payload:
                _need(type(pair) is list and len(pair) == 2, "$dict item")
                out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
            return out
    except (TypeError, ValueError, UnicodeError, RecursionError) as exc:  # unhashable key, bad base64...
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"malformed encoding: {tag}: {exc}") from None
    raise CodecError(f"malformed encoding: unknown tag {tag!r}")


def dumps(value: object) -> str:
    """``encode`` then JSON text."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> object:
    """JSON text then ``decode``."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"not JSON: {exc}") from None
    return decode(obj)
