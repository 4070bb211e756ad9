"""The wire format: plain data across the grading sandbox's boundary, one format for every
process that runs student code (the grading kernel's agent, :mod:`rnnlib.autograde.agent`,
and the judge's worker, :mod:`rnnlib.grading.worker`).

Values cross the sandbox boundary as JSON built from a small closed set of types: ``None``,
``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, lists, tuples, dicts and numpy
arrays or scalars of numeric, boolean or fixed-width string dtype. Nothing is pickled, nothing
is imported and no object from the student's side is ever called on the grader's side: a value
that decodes is data and nothing else. Everything else fails to encode or decode with
:class:`TransferError`.

The judge's worker encodes leniently (``lenient=True``): what is not data becomes an
:class:`Opaque` description ("a function", "an ndarray of dtype object"), so that a check can
say what the student's function returned instead of failing; and the judge sends the test
functions of a numerical-gradient check as :class:`FnRef`. The strict default refuses both.

This module is also sent verbatim into the student's kernel (see :mod:`rnnlib.autograde.agent`)
and loaded by path in the worker, so it imports nothing but the standard library at module
level and numpy lazily.
"""

import base64
import json
import math

#: numpy dtype kinds that may cross: bool, signed/unsigned integer, float, complex, str, bytes.
ARRAY_KINDS = "biufcUS"
#: Deepest nesting of containers accepted.
MAX_DEPTH = 64
#: Largest encoded message accepted by :func:`decode` (characters).
MAX_CHARS = 16 * 1024 * 1024  # an answer of the kernel, checked before it is decoded


class TransferError(ValueError):
    """A value that cannot cross the sandbox boundary."""


class Ref:
    """A reference to a name in the student's namespace (sent from the grader only)."""

    def __init__(self, name):
        self.name = str(name)


class Opaque:
    """Something returned that is not data (a function, an object...), kept as a description."""

    def __init__(self, description):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"


class FnRef:
    """A test function by name, closing over positional argument ``over`` (an array that the
    function under test perturbs in place, as ``numerical_gradient`` does)."""

    def __init__(self, name, over):
        self.name, self.over = name, over


def _opaque_description(value):
    # (not ``_describe``: the kernel agent, exec'd after this source in one namespace, has one)
    try:
        text = repr(value)[:80]
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise anything
        text = "?"
    return f"a {type(value).__name__} ({text})"


def _np():
    import numpy

    return numpy


def _enc(value, depth, lenient=False):
    try:
        return _enc_strict(value, depth, lenient)
    except TransferError as exc:
        if not lenient:
            raise
        return ["O", str(exc)]


