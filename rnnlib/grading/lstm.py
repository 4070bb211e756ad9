"""Checks of the ``lstm`` assignment: ``lstm_cell_forward``, ``lstm_forward``,
``lstm_cell_backward`` and ``lstm_backward`` (Γf, Γu, Γo, c̃<t>).
"""

import numpy as np

from .cases import _identity, _normal, _random_cases, _rng, _sigmoid, _softmax0
from .gru import _gate_parameters
from .references import _reference
from .sequences import _CachedForward, _sequence_states
from .spec import Case, Mistake, Spec, _dict_unpack
from .worker import _quiet, _roundtrip


def _lstm_step(xt, a_prev, c_prev, p, src=None, swap_fu=False, a_tanh=True, a_from_prev_c=False,
               cand=np.tanh, out_gate=_sigmoid, concat_xa=False, y_out=_softmax0):
    src = src or {}
    concat = np.concatenate((xt, a_prev) if concat_xa else (a_prev, xt), axis=0)

    def z(g):
        k = src.get(g, g)
        return p["W" + k] @ concat + p["b" + k]

    ft, ut, ot = _sigmoid(z("f")), _sigmoid(z("u")), out_gate(z("o"))
    cct = cand(z("c"))
    c_next = ft * cct + ut * c_prev if swap_fu else ut * cct + ft * c_prev
    c_used = c_prev if a_from_prev_c else c_next
    a_next = ot * (np.tanh(c_used) if a_tanh else c_used)
    yt = y_out(p["Wy"] @ a_next + p["by"])
    return a_next, c_next, yt


_GATE_NAMES = {"f": "the forget gate", "u": "the update gate", "o": "the output gate",
               "c": "the candidate"}


_GATE_SYMBOL = {"f": "Γf", "u": "Γu", "o": "Γo", "c": "c̃"}


class _LstmCellForward(Spec):
    name, reference = "lstm_cell_forward", "rnnlib.lstm.lstm_cell_forward"
    returns = ("a_next", "c_next", "yt_pred", "cache")
    outputs = ("a_next", "c_next", "yt_pred")
    error_hint = ("the gates act on concat = [a<t-1>; x<t>] of shape (n_a + n_x, m), "
                  "np.concatenate((a_prev, xt), axis=0); Wf, Wu, Wc, Wo are (n_a, n_a + n_x)")

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 111, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, n_y=2, m=2)",
                           112, 3, 3, 2, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "c_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                a, c, y = _lstm_step(*case.fresh_args(), **kw)
                return {"a_next": a, "c_next": c, "yt_pred": y}
            return compute

        found = []
        for g in "fuoc":
            for other in "fuoc":
                if other != g:
                    found.append(Mistake(
                        f"{_GATE_SYMBOL[g]} looks like {_GATE_SYMBOL[other]}: "
                        f"{_GATE_NAMES[g]} uses W{g} and b{g}.", v(src={g: other})))
        found += [
            Mistake("Γf and Γu are swapped in c<t>: the update gate scales the candidate and "
                    "the forget gate the old cell, c<t> = Γu * c̃ + Γf * c<t-1>.", v(swap_fu=True)),
            Mistake("a_next is missing the tanh: a<t> = Γo * tanh(c<t>).", v(a_tanh=False)),
            Mistake("a_next uses c<t-1> (c_prev): a<t> = Γo * tanh(c<t>), with the new cell.",
                    v(a_from_prev_c=True)),
            Mistake("c̃ uses σ: the candidate uses tanh, c̃ = tanh(Wc [a<t-1>, x<t>] + bc).",
                    v(cand=_sigmoid)),
            Mistake("Γo uses tanh: every gate uses σ (sigmoid), values in (0, 1).",
                    v(out_gate=np.tanh)),
            Mistake("the stacked input is in the wrong order: it is [a<t-1>; x<t>], hidden part "
                    "first, np.concatenate((a_prev, xt), axis=0).", v(concat_xa=True)),
            Mistake("yt_pred is not a probability distribution: apply softmax over axis 0 to "
                    "Wy a<t> + by.", v(y_out=_identity)),
        ]
        return found


