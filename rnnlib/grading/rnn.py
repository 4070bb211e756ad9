"""Checks of the ``rnn`` assignment: ``one_hot``, ``rnn_cell_forward``, ``rnn_forward``.

Shapes follow the notes: xt (n_x, m), a_prev (n_a, m), x (n_x, m, T_x),
a (n_a, m, T_x), y_pred (n_y, m, T_x).
"""

import numpy as np

from .cases import (
    _identity,
    _normal,
    _random_cases,
    _relu,
    _rng,
    _rnn_parameters,
    _sigmoid,
    _softmax0,
    _softmax1,
)
from .references import _reference
from .sequences import _CachedForward, _sequence_mistakes, _sequence_states, _sequence_variant
from .spec import Case, Mistake, Spec, _close


def _rnn_step(xt, a_prev, p, g=np.tanh, bias=True, Wax=None, Waa=None, out=_softmax0,
              y_from_prev=False, y_bias=True):
    Wax = p["Wax"] if Wax is None else Wax
    Waa = p["Waa"] if Waa is None else Waa
    a_next = g(Waa @ a_prev + Wax @ xt + (p["ba"] if bias else 0.0))
    y_state = a_prev if y_from_prev else a_next
    yt = out(p["Wya"] @ y_state + (p["by"] if y_bias else 0.0))
    return {"a_next": a_next, "yt_pred": yt}


class _OneHot(Spec):
    name, reference = "one_hot", "rnnlib.text.one_hot"
    outputs = ("x",)
    shape_hints = {"x": "one row per symbol (n rows) and one column per time step (T columns)"}
    error_hint = "x has n rows (one per symbol) and T columns (one per time step)"

    def _case(self, label, indices, n):
        return Case(label, (list(indices), n), {"n": n, "T": len(indices)})

    def fixed_cases(self):
        return [self._case("the fixed case indices=[3, 0, 2, 5, 2], n=6", [3, 0, 2, 5, 2], 6),
                self._case("the fixed case indices=[None, 1, 4, 4], n=5 (None is x<1> = 0)",
                           [None, 1, 4, 4], 5)]

    def random_cases(self):
        cases = []
        for seed in (201, 202, 203, 204):
            rng = _rng(seed)
            n, T = int(rng.integers(1, 9)), int(rng.integers(1, 9))
            idx = [int(i) for i in rng.integers(0, n, T)]
            if seed % 2:
                idx[0] = None
            cases.append(self._case(f"a random case (indices={idx}, n={n})", idx, n))
        return cases

    def expected_shapes(self, case):
        return {"x": ((case.dims["n"], case.dims["T"]), "(n, T)")}

    def unpack(self, result, case):
        return {"x": result}

    def mistakes(self):
        def shifted(k):
            def compute(case):
                idx, n = case.fresh_args()
                x = np.zeros((n, len(idx)))
                for t, i in enumerate(idx):
                    if i is not None:
                        x[(i + k) % n, t] = 1.0
                return {"x": x}
            return compute

        def transposed(case):
            return {"x": _reference(self.reference)(*case.fresh_args()).T}

        def none_as_zero_index(case):
            idx, n = case.fresh_args()
            return {"x": _reference(self.reference)([0 if i is None else i for i in idx], n)}

        return [
            Mistake("each 1 sits one row off: index i sets row i (x[i, t] = 1), not i - 1 "
                    "or i + 1.", shifted(-1)),
            Mistake("each 1 sits one row off: index i sets row i (x[i, t] = 1), not i - 1 "
                    "or i + 1.", shifted(1)),
            Mistake("x is transposed: one_hot returns (n, T), a column per time step.",
                    transposed),
            Mistake("None must give a zero column (x<1> = 0), not the one-hot vector of "
                    "index 0.", none_as_zero_index),
        ]

    def hints(self, case, got):
        x = got["x"]
        sums = x.sum(axis=0)
        if not np.all(np.isin(x, (0.0, 1.0))):
            return ["A one-hot vector holds only zeros and a single 1."]
        if np.any(sums > 1):
            return ["Some column has more than one 1: each time step is one symbol."]
        return []