def _enc_strict(value, depth, lenient):
    if depth > MAX_DEPTH:
        raise TransferError("a value nested too deeply" if lenient else "value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return ["I", str(int(value))]
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return ["F", repr(float(value))]
    if isinstance(value, complex):
        return ["C", repr(value.real), repr(value.imag)]
    if isinstance(value, (bytes, bytearray)):
        return ["B", base64.b64encode(bytes(value)).decode("ascii")]
    if isinstance(value, Ref):
        return ["R", value.name]
    if isinstance(value, FnRef) and lenient:
        return ["N", str(value.name), int(value.over)]
    if isinstance(value, Opaque) and lenient:
        return ["O", str(value.description)]
    if isinstance(value, (list, tuple)):  # the types' own iterators: not a subclass's
        tag, items = ("L", list.__iter__(value)) if isinstance(value, list) else \
            ("T", tuple.__iter__(value))
        return [tag, [_enc(v, depth + 1, lenient) for v in items]]
    if isinstance(value, dict):
        return ["D", [[_enc(k, depth + 1, lenient), _enc(v, depth + 1, lenient)]
                      for k, v in dict.items(value)]]
    np = _np() if type(value).__module__ == "numpy" else None
    if np is not None and isinstance(value, np.ndarray):
        if value.dtype.kind not in ARRAY_KINDS or value.dtype.fields is not None:
            raise TransferError(f"an ndarray of dtype {value.dtype}" if lenient else
                                f"array of dtype {value.dtype} cannot be transferred")
        data = np.ascontiguousarray(value).tobytes()
        return ["A", value.dtype.str, [int(n) for n in value.shape],
                base64.b64encode(data).decode("ascii")]
    if np is not None and isinstance(value, np.generic):
        if value.dtype.kind not in ARRAY_KINDS:
            raise TransferError(f"a numpy scalar of dtype {value.dtype}" if lenient else
                                f"numpy scalar of dtype {value.dtype} cannot be transferred")
        return ["S", value.dtype.str, base64.b64encode(value.tobytes()).decode("ascii")]
    raise TransferError(_opaque_description(value) if lenient else
                        f"an object of type {type(value).__name__} cannot be transferred")


def to_tree(value, lenient=False):
    """``value`` as a JSON-able tree (see the module's docstring for ``lenient``)."""
    return _enc(value, 0, lenient)


def encode(value):
    """Encode ``value`` as JSON text; raise :class:`TransferError` for anything else."""
    return json.dumps(_enc(value, 0), separators=(",", ":"))


def _dtype(text):
    np = _np()
    if not isinstance(text, str) or len(text) > 16:
        raise TransferError("bad dtype")
    dtype = np.dtype(text)
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise TransferError(f"dtype {text} not accepted")
    return dtype


def _dec(node, depth, refs, lenient=False):
    if depth > MAX_DEPTH:
        raise TransferError("value nested too deeply")
    if node is None or isinstance(node, (bool, str, float)):
        return node
    if isinstance(node, int):
        raise TransferError("untagged integer")
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise TransferError("malformed value")
    tag, args = node[0], node[1:]
    if tag == "I" and len(args) == 1 and isinstance(args[0], str):
        return int(args[0])
    if tag == "F" and len(args) == 1 and args[0] in ("nan", "inf", "-inf"):
        return float(args[0])
    if tag == "C" and len(args) == 2 and all(isinstance(a, str) for a in args):
        return complex(float(args[0]), float(args[1]))
    if tag == "B" and len(args) == 1 and isinstance(args[0], str):
        return base64.b64decode(args[0], validate=True)
    if lenient and tag == "O" and len(args) == 1 and isinstance(args[0], str):
        return Opaque(args[0])
    if lenient and tag == "N" and len(args) == 2 and isinstance(args[0], str) \
            and isinstance(args[1], int):
        return FnRef(args[0], args[1])
    if tag == "R" and len(args) == 1 and isinstance(args[0], str):
        if refs is None:
            raise TransferError("references are not accepted here")
        return refs(args[0])
    if tag in ("L", "T") and len(args) == 1 and isinstance(args[0], list):
        items = [_dec(v, depth + 1, refs, lenient) for v in args[0]]
        return items if tag == "L" else tuple(items)
    if tag == "D" and len(args) == 1 and isinstance(args[0], list):
        out = {}
        for pair in args[0]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise TransferError("malformed dict item")
            key = _dec(pair[0], depth + 1, refs, lenient)
            if lenient and not isinstance(key, (str, int, float, bool, type(None), tuple)):
                key = repr(key)  # a dict key the judge will not call back into
            try:
                out[key] = _dec(pair[1], depth + 1, refs, lenient)
            except TypeError as exc:
                raise TransferError("unhashable dict key") from exc
        return out
    if tag == "A" and len(args) == 3:
        np = _np()
        dtype = _dtype(args[0])
        shape = args[1]
        if not isinstance(shape, list) or len(shape) > 32 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise TransferError("bad array shape")
        raw = base64.b64decode(args[2], validate=True)
        size = 1
        for n in shape:
            size *= n
        if size * dtype.itemsize != len(raw):
            raise TransferError("array data does not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if tag == "S" and len(args) == 2:
        np = _np()
        dtype = _dtype(args[0])
        raw = base64.b64decode(args[1], validate=True)
        if len(raw) != dtype.itemsize:
            raise TransferError("scalar data does not match its dtype")
        return np.frombuffer(raw, dtype=dtype)[0]
    raise TransferError(f"unknown value tag {tag!r}")


def from_tree(node, refs=None, lenient=False):
    """The value of a tree made by :func:`to_tree`; :class:`TransferError` if malformed."""
    try:
        return _dec(node, 0, refs, lenient)
    except TransferError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        raise TransferError(f"malformed value: {exc}") from None


def decode(text, refs=None):
    """Decode JSON text made by :func:`encode`; raise :class:`TransferError` if malformed.

    ``refs`` resolves :class:`Ref` names (only the student's side passes it).
    """
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise TransferError("message missing or too large")
    try:
        node = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TransferError(f"malformed message: {exc}") from None
    try:
        return _dec(node, 0, refs)
    except TransferError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        raise TransferError(f"malformed value: {exc}") from None