class _LstmForward(_CachedForward, Spec):
    name, reference = "lstm_forward", "rnnlib.lstm.lstm_forward"
    returns = ("a", "y", "c", "caches")
    outputs = ("a", "y", "c")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "lstm_cell_forward", "lstm_backward"
    cell_fields = ("a_next", "c_next", "a_prev", "c_prev", "ft", "ut", "cct", "ot", "xt",
                   "parameters")
    state_fields = {"a_next": ("a", 0), "a_prev": ("a", -1), "c_next": ("c", 0),
                    "c_prev": ("c", -1)}

    def states(self, case, expected):
        a0 = case.args[1]
        return {**_sequence_states("a", a0, expected["a"]),
                **_sequence_states("c", np.zeros_like(a0), expected["c"])}
    substitutes = {"lstm_cell_forward": "rnnlib.lstm.lstm_cell_forward"}
    lent_for = {"lstm_cell_forward": "parameters"}
    error_hint = "x[:, :, t] is x<t> (n_x, m); a and c are (n_a, m, T_x), y (n_y, m, T_x)"

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 121,
                           3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=3, m=1, T_x=3)", 122, 2, 3, 3, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)"),
                "c": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.lstm.lstm_cell_forward")

        def run(case, carry_a=True, carry_c=True, c0_from_a0=False, store_prev=False,
                x_shift=0, start=0, reverse=False):
            x, a0, p = case.fresh_args()
            n_x, m, T_x = x.shape
            n_a = a0.shape[0]
            n_y = p["Wy"].shape[0]
            a, c, y = (np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)),
                       np.zeros((n_y, m, T_x)))
            a_t, c_t = a0, (a0.copy() if c0_from_a0 else np.zeros((n_a, m)))
            c0 = c_t
            order = range(T_x - 1, -1, -1) if reverse else range(start, T_x)
            for t in order:
                a_new, c_new, yt, _ = cell(x[:, :, (t + x_shift) % T_x], a_t if carry_a else a0,
                                           c_t if carry_c else c0, p)
                a[:, :, t] = a_t if store_prev else a_new
                c[:, :, t] = c_t if store_prev else c_new
                y[:, :, t] = yt
                a_t, c_t = a_new, c_new
            return {"a": a, "y": y, "c": c}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("the memory cell is not carried: feed each step's c_next into the next "
                    "step (only c<0> is zeros).", v(carry_c=False)),
            Mistake("the hidden state is not carried: feed each step's a_next into the next "
                    "step.", v(carry_a=False)),
            Mistake("neither state is carried from step to step: feed a_next and c_next into "
                    "the next step.", v(carry_a=False, carry_c=False)),
            Mistake("c<0> must be zeros (np.zeros((n_a, m))), not a0.", v(c0_from_a0=True)),
            Mistake("a[:, :, t] and c[:, :, t] hold the states before step t: store what the "
                    "step returns (off by one in time).", v(store_prev=True)),
            Mistake("step t reads x<t-1>: the input of step t is x[:, :, t] (off by one in "
                    "time).", v(x_shift=-1)),
            Mistake("the first time step is missing: loop over range(T_x).", v(start=1)),
            Mistake("the loop runs backwards in time: the forward pass goes t = 0 ... T_x - 1.",
                    v(reverse=True)),
        ]


_LSTM_GATE_GRADS = ("dWf", "dbf", "dWu", "dbu", "dWc", "dbc", "dWo", "dbo")


_LSTM_CELL_GRAD_KEYS = ("dxt", "da_prev", "dc_prev") + _LSTM_GATE_GRADS


def _lstm_cell_backward_variant(da_next, dc_next, cache, through_a=True, forget_dc_prev=True,
                                f_uses_c_next=False, concat_next=False, split_swap=False,
                                o_tanh_prev=False, no_gate_deriv=None):
    a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, p = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + (da_next * ot * (1 - tanh_c ** 2) if through_a else 0.0)

    def sd(g):
        return 1.0 if no_gate_deriv == "sigmoid" else g * (1 - g)

    dz = {"f": dc * (c_next if f_uses_c_next else c_prev) * sd(ft),
          "u": dc * cct * sd(ut),
          "c": dc * ut * (1.0 if no_gate_deriv == "tanh" else 1 - cct ** 2),
          "o": da_next * (np.tanh(c_prev) if o_tanh_prev else tanh_c) * sd(ot)}
    concat = np.concatenate([a_next if concat_next else a_prev, xt], axis=0)
    dconcat = sum(p["W" + g].T @ dz[g] for g in "fuco")
    grads = {"dxt": dconcat[:n_a] if split_swap else dconcat[n_a:],
             "da_prev": dconcat[-n_a:] if split_swap else dconcat[:n_a],
             "dc_prev": dc * ft if forget_dc_prev else dc}
    for g in "fuco":
        grads["dW" + g] = dz[g] @ concat.T
        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
    return grads


def _lstm_cache(rng, n_x, n_a, m):
    p = _gate_parameters(rng, "fuco", n_x, n_a, 2)
    xt, a_prev, c_prev = _normal(rng, n_x, m), _normal(rng, n_a, m), _normal(rng, n_a, m)
    with _quiet():
        *_, cache = _reference("rnnlib.lstm.lstm_cell_forward")(xt, a_prev, c_prev, p)
    return _roundtrip(cache)


