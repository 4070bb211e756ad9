"""Numerical gradient checking, as in CS231n: centred differences and relative errors.

Typical use: define a scalar loss of the parameters, compare its analytic gradients with
``numerical_gradient`` and report the worst offender with ``check_gradients``.
Tolerances (float64, centred differences with h = 1e-5): a correct single step gives relative
errors around 1e-10; below 1e-7 is a pass; above 1e-3 is almost certainly a bug.
"""

import numpy as np


def rel_error(x, y):
    """max |x - y| / max(1e-8, |x| + |y|), elementwise, then the maximum."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place (and restored), so ``f`` must read it, e.g. a closure over a
    parameter dict. Cost: 2 * x.size calls of ``f``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f() * df) with respect to ``x``: for functions with array output.

    ``df`` is the upstream gradient (same shape as f()'s output).
    """
    return numerical_gradient(lambda: float(np.sum(f() * df)), x, h)


def check_gradients(f, arrays, analytic, h=1e-5, tol=1e-7):
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
