"""Building blocks for cases and for the mistakes (the mistakes are deliberate variants of
the reference computations; the reference itself is always rnnlib's): activations,
seeded generators, random sizes.
"""

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax1(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _identity(z):
    return z


def _relu(z):
    return np.maximum(z, 0.0)


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _random_dims(seed, names, low=1, high=6, edges=None):
    """Sizes for a random case; ``edges`` maps a seed index to sizes forced to 1."""
    rng = _rng(seed)
    dims = {n: int(rng.integers(low, high + 1)) for n in names}
    for n in (edges or ()):
        dims[n] = 1
    return dims


# Seeds of the hidden random cases; the k-th case forces these sizes to 1 (edge cases).
_RANDOM_SEEDS = (
    (101, ()), (102, ("m",)), (103, ("T_x",)), (104, ("n_x",)), (105, ("m", "T_x")),
    (106, ("n_a",)),
)


def _random_cases(spec, names, make):
    cases = []
    for seed, edges in _RANDOM_SEEDS:
        dims = _random_dims(seed, names, edges=[e for e in edges if e in names])
        label = "a random case (" + ", ".join(f"{k}={v}" for k, v in dims.items()) + \
            f", seed {seed})"
        cases.append(make(label, seed, **dims))
    return cases


def _rnn_parameters(rng, n_x, n_a, n_y, scale=0.7):
    return {"Wax": _normal(rng, n_a, n_x, scale=scale), "Waa": _normal(rng, n_a, n_a, scale=scale),
            "ba": _normal(rng, n_a, 1, scale=scale), "Wya": _normal(rng, n_y, n_a, scale=scale),
            "by": _normal(rng, n_y, 1, scale=scale)}
