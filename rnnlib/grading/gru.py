"""Checks of the ``gru`` assignment: ``gru_cell_forward`` and ``gru_forward`` (Γu, Γr and
c̃<t> in the notes' convention, with the other common conventions named).
"""

import numpy as np

from .cases import _identity, _normal, _random_cases, _rng, _sigmoid, _softmax0
from .references import _reference
from .sequences import _CachedForward, _sequence_mistakes, _sequence_states, _sequence_variant
from .spec import Case, Mistake, Spec


def _gate_parameters(rng, keys, n_x, n_a, n_y, scale=0.7):
    p = {}
    for k in keys:
        p["W" + k] = _normal(rng, n_a, n_a + n_x, scale=scale)
        p["b" + k] = _normal(rng, n_a, 1, scale=scale)
    p["Wy"] = _normal(rng, n_y, n_a, scale=scale)
    p["by"] = _normal(rng, n_y, 1, scale=scale)
    return p


def _gru_step(xt, c_prev, p, reset="before", swap_u=False, u_from="u", r_from="r",
              cand=np.tanh, gate=_sigmoid, concat_xc=False, out=_softmax0, y_from_prev=False):
    n_a = c_prev.shape[0]

    def stack(h):
        return np.concatenate((xt, h) if concat_xc else (h, xt), axis=0)

    concat = stack(c_prev)
    ut = gate(p["W" + u_from] @ concat + p["b" + u_from])
    rt = gate(p["W" + r_from] @ concat + p["b" + r_from])
    if reset == "before":
        zc = p["Wc"] @ stack(rt * c_prev) + p["bc"]
    elif reset == "after":
        zc = rt * (p["Wc"][:, :n_a] @ c_prev) + p["Wc"][:, n_a:] @ xt + p["bc"]
    else:
        zc = p["Wc"] @ concat + p["bc"]
    cct = cand(zc)
    c_next = (1 - ut) * cct + ut * c_prev if swap_u else ut * cct + (1 - ut) * c_prev
    yt = out(p["Wy"] @ (c_prev if y_from_prev else c_next) + p["by"])
    return c_next, yt


class _GruCellForward(Spec):
    name, reference = "gru_cell_forward", "rnnlib.gru.gru_cell_forward"
    returns = ("c_next", "yt_pred", "cache")
    outputs = ("c_next", "yt_pred")
    error_hint = ("the gates act on concat = [c<t-1>; x<t>] of shape (n_a + n_x, m), "
                  "np.concatenate((c_prev, xt), axis=0); Wu, Wr, Wc are (n_a, n_a + n_x)")
    shape_hints = {"c_next": "c<t> has one column per example"}

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "cur", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 81, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, n_y=2, m=2)",
                           82, 3, 3, 2, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"c_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                c, y = _gru_step(*case.fresh_args(), **kw)
                return {"c_next": c, "yt_pred": y}
            return compute

        return [
            Mistake("Γr is applied after the matmul (that is PyTorch's GRU): the notes reset "
                    "c<t-1> before it, c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc).", v(reset="after")),
            Mistake("c̃ ignores Γr (that is the simplified GRU): the full GRU computes "
                    "c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc).", v(reset="none")),
            Mistake("Γu interpolates the wrong way round: Γu = 1 must write the candidate, "
                    "c<t> = Γu * c̃ + (1 - Γu) * c<t-1>.", v(swap_u=True)),
            Mistake("Γu looks like Γr: the update gate uses Wu and bu, "
                    "Γu = σ(Wu [c<t-1>, x<t>] + bu).", v(u_from="r")),
            Mistake("Γr looks like Γu: the relevance gate uses Wr and br, "
                    "Γr = σ(Wr [c<t-1>, x<t>] + br).", v(r_from="u")),
            Mistake("Γu and Γr are swapped: Γu uses Wu, bu and Γr uses Wr, br.",
                    v(u_from="r", r_from="u")),
            Mistake("c̃ uses σ: the candidate uses tanh, c̃ = tanh(...).", v(cand=_sigmoid)),
            Mistake("the gates use tanh: Γu and Γr use σ (sigmoid), values in (0, 1).",
                    v(gate=np.tanh)),
            Mistake("the stacked input is in the wrong order: it is [c<t-1>; x<t>], hidden "
                    "part first, np.concatenate((c_prev, xt), axis=0).", v(concat_xc=True)),
            Mistake("yt_pred is not a probability distribution: apply softmax over axis 0 to "
                    "Wy c<t> + by.", v(out=_identity)),
            Mistake("yt_pred is computed from c<t-1>: use the new state, "
                    "ŷ<t> = softmax(Wy c<t> + by).", v(y_from_prev=True)),
        ]


class _GruForward(_CachedForward, Spec):
    name, reference = "gru_forward", "rnnlib.gru.gru_forward"
    returns = ("c", "y_pred", "caches")
    outputs = ("c", "y_pred")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "gru_cell_forward", "gru_backward"
    cell_fields = ("c_next", "c_prev", "ut", "rt", "cct", "xt", "parameters")
    state_fields = {"c_next": ("c", 0), "c_prev": ("c", -1)}

    def states(self, case, expected):
        return _sequence_states("c", case.args[1], expected["c"])
    substitutes = {"gru_cell_forward": "rnnlib.gru.gru_cell_forward"}
    lent_for = {"gru_cell_forward": "parameters"}
    error_hint = "x[:, :, t] is x<t> (n_x, m); c is (n_a, m, T_x), y_pred (n_y, m, T_x)"

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _gate_parameters(rng, "cur", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 91, 3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=3, m=1, T_x=3)", 92, 2, 3, 3, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"c": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y_pred": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.gru.gru_cell_forward")

        def step(xt, c, p):
            c_next, yt, _ = cell(xt, c, p)
            return c_next, yt

        def run(case, **flags):
            x, c0, p = case.fresh_args()
            c, y = _sequence_variant(step, x, c0, p, c0.shape[0], **flags)
            return {"c": c, "y_pred": y}

        return _sequence_mistakes(run, out="c", init="c0")