class _LstmCellBackward(Spec):
    name, reference = "lstm_cell_backward", "rnnlib.lstm.lstm_cell_backward"
    outputs = _LSTM_CELL_GRAD_KEYS
    error_hint = ("dc = dc_next + da_next * Γo * (1 - tanh(c<t>)**2); each gate's dz has shape "
                  "(n_a, m); dW = dz @ concat.T with concat = [a<t-1>; x<t>]")

    def _case(self, label, seed, n_x, n_a, m, **_):
        rng = _rng(seed)
        cache = _lstm_cache(rng, n_x, n_a, m)
        return Case(label, (_normal(rng, n_a, m), _normal(rng, n_a, m), cache),
                    {"n_x": n_x, "n_a": n_a, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4)", 131, 3, 5, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, m=2)", 132, 3, 3, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m = d["n_x"], d["n_a"], d["m"]
        shapes = {"dxt": ((n_x, m), "(n_x, m)"), "da_prev": ((n_a, m), "(n_a, m)"),
                  "dc_prev": ((n_a, m), "(n_a, m)")}
        for g in "fuco":
            shapes["dW" + g] = ((n_a, n_a + n_x), "(n_a, n_a + n_x)")
            shapes["db" + g] = ((n_a, 1), "(n_a, 1)")
        return shapes

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LSTM_CELL_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _lstm_cell_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("c<t> also gets gradient through a<t> = Γo * tanh(c<t>): "
                    "dc = dc_next + da_next * Γo * (1 - tanh(c<t>)**2).", v(through_a=False)),
            Mistake("dc_prev is missing the forget gate: c<t> = ... + Γf * c<t-1>, so "
                    "dc_prev = dc * Γf.", v(forget_dc_prev=False)),
            Mistake("the forget gate's gradient uses c<t>: Γf multiplied c<t-1>, so "
                    "dzf = dc * c_prev * Γf * (1 - Γf).", v(f_uses_c_next=True)),
            Mistake("the weight gradients use a<t> (a_next) where they need a<t-1>: the gates "
                    "acted on [a<t-1>; x<t>], so dW = dz @ concat.T with a_prev.",
                    v(concat_next=True)),
            Mistake("dxt and da_prev are split the wrong way: the first n_a rows of "
                    "dconcat belong to a<t-1>, the rest to x<t>.", v(split_swap=True)),
            Mistake("Γo's gradient uses tanh(c<t-1>): a<t> = Γo * tanh(c<t>).",
                    v(o_tanh_prev=True)),
            Mistake("the gates' sigmoid derivative Γ(1 - Γ) is missing.",
                    v(no_gate_deriv="sigmoid")),
            Mistake("the candidate's tanh derivative (1 - c̃**2) is missing.",
                    v(no_gate_deriv="tanh")),
        ]


_LSTM_SEQ_GRAD_KEYS = ("dx", "da0") + _LSTM_GATE_GRADS


def _lstm_backward_variant(da, caches, carry_c=True, carry_a=True, accumulate=True,
                           forward_order=False):
    cell_back = _reference("rnnlib.lstm.lstm_cell_backward")
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    grads = {k: 0.0 for k in _LSTM_GATE_GRADS}
    da_prev, dc_prev = np.zeros((n_a, m)), np.zeros((n_a, m))
    for t in (range(T_x) if forward_order else range(T_x - 1, -1, -1)):
        step = cell_back(da[:, :, t] + (da_prev if carry_a else 0.0),
                         dc_prev if carry_c else np.zeros((n_a, m)), cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prev, dc_prev = step["da_prev"], step["dc_prev"]
        for k in grads:
            grads[k] = grads[k] + step[k] if accumulate else step[k]
    return {"dx": dx, "da0": da_prev, **grads}


class _LstmBackward(Spec):
    name, reference = "lstm_backward", "rnnlib.lstm.lstm_backward"
    outputs = _LSTM_SEQ_GRAD_KEYS
    substitutes = {"lstm_cell_backward": "rnnlib.lstm.lstm_cell_backward"}
    lent_for = {"lstm_cell_backward": "cache"}
    error_hint = ("caches is (list of T_x cell caches, x); step t gets da[:, :, t] + da_prevt "
                  "and dc_prevt from step t+1")

    def _case(self, label, seed, n_x, n_a, m, T_x, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, 2)
        x, a0 = _normal(rng, n_x, m, T_x), _normal(rng, n_a, m)
        with _quiet():
            *_, caches = _reference("rnnlib.lstm.lstm_forward")(x, a0, p)
        return Case(label, (_normal(rng, n_a, m, T_x), _roundtrip(caches)),
                    {"n_x": n_x, "n_a": n_a, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4, T_x=5)", 141, 3, 5, 4, 5),
                self._case("the fixed case (n_x=2, n_a=3, m=2, T_x=3)", 142, 2, 3, 2, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m, T_x = d["n_x"], d["n_a"], d["m"], d["T_x"]
        shapes = {"dx": ((n_x, m, T_x), "(n_x, m, T_x)"), "da0": ((n_a, m), "(n_a, m)")}
        for g in "fuco":
            shapes["dW" + g] = ((n_a, n_a + n_x), "(n_a, n_a + n_x)")
            shapes["db" + g] = ((n_a, 1), "(n_a, 1)")
        return shapes

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LSTM_SEQ_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _lstm_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the memory cell's gradient is not carried back through time: step t must "
                    "get dc_prevt, the dc_prev returned by step t+1 (a widely copied bug).",
                    v(carry_c=False)),
            Mistake("the hidden state's gradient is not carried back through time: step t "
                    "must get da[:, :, t] + da_prevt.", v(carry_a=False)),
            Mistake("the weight gradients keep only one step: add up every step's gradients.",
                    v(accumulate=False)),
            Mistake("the loop runs forward in time: backpropagation goes from t = T_x - 1 down "
                    "to 0.", v(forward_order=True)),
        ]
