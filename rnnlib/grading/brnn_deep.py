"""Checks of the ``brnn_deep`` assignment: ``brnn_forward`` and ``deep_forward``.
"""

import numpy as np

from .cases import _identity, _normal, _random_cases, _rng, _softmax0
from .outcomes import GradingFailure
from .references import _reference
from .spec import Case, Mistake, Spec, _fmt_shape


def _rnn_layer(x, a0, p):
    """The states of a tanh RNN layer (rnnlib's rnn_forward with a dummy output layer)."""
    n_a = a0.shape[0]
    a, _, _ = _reference("rnnlib.rnn.rnn_forward")(
        x, a0, {**p, "Wya": np.zeros((1, n_a)), "by": np.zeros((1, 1))})
    return a


def _layer_parameters(rng, n_in, n_a, scale=0.7):
    return {"Wax": _normal(rng, n_a, n_in, scale=scale), "Waa": _normal(rng, n_a, n_a, scale=scale),
            "ba": _normal(rng, n_a, 1, scale=scale)}


class _BrnnForward(Spec):
    name, reference = "brnn_forward", "rnnlib.brnn.brnn_forward"
    returns = ("a", "y_hat")
    outputs = ("a", "y_hat")
    helpers = ("rnnlib.rnn.rnn_forward",)
    error_hint = ("a→ and a← are (n_a, m, T_x) each, a = [a→; a←] is (2 n_a, m, T_x) and "
                  "Wy is (n_y, 2 n_a)")

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = {"fwd": _layer_parameters(rng, n_x, n_a), "rev": _layer_parameters(rng, n_x, n_a),
             "Wy": _normal(rng, n_y, 2 * n_a, scale=0.7), "by": _normal(rng, n_y, 1, scale=0.7)}
        a0 = (_normal(rng, n_a, m), _normal(rng, n_a, m))
        return Case(label, (_normal(rng, n_x, m, T_x), a0, p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=4, n_y=2, m=3, T_x=5)", 151,
                           3, 4, 2, 3, 5),
                self._case("the fixed case (n_x=2, n_a=2, n_y=3, m=1, T_x=4)", 152, 2, 2, 3, 1, 4)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def unpack(self, result, case):
        if isinstance(result, (tuple, list)) and len(result) == 3:
            result = result[:2]  # rnnlib's brnn_forward also returns a cache
        return super().unpack(result, case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((2 * d["n_a"], d["m"], d["T_x"]), "(2 n_a, m, T_x)"),
                "y_hat": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        def run(case, flip=True, reverse_x=True, order="fr", rev_params="rev", swap_a0=False,
                out=_softmax0):
            x, a0, p = case.fresh_args()
            a0f, a0r = (a0[1], a0[0]) if swap_a0 else a0
            a_f = _rnn_layer(x, a0f, p["fwd"])
            xr = x[:, :, ::-1] if reverse_x else x
            a_r = _rnn_layer(np.ascontiguousarray(xr), a0r, p[rev_params])
            if flip:
                a_r = a_r[:, :, ::-1]
            a = np.concatenate((a_f, a_r) if order == "fr" else (a_r, a_f), axis=0)
            n_a2, m, T_x = a.shape
            z = (p["Wy"] @ a.reshape(n_a2, m * T_x) + p["by"]).reshape(-1, m, T_x)
            return {"a": a, "y_hat": out(z)}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("the backward states are not flipped back: after running over x reversed "
                    "in time, reverse a← again so that a←<t> sits at index t.", v(flip=False)),
            Mistake("the backward direction reads x left to right: it must run over x reversed "
                    "in time, x[:, :, ::-1].", v(reverse_x=False, flip=False)),
            Mistake("the backward direction reads x left to right: it must run over x reversed "
                    "in time, x[:, :, ::-1].", v(reverse_x=False)),
            Mistake("the two directions are stacked in the wrong order: a = [a→; a←], forward "
                    "states first.", v(order="rf")),
            Mistake("the backward direction uses the forward parameters: it has its own, "
                    "parameters['rev'].", v(rev_params="fwd")),
            Mistake("the initial states are swapped: a0 = (a→<0>, a←<T_x+1>).",
                    v(swap_a0=True)),
            Mistake("y_hat is not a probability distribution: apply softmax over axis 0 to "
                    "Wy [a→<t>; a←<t>] + by.", v(out=_identity)),
        ]