class _RnnCellForward(Spec):
    name, reference = "rnn_cell_forward", "rnnlib.rnn.rnn_cell_forward"
    returns = ("a_next", "yt_pred", "cache")
    outputs = ("a_next", "yt_pred")
    error_hint = ("Wax (n_a, n_x) multiplies xt (n_x, m), Waa (n_a, n_a) multiplies a_prev "
                  "(n_a, m), and ba (n_a, 1) is added to every column")
    shape_hints = {"a_next": "did you transpose Wax or xt? a<t> has one column per example",
                   "yt_pred": "did you transpose Wya? ŷ<t> has one column per example"}

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 1, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=4, n_a=4, n_y=3, m=2)",
                           2, 4, 4, 3, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def step(**kw):
            return lambda case: _rnn_step(*case.fresh_args(), **kw)

        def with_weights(swap=False, t_ax=False, t_aa=False):
            def compute(case):
                xt, a_prev, p = case.fresh_args()
                Wax, Waa = (p["Waa"], p["Wax"]) if swap else (p["Wax"], p["Waa"])
                return _rnn_step(xt, a_prev, p, Wax=Wax.T if t_ax else Wax,
                                 Waa=Waa.T if t_aa else Waa)
            return compute

        return [
            Mistake("a_next uses σ (sigmoid): the hidden state of this RNN uses tanh, "
                    "a<t> = tanh(Waa a<t-1> + Wax x<t> + ba).", step(g=_sigmoid)),
            Mistake("a_next uses ReLU: this cell uses tanh, a<t> = tanh(Waa a<t-1> + Wax x<t> "
                    "+ ba).", step(g=_relu)),
            Mistake("a_next is missing the bias ba: a<t> = tanh(Waa a<t-1> + Wax x<t> + ba).",
                    step(bias=False)),
            Mistake("Wax and Waa are swapped: Waa multiplies a<t-1> (a_prev) and Wax "
                    "multiplies x<t> (xt).", with_weights(swap=True)),
            Mistake("Wax is used transposed: Wax has shape (n_a, n_x) and multiplies xt as it "
                    "is, Wax @ xt.", with_weights(t_ax=True)),
            Mistake("Waa is used transposed: Waa multiplies a_prev as it is, Waa @ a_prev.",
                    with_weights(t_aa=True)),
            Mistake("yt_pred is not a probability distribution over the n_y classes (its "
                    "columns do not sum to 1): apply softmax to Wya a<t> + by.",
                    step(out=_identity)),
            Mistake("yt_pred is normalised over the m examples: softmax goes over axis 0, so "
                    "that each column (one example) sums to 1 over the n_y classes.",
                    step(out=_softmax1)),
            Mistake("yt_pred uses σ (sigmoid): the output layer uses softmax over axis 0.",
                    step(out=_sigmoid)),
            Mistake("yt_pred is computed from a<t-1> (a_prev): use the new state, "
                    "ŷ<t> = softmax(Wya a<t> + by).", step(y_from_prev=True)),
            Mistake("yt_pred is missing the bias by: ŷ<t> = softmax(Wya a<t> + by).",
                    step(y_bias=False)),
        ]

    def hints(self, case, got):
        hints = []
        y = got["yt_pred"]
        if not np.allclose(y.sum(axis=0), 1.0):
            hints.append("yt_pred is not a probability distribution over n_y: its columns "
                         "must sum to 1 (softmax over axis 0).")
        if np.any(np.abs(got["a_next"]) > 1):
            hints.append("a_next has entries outside [-1, 1], which tanh never produces.")
        return hints

    def extra(self, case, got, args_after):
        cache = got["cache"]
        xt, a_prev, _ = case.args
        if not (isinstance(cache, (tuple, list)) and len(cache) == 4
                and _close(cache[1], a_prev) and _close(cache[2], xt)):
            return ("cache must be (a_next, a_prev, xt, parameters), the tuple "
                    "rnn_cell_backward unpacks.")
        return None


class _RnnForward(_CachedForward, Spec):
    name, reference = "rnn_forward", "rnnlib.rnn.rnn_forward"
    returns = ("a", "y_pred", "caches")
    outputs = ("a", "y_pred")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "rnn_cell_forward", "rnn_backward"
    cell_fields = ("a_next", "a_prev", "xt", "parameters")
    state_fields = {"a_next": ("a", 0), "a_prev": ("a", -1)}
    substitutes = {"rnn_cell_forward": "rnnlib.rnn.rnn_cell_forward"}
    lent_for = {"rnn_cell_forward": "parameters"}
    error_hint = ("x[:, :, t] is x<t> (n_x, m); a and y_pred are (n_a, m, T_x) and "
                  "(n_y, m, T_x), filled one time step at a time")

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 11, 3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=4, m=1, T_x=3)", 12, 2, 3, 4, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y_pred": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.rnn.rnn_cell_forward")

        def step(xt, a, p):
            a_next, yt, _ = cell(xt, a, p)
            return a_next, yt

        def run(case, **flags):
            x, a0, p = case.fresh_args()
            a, y = _sequence_variant(step, x, a0, p, a0.shape[0], **flags)
            return {"a": a, "y_pred": y}

        return _sequence_mistakes(run)

    def states(self, case, expected):
        return _sequence_states("a", case.args[1], expected["a"])
