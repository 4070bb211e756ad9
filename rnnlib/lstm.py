"""The LSTM of the notes: forward propagation and backpropagation through time.

Shapes follow the course: features first, examples second, time last.

    xt      (n_x, m)        x<t> for a batch of m examples
    a_prev  (n_a, m)        a<t-1>, the hidden state
    c_prev  (n_a, m)        c<t-1>, the memory cell
    x       (n_x, m, T_x)   the whole input sequence
    a, c    (n_a, m, T_x)   every a<t> and c<t>, t = 1 ... T_x

The gate weights act on the stacked ``concat = [a<t-1>; x<t>]`` of shape (n_a + n_x, m), hidden
rows first. Parameters (a dict, keys as in the notes): Wf, Wu, Wc, Wo (n_a, n_a + n_x);
bf, bu, bc, bo (n_a, 1); Wy (n_y, n_a), by (n_y, 1).

    c̃<t> = tanh(Wc [a<t-1>, x<t>] + bc)
    Γu   = σ(Wu [a<t-1>, x<t>] + bu)          update gate (the assignment's "i")
    Γf   = σ(Wf [a<t-1>, x<t>] + bf)          forget gate
    Γo   = σ(Wo [a<t-1>, x<t>] + bo)          output gate
    c<t> = Γu * c̃<t> + Γf * c<t-1>
    a<t> = Γo * tanh(c<t>)
    ŷ<t> = softmax(Wy a<t> + by)             c<0> = 0

Peephole connections (optional). With the key ``Pf`` (n_a, 1) in the parameters the forget
gate also looks at the previous memory cell, elementwise:
``Γf = σ(Wf [a<t-1>, x<t>] + Pf * c<t-1> + bf)``; likewise ``Pu`` for Γu and ``Po`` for Γo.
Each key is optional on its own; absent means no peephole on that gate. All three gates peek
at c<t-1>, as in the lecture's peephole slide. (Gers & Schmidhuber's original peephole LSTM
lets the output gate look at the *new* cell c<t> instead; that variant is not implemented.)
When a peephole is present the backward passes also return its gradient (dPf, dPu, dPo).

The cell cache is ``(a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters)`` and the
sequence cache ``(caches, x)``, as in the course assignment.

The sequence functions are the fast path (see ``rnnlib.fastpath``): they compute what a loop
over the cell functions computes, with one matmul for all the inputs, stacked gates and one
matmul for the weight gradients. The states they return are read-only views of arrays the
caches keep (``.copy()`` one to modify it).
"""

import numpy as np

from .activations import sigmoid, softmax
from .checks import check_input, check_parameters, check_same_m
from .fastpath import SequenceCache, course_view, output_layer, stacked, time_major

GATE_KEYS = ("Wf", "bf", "Wu", "bu", "Wc", "bc", "Wo", "bo")
PEEPHOLE_KEYS = ("Pf", "Pu", "Po")


def _param_spec(parameters, n_a, n_x, n_y=None):
    """Expected shapes; peephole keys are expected only when present in ``parameters``."""
    W = ((n_a, n_a + n_x), "(n_a, n_a + n_x)")
    b = ((n_a, 1), "(n_a, 1)")
    spec = {k: (W if k[0] == "W" else b) for k in GATE_KEYS}
    if isinstance(parameters, dict):
        spec.update({k: b for k in PEEPHOLE_KEYS if k in parameters})
    if n_y is not None:
        spec["Wy"] = ((n_y, n_a), "(n_y, n_a)")
        spec["by"] = ((n_y, 1), "(n_y, 1)")
    return spec


def _n_y(parameters):
    """n_y is read off Wy; a missing Wy is reported by check_parameters."""
    Wy = parameters.get("Wy") if isinstance(parameters, dict) else None
    return np.shape(Wy)[0] if Wy is not None and np.ndim(Wy) == 2 else 1


def _check_cell(func, xt, a_prev, c_prev, parameters):
    xt = check_input(func, "xt", xt, "(n_x, m)")
    n_x = xt.shape[0]
    a_prev = check_input(func, "a_prev", a_prev, "(n_a, m)")
    check_same_m(func, xt=xt, a_prev=a_prev)
    c_prev = check_input(func, "c_prev", c_prev, "(n_a, m)", a_prev.shape)
    n_a = a_prev.shape[0]
    check_parameters(func, parameters, _param_spec(parameters, n_a, n_x, _n_y(parameters)))
    return xt, a_prev, c_prev


