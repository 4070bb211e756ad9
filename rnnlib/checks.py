"""Input validation shared by every model: clear ``ValueError``s instead of numpy tracebacks.

Messages name the function, the argument, the shape it got and the shape it expects in the
notes' symbols, e.g.::

    rnn_cell_forward: parameters['Wax'] has shape (5, 3), expected (n_a, n_x) = (5, 4)

Also :func:`check_close`, the assertion an instructor's own test cells may use.
"""

import numpy as np


def as_float_array(func, name, value, ndim, symbols):
    """Return ``value`` as a floating-point ndarray with ``ndim`` dimensions, or raise.

    ``symbols`` names the axes for the message, e.g. ``"(n_x, m)"``.
    """
    if not isinstance(value, np.ndarray):
        if isinstance(value, (list, tuple, int, float)):
            value = np.asarray(value, dtype=np.float64)
        else:
            raise ValueError(
                f"{func}: {name} must be a numpy array of shape {symbols}, "
                f"got {type(value).__name__}"
            )
    if not np.issubdtype(value.dtype, np.floating):
        raise ValueError(
            f"{func}: {name} has dtype {value.dtype}, expected a floating-point array "
            f"(float64 or float32); convert it with .astype(np.float64)"
        )
    if value.ndim != ndim:
        raise ValueError(
            f"{func}: {name} has shape {value.shape} ({value.ndim}-D), "
            f"expected a {ndim}-D array of shape {symbols}"
        )
    return value


def expect_shape(func, name, value, expected, symbols):
    """Raise unless ``value.shape`` matches ``expected`` (``None`` matches any length).

    ``symbols`` spells ``expected`` in the notes' notation, e.g. ``"(n_a, m)"``.
    """
    if len(value.shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(value.shape, expected, strict=True)
    ):
        spelled = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{func}: {name} has shape {value.shape}, expected {symbols} = {spelled}")


def expect_finite(func, name, value):
    if not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise ValueError(f"{func}: {name} contains {bad} non-finite value(s) (NaN or inf)")


def check_input(func, name, value, symbols, expected=None):
    """Validate one data array (``xt``, ``a_prev``, ``x``...): type, dtype, shape, finiteness.

    ``symbols`` (e.g. ``"(n_a, m)"``) fixes the number of dimensions; ``expected`` (optional,
    ``None`` entries match anything) fixes their sizes. Returns the array.
    """
    value = as_float_array(func, name, value, symbols.count(",") + 1, symbols)
    if expected is not None:
        expect_shape(func, name, value, expected, symbols)
    expect_finite(func, name, value)
    return value


def check_same_m(func, **arrays):
    """Raise unless every array has the same number of examples m on axis 1.

    Named so that a transposed input is reported as such, not blamed on the next argument.
    """
    ms = {name: a.shape[1] for name, a in arrays.items()}
    if len(set(ms.values())) > 1:
        shapes = ", ".join(f"{name} has shape {a.shape}" for name, a in arrays.items())
        raise ValueError(
            f"{func}: {shapes}: axis 1 is m, the number of examples, and must agree "
            f"(is one of them transposed?)"
        )


def check_parameters(func, parameters, spec):
    """Validate a parameter dict against ``spec``: {key: (expected shape, symbols)}.

    Missing keys are listed together, so a student sees everything that is absent at once.
    Extra keys are allowed (a dict may hold parameters of the output layer or of other layers).
    Returns ``parameters`` itself, or a copy in which checked entries given as lists are
    ndarrays, so the caller can use them as arrays (``.T``) without caring which it got.
    """
    if not isinstance(parameters, dict):
        raise ValueError(
            f"{func}: parameters must be a dict keyed by "
            f"{', '.join(spec)}, got {type(parameters).__name__}"
        )
    missing = [k for k in spec if k not in parameters]
    if missing:
        raise ValueError(
            f"{func}: parameters is missing key(s) {', '.join(map(repr, missing))}; "
            f"expected keys {', '.join(spec)}"
        )
    converted = {}
    for key, (shape, symbols) in spec.items():
        value = as_float_array(func, f"parameters[{key!r}]", parameters[key], len(shape), symbols)
        expect_shape(func, f"parameters[{key!r}]", value, shape, symbols)
        expect_finite(func, f"parameters[{key!r}]", value)
        if value is not parameters[key]:
            converted[key] = value
    return {**parameters, **converted} if converted else parameters


def check_activation(func, activation, allowed):
    if activation not in allowed:
        raise ValueError(
            f"{func}: activation must be one of {', '.join(map(repr, allowed))}, "
            f"got {activation!r}"
        )


def check_close(got, expected, what="value"):
    """For an instructor's own test cells: AssertionError with a sentence (the shape, or the
    largest error) when ``got`` is not ``expected``."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{what} has shape {got.shape}, expected {expected.shape}")
    if not np.allclose(got, expected, atol=1e-10, rtol=0):
        raise AssertionError(f"{what} is wrong (largest error "
                             f"{np.max(np.abs(got - expected)):.3g})")
