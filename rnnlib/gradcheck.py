"""Numerical gradient checking, as in CS231n: centred differences and relative errors.

Typical use: define a scalar loss of the parameters, compare its analytic gradients with
``numerical_gradient`` and report the worst offender with ``check_gradients``.
Tolerances (float64, the five-point centred stencil with h = 1e-4, truncation error O(h^4)):
a correct implementation gives relative errors around 1e-10; below 1e-7 is a pass; above 1e-3
is almost certainly a bug. (The plain two-point stencil of CS231n, error O(h^2), reaches only
~1e-7 on entries whose gradient is small, which would blur that line.)
"""

import numpy as np


def rel_error(x, y):
    """Relative error of two arrays: max |x - y| / max(1e-8, max |x| + max |y|).

    The difference is measured against the scale of the whole array rather than entry by entry
    (CS231n divides each entry by its own |x| + |y|): a gradient entry that is exactly zero
    analytically (a dead ReLU unit) would otherwise turn ~1e-12 of rounding noise into a large
    "error". Any wrong entry of a size that matters still shows.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    scale = max(1e-8, float(np.abs(x).max() + np.abs(y).max()))
    return float(np.abs(x - y).max()) / scale


def numerical_gradient(f, x, h=1e-4):
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    Five-point stencil: (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h.
    ``x`` is perturbed in place (and restored), so ``f`` must read it, e.g. a closure over a
    parameter dict. Cost: 4 * x.size calls of ``f``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            x[i] = old + step
            values.append(f())
        x[i] = old
        f2p, f1p, f1m, f2m = values
        grad[i] = (-f2p + 8 * f1p - 8 * f1m + f2m) / (12 * h)
    return grad


def numerical_gradient_array(f, x, df, h=1e-4):
    """Numerical gradient of sum(f() * df) with respect to ``x``: for functions with array output.

    ``df`` is the upstream gradient (same shape as f()'s output).
    """
    return numerical_gradient(lambda: float(np.sum(f() * df)), x, h)


def check_gradients(f, arrays, analytic, h=1e-4, tol=1e-7):
    """Compare analytic gradients with numerical ones for every array in ``arrays``.

    Arguments:
        f         scalar loss, a function of no arguments reading ``arrays`` in place
        arrays    dict name -> array (perturbed in place, restored)
        analytic  dict name -> analytic gradient of f with respect to arrays[name]
        tol       relative error that counts as a pass

    Returns ``(errors, worst)``: ``errors`` maps name -> relative error; ``worst`` is the name
    with the largest error. Raises ``ValueError`` naming the worst array if it exceeds ``tol``.
    """
    missing = [k for k in arrays if k not in analytic]
    if missing:
        raise ValueError(f"check_gradients: no analytic gradient for {', '.join(missing)}")
    errors = {k: rel_error(analytic[k], numerical_gradient(f, arrays[k], h)) for k in arrays}
    worst = max(errors, key=errors.get)
    if errors[worst] > tol:
        raise ValueError(
            f"check_gradients: gradient of {worst!r} is wrong: relative error "
            f"{errors[worst]:.2e} > {tol:.0e} (all: "
            + ", ".join(f"{k}={v:.1e}" for k, v in errors.items()) + ")"
        )
    return errors, worst