def _peep(p, key, c_prev):
    """Pf * c<t-1> (or Pu, Po) when that peephole exists, else 0."""
    P = p.get(key)
    return 0.0 if P is None else P * c_prev


def _cell_forward(xt, a_prev, c_prev, p):
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(p["Wf"] @ concat + _peep(p, "Pf", c_prev) + p["bf"])
    ut = sigmoid(p["Wu"] @ concat + _peep(p, "Pu", c_prev) + p["bu"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    ot = sigmoid(p["Wo"] @ concat + _peep(p, "Po", c_prev) + p["bo"])
    c_next = ut * cct + ft * c_prev
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, p)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One LSTM step (equations in the module docstring).

    Arguments:
        xt          (n_x, m)  input x<t>
        a_prev      (n_a, m)  hidden state a<t-1>
        c_prev      (n_a, m)  memory cell c<t-1>
        parameters  dict: Wf, Wu, Wc, Wo (n_a, n_a + n_x); bf, bu, bc, bo (n_a, 1);
                    Wy (n_y, n_a), by (n_y, 1); optional peepholes Pf, Pu, Po (n_a, 1)

    Returns:
        a_next   (n_a, m)  a<t>
        c_next   (n_a, m)  c<t>
        yt_pred  (n_y, m)  ŷ<t>, each column a probability distribution over n_y classes
        cache    (a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters), where
                 ft, ut, ot (n_a, m) are Γf, Γu, Γo and cct (n_a, m) is c̃<t>
    """
    xt, a_prev, c_prev = _check_cell("lstm_cell_forward", xt, a_prev, c_prev, parameters)
    return _cell_forward(xt, a_prev, c_prev, parameters)


def lstm_forward(x, a0, parameters):
    """Run the LSTM over a whole sequence, from a<0> = a0 and c<0> = 0.

    Arguments:
        x           (n_x, m, T_x)  inputs x<1> ... x<T_x>
        a0          (n_a, m)       initial hidden state
        parameters  as for lstm_cell_forward

    Returns:
        a       (n_a, m, T_x)  hidden states a<1> ... a<T_x> (read-only view)
        y       (n_y, m, T_x)  predictions ŷ<1> ... ŷ<T_x>
        c       (n_a, m, T_x)  memory cells c<1> ... c<T_x> (read-only view)
        caches  (list of T_x cell caches, x) for lstm_backward
    """
    func = "lstm_forward"
    x = check_input(func, "x", x, "(n_x, m, T_x)")
    n_x, m, T_x = x.shape
    if T_x == 0:
        raise ValueError(f"{func}: x has shape {x.shape}: T_x must be at least 1")
    a0 = check_input(func, "a0", a0, "(n_a, m)")
    check_same_m(func, x=x, a0=a0)
    n_a = a0.shape[0]
    n_y = _n_y(parameters)
    spec = _param_spec(parameters, n_a, n_x, n_y)
    check_parameters(func, parameters, spec)

    dtype = np.result_type(x, a0, *(np.asarray(parameters[k]) for k in spec))
    fast = _fast_forward(x, a0, parameters, dtype)
    H, C, S = fast["H"], fast["C"], fast["S"]
    a, c = course_view(H[1:], readonly=True), course_view(C[1:], readonly=True)
    y = output_layer(H[1:], np.asarray(parameters["Wy"]), np.asarray(parameters["by"]))
    # The course's cell caches, as views of the stacked arrays (each (n_a, m)).
    o, f, u, cc = (S[:, k] for k in range(4))
    caches = [(H[t + 1].T, C[t + 1].T, H[t].T, C[t].T, f[t].T, u[t].T, cc[t].T, o[t].T,
               x[:, :, t], parameters) for t in range(T_x)]
    return a, y, c, SequenceCache((caches, x), fast)


# ---------------------------------------------------------------------------------------------
# The fast path of lstm_forward / lstm_backward (see rnnlib.fastpath). Gates are stacked in the
# order Γo, Γf, Γu, c̃: the three sigmoids side by side. The matmuls see them interleaved,
# (m, 4 n_a) per step; the elementwise work sees them gate-major, (4, m, n_a), so that every
# gate is one contiguous block.

_ORDER = "ofuc"


def _fast_forward(x, a0, p, dtype):
    """All T_x steps; returns the time-major arrays the backward pass needs.

    S (T_x, 4, m, n_a)  the gates Γo, Γf, Γu, c̃ at every step
    H, C (T_x + 1, m, n_a)  a<0..T_x> and c<0..T_x>;  TC (T_x, m, n_a)  tanh(c<t>)
    X (T_x, m, n_x); HX (T_x + 1, m, n_a + n_x) holds H and X side by side
    W (4 n_a, n_a + n_x) the stacked weights, P (3, n_a) the peepholes or None
    """
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    W = stacked(p, ["W" + g for g in _ORDER], dtype)
    b = stacked(p, ["b" + g for g in _ORDER], dtype)[:, 0]
    P = None
    if any(k in p for k in PEEPHOLE_KEYS):
        P = np.zeros((3, n_a), dtype=dtype)
        for k, g in enumerate("ofu"):
            if "P" + g in p:
                P[k] = np.asarray(p["P" + g], dtype=dtype)[:, 0]
    # σ(z) = (1 + tanh(z / 2)) / 2: one tanh over all four gates. The sigmoid rows of the
    # weights are halved once (exact in floating point) so the matmuls give z / 2.
    half = np.ones(4 * n_a, dtype=dtype)
    half[:3 * n_a] = 0.5
    Wh_T = np.ascontiguousarray((W[:, :n_a] * half[:, None]).T)  # (n_a, 4 n_a)
    # [a<t-1>; x<t>] of every step side by side, HX[t] = [a<t>, x<t+1>] (m, n_a + n_x): the
    # weight gradients are then one matmul. H and X are views of it.
    HX = np.empty((T_x + 1, m, n_a + n_x), dtype=dtype)
    H, X = HX[:, :, :n_a], HX[:T_x, :, n_a:]
    np.copyto(X, x.transpose(2, 1, 0))
    HX[T_x, :, n_a:] = 0.0
    H[0] = a0.T
    # Every step's input projection in one matmul: Wx x<t> + b, (T_x, m, 4, n_a).
    XW = (X.reshape(T_x * m, n_x) @ (W[:, n_a:] * half[:, None]).T + b * half)
    XW = XW.reshape(T_x, m, 4, n_a)
    S = np.empty((T_x, 4, m, n_a), dtype=dtype)
    C = np.empty((T_x + 1, m, n_a), dtype=dtype)
    C[0] = 0.0
    TC = np.empty((T_x, m, n_a), dtype=dtype)
    hz = np.empty((m, 4 * n_a), dtype=dtype)
    tmp = np.empty((m, n_a), dtype=dtype)
    Ph = None if P is None else 0.5 * P[:, None, :]
    for t in range(T_x):
        s = S[t]
        np.matmul(H[t], Wh_T, out=hz)
        np.add(hz.reshape(m, 4, n_a), XW[t], out=s.transpose(1, 0, 2))  # to gate-major
        if Ph is not None:  # Γ += P * c<t-1> for the gates with a peephole
            s[:3] += Ph * C[t]
        np.tanh(s, out=s)
        sig = s[:3]
        sig *= 0.5
        sig += 0.5
        o, f, u, g = s
        np.multiply(f, C[t], out=C[t + 1])
        np.multiply(u, g, out=tmp)
        C[t + 1] += tmp
        np.tanh(C[t + 1], out=TC[t])
        np.multiply(o, TC[t], out=H[t + 1])
    return {"S": S, "HX": HX, "H": H, "C": C, "TC": TC, "X": X, "W": W, "P": P}


def _fast_from_cell_caches(cell_caches, x, dtype):
    """The arrays of _fast_forward rebuilt from a list of cell caches (made step by step)."""
    p = cell_caches[0][9]
    a_next, c_next, a_prev, c_prev, ft, ut, cct, ot = (
        np.stack([np.asarray(cache[i]).T for cache in cell_caches]).astype(dtype, copy=False)
        for i in range(8))
    T_x, m, n_a = a_next.shape
    HX = np.zeros((T_x + 1, m, n_a + x.shape[0]), dtype=dtype)
    HX[:T_x, :, n_a:] = x.transpose(2, 1, 0)
    HX[0, :, :n_a], HX[1:, :, :n_a] = a_prev[0], a_next
    fast = {"S": np.stack([ot, ft, ut, cct], axis=1), "HX": HX, "H": HX[:, :, :n_a],
            "X": HX[:T_x, :, n_a:], "C": np.concatenate([c_prev[:1], c_next]),
            "TC": np.tanh(c_next), "W": stacked(p, ["W" + g for g in _ORDER], dtype), "P": None}
    if any(k in p for k in PEEPHOLE_KEYS):
        fast["P"] = np.stack([np.asarray(p["P" + g], dtype=dtype)[:, 0] if "P" + g in p
                              else np.zeros(a_next.shape[2], dtype=dtype) for g in "ofu"])
    return fast


def _fast_backward(DA, DC, fast):
    """BPTT over the stacked arrays. DA, DC (T_x, m, n_a) time-major (DC may be None).

    Returns dZ (T_x, m, 4 n_a), the gradient before each gate's nonlinearity, and da0, dc0
    (each (m, n_a)).
    """
    S, H, C, TC, W, P = (fast[k] for k in ("S", "H", "C", "TC", "W", "P"))
    T_x, m, n_a = TC.shape
    dtype = S.dtype
    Wh = np.ascontiguousarray(W[:, :n_a])  # (4 n_a, n_a)
    dZ = np.empty((T_x, m, 4 * n_a), dtype=dtype)
    G = np.empty((4, m, n_a), dtype=dtype)  # this step's gradients, gate-major
    do, df, du, dg = G
    dh = np.zeros((m, n_a), dtype=dtype)  # gradient reaching a<t> from step t + 1
    dc = np.zeros((m, n_a), dtype=dtype)  # ... and c<t>
    k1 = np.empty((m, n_a), dtype=dtype)
    for t in reversed(range(T_x)):
        o, f, u, g = S[t]
        tc = TC[t]
        dh += DA[t]
        # c<t> gets gradient from c<t+1>, from outside, and through a<t> = Γo * tanh(c<t>).
        np.multiply(tc, tc, out=k1)
        np.subtract(1.0, k1, out=k1)
        k1 *= o
        k1 *= dh
        dc += k1
        if DC is not None:
            dc += DC[t]
        np.subtract(1.0, o, out=do)  # dΓo: dh * tanh(c<t>) * Γo (1 - Γo)
        do *= o
        do *= tc
        do *= dh
        np.subtract(1.0, f, out=df)  # dΓf: dc * c<t-1> * Γf (1 - Γf)
        df *= f
        df *= C[t]
        df *= dc
        np.subtract(1.0, u, out=du)  # dΓu: dc * c̃ * Γu (1 - Γu)
        du *= u
        du *= g
        du *= dc
        np.multiply(g, g, out=dg)  # dc̃: dc * Γu * (1 - c̃²)
        np.subtract(1.0, dg, out=dg)
        dg *= u
        dg *= dc
        dz = dZ[t]
        np.copyto(dz.reshape(m, 4, n_a), G.transpose(1, 0, 2))  # back to interleaved
        np.matmul(dz, Wh, out=dh)  # gradient reaching a<t-1>
        dc *= f  # ... and c<t-1>
        if P is not None:  # the peepholes' second path from c<t-1>
            dc += (G[:3] * P[:, None, :]).sum(axis=0)
    return dZ, dh, dc


def _cell_backward(da_next, dc_next, cache):
    a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, p = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    # c<t> receives gradient directly (dc_next) and through a<t> = Γo * tanh(c<t>).
    dc = dc_next + da_next * ot * (1.0 - tanh_c * tanh_c)
    # Gradients before each gate's nonlinearity.
    dz = {
        "f": dc * c_prev * ft * (1.0 - ft),
        "u": dc * cct * ut * (1.0 - ut),
        "c": dc * ut * (1.0 - cct * cct),
        "o": da_next * tanh_c * ot * (1.0 - ot),
    }
    concat = np.concatenate([a_prev, xt], axis=0)
    dconcat = sum(p["W" + g].T @ dz[g] for g in "fuco")
    dc_prev = dc * ft
    grads = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc_prev}
    for g in "fuco":
        grads["dW" + g] = dz[g] @ concat.T
        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
    for g in "fuo":
        if "P" + g in p:
            # Γg = σ(... + Pg * c<t-1> + ...): a second path from c<t-1>.
            dc_prev = dc_prev + p["P" + g] * dz[g]
            grads["dP" + g] = (dz[g] * c_prev).sum(axis=1, keepdims=True)
    grads["dc_prev"] = dc_prev
    return grads


def _check_cell_cache(func, cache):
    if not (isinstance(cache, tuple) and len(cache) == 10):
        raise ValueError(
            f"{func}: cache must be the 10-tuple (a_next, c_next, a_prev, c_prev, ft, ut, cct, "
            f"ot, xt, parameters) returned by lstm_cell_forward"
        )


def lstm_cell_backward(da_next, dc_next, cache):
    """Backward pass of one LSTM step.

    Arguments:
        da_next  (n_a, m)  gradient of the loss with respect to a<t>
        dc_next  (n_a, m)  gradient of the loss with respect to c<t> (other than through a<t>)
        cache    from lstm_cell_forward

    Returns a dict:
        dxt (n_x, m), da_prev (n_a, m), dc_prev (n_a, m),
        dWf, dWu, dWc, dWo (n_a, n_a + n_x), dbf, dbu, dbc, dbo (n_a, 1),
        and dPf, dPu, dPo (n_a, 1) for the peepholes present in the parameters
    """
    func = "lstm_cell_backward"
    _check_cell_cache(func, cache)
    a_next, c_next = cache[0], cache[1]
    da_next = check_input(func, "da_next", da_next, "(n_a, m)", a_next.shape)
    dc_next = check_input(func, "dc_next", dc_next, "(n_a, m)", c_next.shape)
    return _cell_backward(da_next, dc_next, cache)


def lstm_backward(da, caches, dc=None):
    """Backpropagation through time over the whole sequence.

    Both states carry gradient back in time: a<t-1> and c<t-1> each receive what flows back
    from step t, on top of whatever arrives from outside.

    Arguments:
        da      (n_a, m, T_x)  gradient of the loss arriving at each a<t> from the outputs
                               (not including what flows back from step t+1)
        caches  from lstm_forward
        dc      (n_a, m, T_x)  optional gradient arriving at each c<t> from outside (e.g. a
                               layer above in a stacked network); default zeros

    Returns a dict:
        dx (n_x, m, T_x), da0 (n_a, m), dWf, dWu, dWc, dWo (n_a, n_a + n_x),
        dbf, dbu, dbc, dbo (n_a, 1), and dPf, dPu, dPo (n_a, 1) for the peepholes present
    """
    func = "lstm_backward"
    if not (isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[0], list)
            and len(caches[0]) > 0 and isinstance(caches[1], np.ndarray)
            and caches[1].ndim == 3 and len(caches[0]) == caches[1].shape[2]):
        raise ValueError(f"{func}: caches must be the (caches, x) pair returned by lstm_forward")
    cell_caches, x = caches
    _check_cell_cache(func, cell_caches[0])
    n_x, m, T_x = x.shape
    n_a = cell_caches[0][0].shape[0]
    da = check_input(func, "da", da, "(n_a, m, T_x)", (n_a, m, T_x))
    if dc is not None:
        dc = check_input(func, "dc", dc, "(n_a, m, T_x)", (n_a, m, T_x))
    p = cell_caches[0][9]

    keys = [k for k in GATE_KEYS + PEEPHOLE_KEYS if k in p]
    dtype = np.result_type(da, x, *(p[k] for k in keys), *(() if dc is None else (dc,)))
    fast = getattr(caches, "fast", None)
    if fast is None or fast["S"].dtype != dtype:
        fast = _fast_from_cell_caches(cell_caches, x, dtype)
    dZ, da0, _ = _fast_backward(time_major(da, dtype),
                                None if dc is None else time_major(dc, dtype), fast)
    # Weight gradients for all steps at once: dW = Σ_t dz<t> [a<t-1>; x<t>]ᵀ.
    dZ2 = dZ.reshape(T_x * m, 4 * n_a)
    dW = dZ2.T @ fast["HX"][:T_x].reshape(T_x * m, n_a + n_x)
    db = dZ2.sum(axis=0)
    grads = {"dx": course_view((dZ2 @ fast["W"][:, n_a:]).reshape(T_x, m, n_x)),
             "da0": np.ascontiguousarray(da0.T)}
    rows = {g: slice(k * n_a, (k + 1) * n_a) for k, g in enumerate(_ORDER)}
    if fast["P"] is not None:
        dP = (dZ[:, :, :3 * n_a].reshape(T_x, m, 3, n_a) * fast["C"][:-1, :, None, :]).sum((0, 1))
    for key in keys:  # in the documented order: dWf, dbf, dWu, ..., dPf, dPu, dPo
        kind, g = key[0], key[1]
        grads["d" + key] = (dW[rows[g]] if kind == "W" else db[rows[g], None] if kind == "b"
                            else dP["ofu".index(g), :, None])
    return grads
