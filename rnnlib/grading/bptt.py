"""Checks of the ``bptt`` assignment: ``rnn_cell_backward``, ``rnn_backward`` and
``numerical_gradient``.
"""

import numpy as np

from .cases import _normal, _random_cases, _rng, _rnn_parameters
from .references import _reference
from .spec import Case, Mistake, Spec, _close, _dict_unpack, _fmt_shape
from .worker import FnRef, _quiet, _roundtrip


def _rnn_cell_cache(rng, n_x, n_a, m):
    p = _rnn_parameters(rng, n_x, n_a, 2)
    xt, a_prev = _normal(rng, n_x, m), _normal(rng, n_a, m)
    a_next = np.tanh(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])
    return (a_next, a_prev, xt, p)


def _rnn_cell_backward_variant(da_next, cache, deriv="tanh", dWaa_from="prev", dba="sum",
                               swap_dx=False, t_dWax=False):
    a_next, a_prev, xt, p = cache
    dz = da_next * {"tanh": 1 - a_next ** 2, "none": 1.0, "sigmoid": a_next * (1 - a_next),
                    "tanh_again": 1 - np.tanh(a_next) ** 2}[deriv]
    grads = {"dxt": (p["Waa"] if swap_dx else p["Wax"]).T @ dz,
             "da_prev": (p["Wax"] if swap_dx else p["Waa"]).T @ dz,
             "dWax": xt @ dz.T if t_dWax else dz @ xt.T,
             "dWaa": dz @ (a_next if dWaa_from == "next" else a_prev).T}
    grads["dba"] = {"sum": dz.sum(axis=1, keepdims=True), "none": dz,
                    "axis0": dz.sum(axis=0, keepdims=True), "nokeep": dz.sum(axis=1)}[dba]
    return grads


_RNN_GRAD_KEYS = ("dxt", "da_prev", "dWax", "dWaa", "dba")