class _DeepForward(Spec):
    name, reference = "deep_forward", "rnnlib.deep.deep_forward"
    returns = ("a", "y_hat")
    outputs = ("a", "y_hat")
    helpers = ("rnnlib.rnn.rnn_forward",)
    error_hint = ("layer l reads the states of layer l-1 (n_a[l-1] rows; layer 1 reads x) and "
                  "Wy acts on the top layer's states")

    def _case(self, label, seed, n_x, sizes, n_y, m, T_x):
        rng = _rng(seed)
        layers, n_in = [], n_x
        for n_a in sizes:
            layers.append(_layer_parameters(rng, n_in, n_a))
            n_in = n_a
        p = {"layers": layers, "Wy": _normal(rng, n_y, sizes[-1], scale=0.7),
             "by": _normal(rng, n_y, 1, scale=0.7)}
        a0 = [_normal(rng, n_a, m) for n_a in sizes]
        return Case(label, (_normal(rng, n_x, m, T_x), a0, p),
                    {"n_x": n_x, "sizes": sizes, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, layer sizes 5, 4, n_y=2, m=3, T_x=4)",
                           161, 3, (5, 4), 2, 3, 4),
                self._case("the fixed case with equal sizes (n_x=3, layer sizes 3, 3, 3, n_y=2, "
                           "m=2, T_x=3)", 162, 3, (3, 3, 3), 2, 2, 3)]

    def random_cases(self):
        cases = []
        for seed, L in ((601, 1), (602, 2), (603, 3), (604, 2)):
            rng = _rng(seed)
            sizes = tuple(int(s) for s in rng.integers(1, 6, L))
            n_x, n_y, m, T_x = (int(s) for s in rng.integers(1, 6, 4))
            cases.append(self._case(f"a random case (n_x={n_x}, layer sizes "
                                    f"{', '.join(map(str, sizes))}, n_y={n_y}, m={m}, "
                                    f"T_x={T_x}, seed {seed})", seed, n_x, sizes, n_y, m, T_x))
        return cases

    def unpack(self, result, case):
        if isinstance(result, (tuple, list)) and len(result) == 3:
            result = result[:2]
        got = super().unpack(result, case)
        L = len(case.dims["sizes"])
        if not (isinstance(got["a"], (list, tuple)) and len(got["a"]) == L):
            raise GradingFailure(
                f"deep_forward: a must be the list of the {L} layers' states, a[l] of shape "
                f"(n_a[l], m, T_x), got "
                + (f"a list of {len(got['a'])}" if isinstance(got["a"], (list, tuple))
                   else f"a {type(got['a']).__name__}") + ".")
        got["a"] = list(got["a"])
        return got

    def expected_shapes(self, case):
        d = case.dims
        shapes = {"y_hat": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}
        return shapes

    def unpack_reference(self, result, case):
        states, y_hat, _ = result
        return {"a": list(states), "y_hat": y_hat}

    def extra_shape_problem(self, case, got):
        return _deep_shape_problem(self, case, got)

    def mistakes(self):
        def run(case, read_x=False, top=-1, same_a0=False, reverse_layers=False, out=_softmax0):
            x, a0, p = case.fresh_args()
            layers = p["layers"]
            order = list(range(len(layers)))[::-1] if reverse_layers else range(len(layers))
            states, h = [None] * len(layers), x
            for l in order:
                h = _rnn_layer(x if read_x else h, a0[0] if same_a0 else a0[l], layers[l])
                states[l] = h
            top_a = states[top]
            n_a, m, T_x = top_a.shape
            z = (p["Wy"] @ top_a.reshape(n_a, m * T_x) + p["by"]).reshape(-1, m, T_x)
            return {"a": states, "y_hat": out(z)}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("every layer reads x: layer l reads the states of layer l-1, "
                    "a[l-1] (layer 1 reads x).", v(read_x=True)),
            Mistake("y_hat is computed from the first layer: the output layer reads the top "
                    "layer's states, a[L].", v(top=0)),
            Mistake("every layer starts from a0[0]: layer l starts from its own a0[l].",
                    v(same_a0=True)),
            Mistake("y_hat is not a probability distribution: apply softmax over axis 0 to "
                    "Wy a[L]<t> + by.", v(out=_identity)),
        ]


def _deep_shape_problem(spec, case, got):
    for l, (a, n_a) in enumerate(zip(got["a"], case.dims["sizes"], strict=True)):
        shape = (n_a, case.dims["m"], case.dims["T_x"])
        if not isinstance(a, np.ndarray) or a.shape != shape:
            have = _fmt_shape(a.shape) if isinstance(a, np.ndarray) else type(a).__name__
            return (f"a[{l}] (layer {l + 1}) has shape {have}, expected (n_a[{l + 1}], m, T_x) "
                    f"= {_fmt_shape(shape)}.")
    return None
