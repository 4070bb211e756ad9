"""A check's specification: its cases, its known mistakes, how its outputs are unpacked
and compared (RTOL, ATOL) and what a shape error says. Each assignment's module
subclasses :class:`Spec` once per graded function.
"""

import numpy as np

from .outcomes import GradingFailure
from .references import _reference
from .worker import Opaque, _bind_test_functions, _quiet, _roundtrip

RTOL, ATOL = 1e-6, 1e-8


class Case:
    """One call of the function under test: ``args``, a ``label`` for messages, the sizes."""

    def __init__(self, label, args, dims, kwargs=None, ref_kwargs=None):
        self.label, self.args, self.dims = label, tuple(args), dims
        self.kwargs = kwargs or {}
        self.ref_kwargs = {**self.kwargs, **(ref_kwargs or {})}

    def fresh_args(self):
        """A private copy of the arguments (test functions bound), for a computation."""
        return _bind_test_functions(_roundtrip(self.args))


class Mistake:
    """A known mistake: ``compute(case) -> outputs`` and the sentence that names it."""

    def __init__(self, message, compute):
        self.message, self.compute = message, compute


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _close(a, b):
    """Equal within RTOL/ATOL, recursively over tuples, lists and dicts; shapes must agree."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
            return False
        return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))
    if _is_number(a) and _is_number(b):
        return bool(np.isclose(float(a), float(b), rtol=RTOL, atol=ATOL))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == b if not isinstance(a, Opaque) else False


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _first_difference(got, expected):
    """'largest difference D at index I: got G, expected E' for two same-shape arrays."""
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return (f"largest difference {float(diff[idx]):.3g} at index {tuple(int(i) for i in idx)}: "
            f"got {float(got[idx]):.6g}, expected {float(expected[idx]):.6g}")


class Spec:
    """What one graded function must do, and the mistakes students make with it.

    Subclasses set ``name`` (the function students write), ``reference`` (rnnlib's, dotted),
    ``returns`` (names of the returned tuple's items, or None for a single value),
    ``outputs`` (the items compared), ``substitutes`` ({other graded function: its reference},
    replaced by rnnlib's while this one is graded; ``lent_for`` names the argument of each that
    must come from the test's own data) and ``helpers`` (rnnlib functions the
    student's function may call), and implement the case builders and ``mistakes``.
    """

    name = reference = ""
    returns = None
    outputs = ("value",)
    substitutes = {}
    #: {substitute: its argument that must hold this test's data}: a lent reference answers
    #: only for the case being graded, so that it cannot be laundered into another test
    lent_for = {}
    helpers = ()
    parts = ("shapes", "values", "random")
    error_hint = ""
    shape_hints = {}

    def reference_of(self, name):
        return self.substitutes[name]

    def allowed_references(self):
        return list(self.substitutes.values()) + list(self.helpers)

    def fixed_cases(self):
        raise NotImplementedError

    def random_cases(self):
        raise NotImplementedError

    def cases_for(self, part):
        """The fixed cases of a visible part ("shapes" and "values": ``fixed_cases``)."""
        return self.fixed_cases()

    def all_cases(self):
        """Every fixed case of every visible part (to check that each mistake shows)."""
        cases = []
        for part in self.parts:
            if part != "random" and not hasattr(self, f"run_{part}"):
                cases += [c for c in self.cases_for(part) if c not in cases]
        return cases

    def mistakes(self):
        return []

    def expected_shapes(self, case):
        """{output: (shape, symbols)} for the array outputs."""
        return {}

    def hints(self, case, got):
        """Sentences about properties of a wrong output (e.g. a softmax that does not sum
        to 1), used when no known mistake matches."""
        return []

    def extra_shape_problem(self, case, got):
        """A sentence about outputs whose shapes ``expected_shapes`` cannot describe."""
        return None

    def extra(self, case, got, args_after):
        """Anything else to check after the values (in-place updates, untouched inputs);
        returns a message or None."""
        return None

    def expected(self, case):
        ref = _reference(self.reference)
        with _quiet():
            result = ref(*case.fresh_args(), **case.ref_kwargs)
        return self.unpack_reference(_roundtrip(result), case)

    def unpack_reference(self, result, case):
        return self.unpack(result, case)

    def unpack(self, result, case):
        """The student's result as {output: value}; GradingFailure if its structure is wrong."""
        if self.returns is None:
            return {self.outputs[0]: result}
        names = self.returns
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = (f"{len(result)} values" if isinstance(result, (tuple, list))
                   else f"a {type(result).__name__}" if not isinstance(result, Opaque)
                   else repr(result))
            raise GradingFailure(
                f"{self.name} must return the {len(names)} values ({', '.join(names)}), "
                f"got {got}.")
        return dict(zip(names, result, strict=True))


def _dict_unpack(spec, result, keys):
    """A dict of gradients with exactly ``keys`` (extra keys allowed)."""
    if not isinstance(result, dict):
        got = repr(result) if isinstance(result, Opaque) else f"a {type(result).__name__}"
        raise GradingFailure(f"{spec.name} must return a dict with keys {', '.join(keys)}, "
                             f"got {got}.")
    missing = [k for k in keys if k not in result]
    renamed = [c for c, (ours, *_) in _COURSE_NAMES.items() if ours in missing and c in result]
    if renamed:
        names = [_COURSE_NAMES[c][0] for c in renamed]
        raise GradingFailure(
            f"{spec.name}: {_COURSE_NAMES[renamed[0]][1]}: name the returned gradients "
            f"{' and '.join(map(repr, names))} (the course's "
            f"{' and '.join(map(repr, renamed))}).")
    if missing:
        raise GradingFailure(f"{spec.name}: the returned dict has no key "
                             f"{', '.join(map(repr, missing))} (it has "
                             f"{', '.join(map(repr, result)) or 'none'}).")
    return {k: result[k] for k in keys}


def _shape_problem(spec, case, got):
    """A sentence about the first output whose type or shape is wrong, else None."""
    for out, (shape, symbols) in spec.expected_shapes(case).items():
        value = got.get(out)
        if not isinstance(value, np.ndarray):
            kind = repr(value) if isinstance(value, Opaque) else f"a {type(value).__name__}"
            return f"{out} must be a numpy array of shape {symbols}, got {kind}."
        if value.dtype.kind not in "biuf":
            return f"{out} has dtype {value.dtype}: it must hold numbers (float64)."
        if value.shape != tuple(shape):
            msg = (f"{out} has shape {_fmt_shape(value.shape)}, expected {symbols} = "
                   f"{_fmt_shape(shape)}")
            hint = spec.shape_hints.get(out, "")
            if len(value.shape) == len(shape) and tuple(reversed(value.shape)) == tuple(shape):
                msg += ": " + (hint or "is it transposed? Features come first, examples second")
            elif len(value.shape) == len(shape) - 1:
                msg += ": a dimension is missing (sum with keepdims=True?)"
            elif hint:
                msg += ": " + hint
            return msg + "."
    return spec.extra_shape_problem(case, got)


# Names of the course's assignments that the notes (and so these exercises) spell otherwise:
# {course's name: (the notes' name, why)}.
_COURSE_NAMES = {
    "Wi": ("Wu", "The notes call the LSTM's update gate Γu", "parameters"),
    "bi": ("bu", "The notes call the LSTM's update gate Γu", "parameters"),
    "dWi": ("dWu", "The notes call the LSTM's update gate Γu", "gradients"),
    "dbi": ("dbu", "The notes call the LSTM's update gate Γu", "gradients"),
    "db": ("dba", "The notes write the hidden state's bias ba, so its gradient is dba",
           "gradients"),
}