class _RnnCellBackward(Spec):
    name, reference = "rnn_cell_backward", "rnnlib.rnn.rnn_cell_backward"
    outputs = _RNN_GRAD_KEYS
    error_hint = ("with dz = da_next * (1 - a_next**2) of shape (n_a, m): dxt = Wax.T @ dz, "
                  "da_prev = Waa.T @ dz, dWax = dz @ xt.T, dWaa = dz @ a_prev.T, "
                  "dba = dz summed over the m examples")
    shape_hints = {"dWax": "dWax has the shape of Wax: dz @ xt.T",
                   "dWaa": "dWaa has the shape of Waa: dz @ a_prev.T",
                   "dba": "dba has the shape of ba: sum dz over the examples, "
                          "dz.sum(axis=1, keepdims=True)"}

    def _case(self, label, seed, n_x, n_a, m, **_):
        rng = _rng(seed)
        cache = _rnn_cell_cache(rng, n_x, n_a, m)
        return Case(label, (_normal(rng, n_a, m), cache), {"n_x": n_x, "n_a": n_a, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4)", 21, 3, 5, 4),
                self._case("the fixed case with n_x = n_a (n_x=4, n_a=4, m=3)", 22, 4, 4, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m = d["n_x"], d["n_a"], d["m"]
        return {"dxt": ((n_x, m), "(n_x, m)"), "da_prev": ((n_a, m), "(n_a, m)"),
                "dWax": ((n_a, n_x), "(n_a, n_x)"), "dWaa": ((n_a, n_a), "(n_a, n_a)"),
                "dba": ((n_a, 1), "(n_a, 1)")}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _RNN_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _rnn_cell_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("dWaa uses a<t> (a_next) where it needs a<t-1>: Waa multiplied a_prev in "
                    "the forward pass, so dWaa = dz @ a_prev.T.", v(dWaa_from="next")),
            Mistake("the tanh derivative is missing: first dz = da_next * (1 - a_next**2), "
                    "then every gradient from dz.", v(deriv="none")),
            Mistake("the derivative is the sigmoid's, a(1 - a): tanh's is 1 - a_next**2.",
                    v(deriv="sigmoid")),
            Mistake("the derivative applies tanh again: a_next already is tanh(z), so "
                    "tanh'(z) = 1 - a_next**2.", v(deriv="tanh_again")),
            Mistake("dba is not summed over the m examples: dba = dz.sum(axis=1, "
                    "keepdims=True), shape (n_a, 1).", v(dba="none")),
            Mistake("dba is summed over the wrong axis: the examples are axis 1, "
                    "dz.sum(axis=1, keepdims=True).", v(dba="axis0")),
            Mistake("dba lost its second dimension: dz.sum(axis=1, keepdims=True) keeps the "
                    "shape (n_a, 1).", v(dba="nokeep")),
            Mistake("dxt and da_prev are swapped: dxt = Wax.T @ dz and da_prev = Waa.T @ dz.",
                    v(swap_dx=True)),
            Mistake("dWax is transposed: it has the shape of Wax, dWax = dz @ xt.T.",
                    v(t_dWax=True)),
        ]


def _rnn_backward_variant(da, caches, carry=True, accumulate=True, forward_order=False,
                          da_shift=0, da0_from="last", ignore_da=False):
    cell_back = _reference("rnnlib.rnn.rnn_cell_backward")
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    grads = {k: 0.0 for k in ("dWax", "dWaa", "dba")}
    da_prevt = np.zeros((n_a, m))
    first_da_prev = None
    order = range(T_x) if forward_order else range(T_x - 1, -1, -1)
    for t in order:
        incoming = np.zeros((n_a, m)) if ignore_da else da[:, :, (t + da_shift) % T_x]
        step = cell_back(incoming + (da_prevt if carry else 0.0), cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prevt = step["da_prev"]
        if first_da_prev is None:
            first_da_prev = da_prevt
        for k in grads:
            grads[k] = grads[k] + step[k] if accumulate else step[k]
    return {"dx": dx, "da0": da_prevt if da0_from == "last" else first_da_prev, **grads}


_RNN_SEQ_GRAD_KEYS = ("dx", "da0", "dWax", "dWaa", "dba")


class _RnnBackward(Spec):
    name, reference = "rnn_backward", "rnnlib.rnn.rnn_backward"
    outputs = _RNN_SEQ_GRAD_KEYS
    substitutes = {"rnn_cell_backward": "rnnlib.rnn.rnn_cell_backward"}
    lent_for = {"rnn_cell_backward": "cache"}
    error_hint = ("caches is (list of T_x cell caches, x); step t gets da[:, :, t] + the "
                  "gradient flowing back from step t+1")

    def _case(self, label, seed, n_x, n_a, m, T_x, **_):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, 2)
        x, a0 = _normal(rng, n_x, m, T_x), _normal(rng, n_a, m)
        with _quiet():
            _, _, caches = _reference("rnnlib.rnn.rnn_forward")(x, a0, p)
        return Case(label, (_normal(rng, n_a, m, T_x), _roundtrip(caches)),
                    {"n_x": n_x, "n_a": n_a, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4, T_x=5)", 31, 3, 5, 4, 5),
                self._case("the fixed case (n_x=2, n_a=3, m=2, T_x=3)", 32, 2, 3, 2, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m, T_x = d["n_x"], d["n_a"], d["m"], d["T_x"]
        return {"dx": ((n_x, m, T_x), "(n_x, m, T_x)"), "da0": ((n_a, m), "(n_a, m)"),
                "dWax": ((n_a, n_x), "(n_a, n_x)"), "dWaa": ((n_a, n_a), "(n_a, n_a)"),
                "dba": ((n_a, 1), "(n_a, 1)")}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _RNN_SEQ_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _rnn_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the gradient is not carried back through time: step t must get "
                    "da[:, :, t] + da_prevt, where da_prevt is the da_prev returned by step "
                    "t+1.", v(carry=False)),
            Mistake("dWax, dWaa and dba keep only one step: the weights are shared over time, "
                    "so add up every step's gradients.", v(accumulate=False)),
            Mistake("the loop runs forward in time: backpropagation goes from t = T_x - 1 down "
                    "to 0.", v(forward_order=True)),
            Mistake("step t reads da of another step (off by one in time): it gets "
                    "da[:, :, t].", v(da_shift=-1)),
            Mistake("step t reads da of another step (off by one in time): it gets "
                    "da[:, :, t].", v(da_shift=1)),
            Mistake("step t ignores da[:, :, t], the gradient arriving from its output.",
                    v(ignore_da=True)),
            Mistake("da0 is the gradient reaching a<0>: the da_prev of the last step "
                    "processed (t = 0).", v(da0_from="first")),
        ]


def _numerical_variant(f, x, h=1e-5, scheme="central", restore=True, together=False):
    grad = np.zeros_like(x)
    if together:
        old = x.copy()
        x += h
        fp = f()
        x[...] = old - h
        fm = f()
        x[...] = old
        return np.full_like(x, (fp - fm) / (2 * h))
    for i in np.ndindex(x.shape):
        old = x[i]
        f0 = f()
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        if restore:
            x[i] = old
        grad[i] = {"central": (fp - fm) / (2 * h), "forward": (fp - f0) / h,
                   "backward": (f0 - fm) / h, "no_half": (fp - fm) / h,
                   "flipped": (fm - fp) / (2 * h)}[scheme]
    return grad


class _NumericalGradient(Spec):
    name, reference = "numerical_gradient", "rnnlib.gradcheck.numerical_gradient"
    outputs = ("grad",)
    error_hint = "grad has the shape of x; perturb one entry x[i] at a time"

    def _case(self, label, seed, shape, fname):
        x = _normal(_rng(seed), *shape)
        return Case(label, (FnRef(fname, over=1), x), {"shape": shape})

    def fixed_cases(self):
        return [self._case("the fixed case (x of shape (3, 4))", 41, (3, 4), "sin_poly"),
                self._case("the fixed case (x of shape (5,))", 42, (5,), "exp_mix")]

    def random_cases(self):
        return [self._case(f"a random case (x of shape {_fmt_shape(s)}, seed {seed})", seed, s, f)
                for seed, s, f in ((401, (2, 3, 2), "sin_poly"), (402, (1,), "exp_mix"),
                                   (403, (4, 1), "exp_mix"), (404, (6,), "sin_poly"))]

    def expected_shapes(self, case):
        return {"grad": (case.dims["shape"], "the shape of x")}

    def unpack(self, result, case):
        return {"grad": result}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                f, x = case.fresh_args()
                return {"grad": _numerical_variant(f, x, **kw)}
            return compute

        return [
            Mistake("this is a one-sided difference (f(x + h) - f(x)) / h, accurate only to "
                    "O(h): use the centred difference (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="forward")),
            Mistake("this is a one-sided difference (f(x) - f(x - h)) / h, accurate only to "
                    "O(h): use the centred difference (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="backward")),
            Mistake("the gradient is twice too large: the centred difference divides by 2h, "
                    "the distance between x - h and x + h.", v(scheme="no_half")),
            Mistake("the gradient has the wrong sign: (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="flipped")),
            Mistake("every entry was perturbed at once: change one entry x[i] at a time and "
                    "put it back before the next one.", v(together=True)),
            Mistake("x[i] is not put back after its difference, so later entries are measured "
                    "at a shifted point: restore x[i] = old before moving on.",
                    v(restore=False)),
        ]

    def expected(self, case):
        ref = _reference(self.reference)
        f, x = case.fresh_args()
        with _quiet():
            return {"grad": ref(f, x)}

    def extra(self, case, got, args_after):
        if not _close(args_after[1], case.args[1]):
            return ("x is left changed after the call: restore each entry (x[i] = old) after "
                    "evaluating f at x[i] + h and x[i] - h.")
        return None
