"""Gated Recurrent Units: the notes' GRU, its simplified form, and PyTorch's formulation.

Shapes follow the course: features first, examples second, time last.

    xt      (n_x, m)        x<t> for a batch of m examples
    c_prev  (n_a, m)        the memory cell c<t-1> (in a GRU the hidden state a<t> = c<t>)
    x       (n_x, m, T_x)   the whole input sequence
    c       (n_a, m, T_x)   every state c<1> ... c<T_x>

Gate weights act on the stacked ``[c<t-1>; x<t>]`` of shape (n_a + n_x, m), hidden part first,
so they have shape (n_a, n_a + n_x); biases have shape (n_a, 1). Every cell also has the softmax
output of the notes, ŷ<t> = softmax(Wy c<t> + by), with Wy (n_y, n_a) and by (n_y, 1).

The full GRU of the notes (Cho et al. 2014), keys Wc, bc, Wu, bu, Wr, br, Wy, by::

    Γr<t> = σ(Wr [c<t-1>, x<t>] + br)                 relevance (reset) gate
    Γu<t> = σ(Wu [c<t-1>, x<t>] + bu)                 update gate
    c̃<t>  = tanh(Wc [Γr<t> * c<t-1>, x<t>] + bc)      candidate (Γr acts before the matmul)
    c<t>  = Γu<t> * c̃<t> + (1 - Γu<t>) * c<t-1>       Γu = 1 writes the candidate
    a<t>  = c<t>

The simplified GRU of the notes drops Γr: c̃<t> = tanh(Wc [c<t-1>, x<t>] + bc); keys Wc, bc,
Wu, bu, Wy, by.

PyTorch's ``torch.nn.GRU``, written with the notes' shapes (functions ``torch_gru_*``), keys
Wr, br, Wz, bz, Wcx, bcx, Wcc, bcc, Wy, by::

    r<t>  = σ(Wr [c<t-1>, x<t>] + br)                 = the notes' Γr
    z<t>  = σ(Wz [c<t-1>, x<t>] + bz)                 = 1 - Γu: z = 1 KEEPS the old state
    n<t>  = tanh(Wcx x<t> + bcx + r<t> * (Wcc c<t-1> + bcc))   the candidate, the notes' c̃
    c<t>  = (1 - z<t>) * n<t> + z<t> * c<t-1>

Wcx (n_a, n_x) and Wcc (n_a, n_a) are the two halves of a candidate weight; the reset gate
multiplies the hidden half after its matmul, bias bcc included, which is why the candidate
keeps two biases. Mapping from ``nn.GRU`` (single layer; ``weight_ih_l0`` stacks the rows of
W_ir, W_iz, W_in and ``weight_hh_l0`` those of W_hr, W_hz, W_hn, in that gate order r, z, n)::

    Wr = [W_hr | W_ir]   br = b_ir + b_hr        Wcx = W_in   bcx = b_in
    Wz = [W_hz | W_iz]   bz = b_iz + b_hz        Wcc = W_hn   bcc = b_hn

The two GRUs are different functions. Since 1 - σ(v) = σ(-v), Wz = -Wu and bz = -bu give the
same update gate; the candidates agree only where Γr = r = 1, with Wc = [Wcc | Wcx] and
bc = bcx + bcc. Elsewhere the notes reset c<t-1> before the matmul, PyTorch after it.

Caches (tuples that unpack as shown, tagged with the cell that made them)::

    gru         (c_next, c_prev, ut, rt, cct, xt, parameters)     ut = Γu, rt = Γr, cct = c̃
    simple_gru  (c_next, c_prev, ut, cct, xt, parameters)
    torch_gru   (c_next, c_prev, zt, rt, nt, hnt, xt, parameters) hnt = Wcc c<t-1> + bcc

and every sequence cache is ``(list of T_x cell caches, x)``, as in the course assignment.
A sequence backward takes ``dc`` (n_a, m, T_x), the gradient arriving at each c<t> from the
outputs (not including what flows back from c<t+1>), and returns the gradients of the gate
parameters (not of Wy, by: those belong to the output layer, as in ``rnn_backward``).

The sequence functions are the fast path (see ``rnnlib.fastpath``): they compute what a loop
over the cell functions computes, with one matmul for all the inputs, stacked gates and one
matmul for the weight gradients. The states they return are read-only views of arrays the
caches keep (``.copy()`` one to modify it).
"""

import numpy as np

from .activations import sigmoid, softmax
from .checks import check_input, check_parameters, check_same_m
from .fastpath import SequenceCache, course_view, output_layer, stacked, time_major


class GRUCache(tuple):
    """A tuple that unpacks like the course's cache, plus ``variant``: the cell that made it."""

    def __new__(cls, items, variant=None):  # the default lets pickle and deepcopy rebuild it
        self = super().__new__(cls, items)
        self.variant = variant
        return self


# Per variant: the parameter keys of the cell (output layer excluded), cache length, the
# gradient keys its backward returns (in order) and the public names, for messages.
_GATE_KEYS = {
    "gru": ("Wc", "bc", "Wu", "bu", "Wr", "br"),
    "simple_gru": ("Wc", "bc", "Wu", "bu"),
    "torch_gru": ("Wr", "br", "Wz", "bz", "Wcx", "bcx", "Wcc", "bcc"),
}
_GRAD_KEYS = {
    "gru": ("Wu", "bu", "Wr", "br", "Wc", "bc"),
    "simple_gru": ("Wu", "bu", "Wc", "bc"),
    "torch_gru": ("Wr", "br", "Wz", "bz", "Wcx", "bcx", "Wcc", "bcc"),
}
_CACHE_LEN = {"gru": 7, "simple_gru": 6, "torch_gru": 8}


def _param_spec(variant, n_a, n_x, n_y):
    shapes = {
        "W": ((n_a, n_a + n_x), "(n_a, n_a + n_x)"),
        "b": ((n_a, 1), "(n_a, 1)"),
        "Wcx": ((n_a, n_x), "(n_a, n_x)"),
        "Wcc": ((n_a, n_a), "(n_a, n_a)"),
    }
    spec = {k: shapes.get(k, shapes[k[0]]) for k in _GATE_KEYS[variant]}
    spec["Wy"] = ((n_y, n_a), "(n_y, n_a)")
    spec["by"] = ((n_y, 1), "(n_y, 1)")
    return spec


def _n_y(parameters):
    """n_y is read off Wy; a missing Wy is reported by check_parameters."""
    Wy = parameters.get("Wy") if isinstance(parameters, dict) else None
    return np.shape(Wy)[0] if Wy is not None and np.ndim(Wy) == 2 else 1


def _checked_parameters(func, variant, parameters, n_a, n_x):
    """Validate ``parameters``; return it, or a copy whose checked entries are ndarrays."""
    return check_parameters(func, parameters, _param_spec(variant, n_a, n_x, _n_y(parameters)))


def _check_cell(func, variant, xt, c_prev, parameters):
    xt = check_input(func, "xt", xt, "(n_x, m)")
    c_prev = check_input(func, "c_prev", c_prev, "(n_a, m)")
    check_same_m(func, xt=xt, c_prev=c_prev)
    p = _checked_parameters(func, variant, parameters, c_prev.shape[0], xt.shape[0])
    return xt, c_prev, p


def _check_cache(func, variant, cache):
    made_by = getattr(cache, "variant", None) or variant
    if made_by != variant:
        raise ValueError(
            f"{func}: cache was made by {made_by}_cell_forward; "
            f"pass it to {made_by}_cell_backward, or use {variant}_cell_forward"
        )
    n = _CACHE_LEN[variant]
    if not (isinstance(cache, tuple) and len(cache) == n):
        raise ValueError(
            f"{func}: cache must be the {n}-tuple returned by {variant}_cell_forward, "
            f"got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, tuple) else "")
        )


# ---------------------------------------------------------------------------------------------
# Unchecked cells. Inputs are validated ndarrays; p is the parameter dict.


def _gru_cell_forward(xt, c_prev, p):
    concat = np.concatenate((c_prev, xt), axis=0)
    ut = sigmoid(p["Wu"] @ concat + p["bu"])
    rt = sigmoid(p["Wr"] @ concat + p["br"])
    cct = np.tanh(p["Wc"] @ np.concatenate((rt * c_prev, xt), axis=0) + p["bc"])
    c_next = ut * cct + (1 - ut) * c_prev
    yt_pred = softmax(p["Wy"] @ c_next + p["by"])
    return c_next, yt_pred, GRUCache((c_next, c_prev, ut, rt, cct, xt, p), "gru")


def _gru_cell_backward(dc_next, cache):
    c_next, c_prev, ut, rt, cct, xt, p = cache
    n_a = c_prev.shape[0]
    concat = np.concatenate((c_prev, xt), axis=0)
    concat_r = np.concatenate((rt * c_prev, xt), axis=0)
    dzc = dc_next * ut * (1 - cct * cct)  # gradient before the tanh of c̃
    dzu = dc_next * (cct - c_prev) * ut * (1 - ut)  # before the σ of Γu
    dconcat_r = p["Wc"].T @ dzc  # gradient of [Γr * c<t-1>; x<t>]
    dzr = dconcat_r[:n_a] * c_prev * rt * (1 - rt)  # before the σ of Γr
    dconcat = p["Wu"].T @ dzu + p["Wr"].T @ dzr  # gradient of [c<t-1>; x<t>] through the gates
    return {
        "dxt": dconcat[n_a:] + dconcat_r[n_a:],
        "dc_prev": dc_next * (1 - ut) + dconcat_r[:n_a] * rt + dconcat[:n_a],
        "dWu": dzu @ concat.T,
        "dbu": dzu.sum(axis=1, keepdims=True),
        "dWr": dzr @ concat.T,
        "dbr": dzr.sum(axis=1, keepdims=True),
        "dWc": dzc @ concat_r.T,
        "dbc": dzc.sum(axis=1, keepdims=True),
    }


def _simple_gru_cell_forward(xt, c_prev, p):
    concat = np.concatenate((c_prev, xt), axis=0)
    ut = sigmoid(p["Wu"] @ concat + p["bu"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    c_next = ut * cct + (1 - ut) * c_prev
    yt_pred = softmax(p["Wy"] @ c_next + p["by"])
    return c_next, yt_pred, GRUCache((c_next, c_prev, ut, cct, xt, p), "simple_gru")


def _simple_gru_cell_backward(dc_next, cache):
    c_next, c_prev, ut, cct, xt, p = cache
    n_a = c_prev.shape[0]
    concat = np.concatenate((c_prev, xt), axis=0)
    dzc = dc_next * ut * (1 - cct * cct)
    dzu = dc_next * (cct - c_prev) * ut * (1 - ut)
    dconcat = p["Wc"].T @ dzc + p["Wu"].T @ dzu
    return {
        "dxt": dconcat[n_a:],
        "dc_prev": dc_next * (1 - ut) + dconcat[:n_a],
        "dWu": dzu @ concat.T,
        "dbu": dzu.sum(axis=1, keepdims=True),
        "dWc": dzc @ concat.T,
        "dbc": dzc.sum(axis=1, keepdims=True),
    }


def _torch_gru_cell_forward(xt, c_prev, p):
    concat = np.concatenate((c_prev, xt), axis=0)
    rt = sigmoid(p["Wr"] @ concat + p["br"])
    zt = sigmoid(p["Wz"] @ concat + p["bz"])
    hnt = p["Wcc"] @ c_prev + p["bcc"]
    nt = np.tanh(p["Wcx"] @ xt + p["bcx"] + rt * hnt)
    c_next = (1 - zt) * nt + zt * c_prev
    yt_pred = softmax(p["Wy"] @ c_next + p["by"])
    return c_next, yt_pred, GRUCache((c_next, c_prev, zt, rt, nt, hnt, xt, p), "torch_gru")


def _torch_gru_cell_backward(dc_next, cache):
    c_next, c_prev, zt, rt, nt, hnt, xt, p = cache
    n_a = c_prev.shape[0]
    concat = np.concatenate((c_prev, xt), axis=0)
    dzn = dc_next * (1 - zt) * (1 - nt * nt)  # gradient before the tanh of n
    dhn = dzn * rt  # gradient of Wcc c<t-1> + bcc
    dzr = dzn * hnt * rt * (1 - rt)  # before the σ of r
    dzz = dc_next * (c_prev - nt) * zt * (1 - zt)  # before the σ of z
    dconcat = p["Wr"].T @ dzr + p["Wz"].T @ dzz
    return {
        "dxt": dconcat[n_a:] + p["Wcx"].T @ dzn,
        "dc_prev": dc_next * zt + dconcat[:n_a] + p["Wcc"].T @ dhn,
        "dWr": dzr @ concat.T,
        "dbr": dzr.sum(axis=1, keepdims=True),
        "dWz": dzz @ concat.T,
        "dbz": dzz.sum(axis=1, keepdims=True),
        "dWcx": dzn @ xt.T,
        "dbcx": dzn.sum(axis=1, keepdims=True),
        "dWcc": dhn @ c_prev.T,
        "dbcc": dhn.sum(axis=1, keepdims=True),
    }


_CELL_FORWARD = {
    "gru": _gru_cell_forward,
    "simple_gru": _simple_gru_cell_forward,
    "torch_gru": _torch_gru_cell_forward,
}
_CELL_BACKWARD = {
    "gru": _gru_cell_backward,
    "simple_gru": _simple_gru_cell_backward,
    "torch_gru": _torch_gru_cell_backward,
}


# ---------------------------------------------------------------------------------------------
# Shared drivers: validate once, then loop over the unchecked cell.


def _cell_forward(variant, xt, c_prev, parameters):
    xt, c_prev, p = _check_cell(f"{variant}_cell_forward", variant, xt, c_prev, parameters)
    return _CELL_FORWARD[variant](xt, c_prev, p)


def _cell_backward(variant, dc_next, cache):
    func = f"{variant}_cell_backward"
    _check_cache(func, variant, cache)
    dc_next = check_input(func, "dc_next", dc_next, "(n_a, m)", np.shape(cache[0]))
    return _CELL_BACKWARD[variant](dc_next, cache)


def _sequence_forward(variant, x, c0, parameters):
    func = f"{variant}_forward"
    x = check_input(func, "x", x, "(n_x, m, T_x)")
    n_x, m, T_x = x.shape
    if T_x == 0:
        raise ValueError(f"{func}: x has shape {x.shape}: T_x must be at least 1")
    c0 = check_input(func, "c0", c0, "(n_a, m)")
    check_same_m(func, x=x, c0=c0)
    n_a = c0.shape[0]
    p = _checked_parameters(func, variant, parameters, n_a, n_x)

    dtype = np.result_type(x, c0, *(p[k] for k in _GATE_KEYS[variant]), p["Wy"], p["by"])
    fast = _FAST_FORWARD[variant](x, c0, p, dtype)
    H = fast["H"]
    y_pred = output_layer(H[1:], p["Wy"], p["by"])
    # The course's cell caches, as views of the stacked arrays (each (n_a, m)).
    where = {"c_next": lambda t: H[t + 1].T, "c_prev": lambda t: H[t].T,
             "xt": lambda t: x[:, :, t], "p": lambda t: p, "hnt": lambda t: fast["HN"][t].T}
    where.update({g: (lambda t, k=k: fast["S"][t, k].T) for k, g in enumerate(_S_ORDER[variant])})
    caches = [GRUCache(tuple(where[e](t) for e in _CACHE_ENTRIES[variant]), variant)
              for t in range(T_x)]
    return course_view(H[1:], readonly=True), y_pred, SequenceCache((caches, x), fast)


def _sequence_backward(variant, dc, caches):
    func = f"{variant}_backward"
    if not (isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[0], list)
            and len(caches[0]) > 0 and isinstance(caches[1], np.ndarray) and caches[1].ndim == 3):
        raise ValueError(
            f"{func}: caches must be the (list of cell caches, x) pair "
            f"returned by {variant}_forward"
        )
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    if len(cell_caches) != T_x:
        raise ValueError(f"{func}: caches holds {len(cell_caches)} cell caches for T_x = {T_x}")
    _check_cache(func, variant, cell_caches[0])
    n_a = cell_caches[0][0].shape[0]
    dc = check_input(func, "dc", dc, "(n_a, m, T_x)", (n_a, m, T_x))
    p = cell_caches[0][-1]

    dtype = np.result_type(dc, x, *(np.asarray(p[k]) for k in _GATE_KEYS[variant]))
    fast = getattr(caches, "fast", None)
    if fast is None or fast["H"].dtype != dtype:
        fast = _fast_from_cell_caches(variant, cell_caches, x, dtype)
    dx, dc0, grads = _FAST_BACKWARD[variant](time_major(dc, dtype), fast)
    return {"dx": course_view(dx.reshape(T_x, m, n_x)), "dc0": np.ascontiguousarray(dc0.T),
            **{"d" + k: grads[k] for k in _GRAD_KEYS[variant]}}


# ---------------------------------------------------------------------------------------------
# The fast path of the sequence functions (see rnnlib.fastpath). Arrays are time-major,
# (T_x, m, n); the gates that read c<t-1> share one matmul per step, the input projection of
# every step is one matmul before the loop and the weight gradients one matmul after it. The
# elementwise work runs on gate-major (k, m, n_a) blocks (S holds the gates of every step), and
# σ(z) = (1 + tanh(z / 2)) / 2, with the sigmoid rows of the weights halved once (exact).

# Order of the gates in S (and of the stacked weights), and the entries of each cell cache.
_S_ORDER = {"gru": ("cct", "ut", "rt"), "simple_gru": ("cct", "ut"),
            "torch_gru": ("rt", "zt", "nt")}
_CACHE_ENTRIES = {
    "gru": ("c_next", "c_prev", "ut", "rt", "cct", "xt", "p"),
    "simple_gru": ("c_next", "c_prev", "ut", "cct", "xt", "p"),
    "torch_gru": ("c_next", "c_prev", "zt", "rt", "nt", "hnt", "xt", "p"),
}


def _halve(W, rows):
    """W with the rows of the sigmoid gates (a slice) halved."""
    W = W.copy()
    W[rows] *= 0.5
    return W


def _setup(x, c0, p, keys, dtype):
    """Stacked weights (k n_a, n_a + n_x), biases (k n_a,), X (T_x, m, n_x), H with H[0] = c0."""
    n_x, m, T_x = x.shape
    n_a = c0.shape[0]
    W = stacked(p, ["W" + k for k in keys], dtype)
    b = stacked(p, ["b" + k for k in keys], dtype)[:, 0]
    H = np.empty((T_x + 1, m, n_a), dtype=dtype)
    H[0] = c0.T
    return W, b, time_major(x, dtype), H


def _sigmoid_in_place(s):
    """s holds tanh(z / 2): make it σ(z)."""
    s *= 0.5
    s += 0.5


def _gru_fast_forward(x, c0, p, dtype):
    W, b, X, H = _setup(x, c0, p, "cur", dtype)
    T_x, m, n_x = X.shape
    n_a = c0.shape[0]
    sig = slice(n_a, 3 * n_a)  # Γu, Γr
    Wh = _halve(W[:, :n_a], sig)
    XW = (X.reshape(T_x * m, n_x) @ _halve(W[:, n_a:], sig).T + _halve(b, sig))
    XW = XW.reshape(T_x, m, 3, n_a)
    S = np.empty((T_x, 3, m, n_a), dtype=dtype)
    RC = np.empty((T_x, m, n_a), dtype=dtype)  # Γr * c<t-1>
    hz = np.empty((m, 2 * n_a), dtype=dtype)
    tmp = np.empty((m, n_a), dtype=dtype)
    Wur_T, Wc_T = np.ascontiguousarray(Wh[n_a:].T), np.ascontiguousarray(Wh[:n_a].T)
    for t in range(T_x):
        s = S[t]
        cc, u, r = s
        np.matmul(H[t], Wur_T, out=hz)
        np.add(hz.reshape(m, 2, n_a), XW[t, :, 1:], out=s[1:].transpose(1, 0, 2))
        np.tanh(s[1:], out=s[1:])
        _sigmoid_in_place(s[1:])
        np.multiply(r, H[t], out=RC[t])
        np.matmul(RC[t], Wc_T, out=cc)  # c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc)
        cc += XW[t, :, 0]
        np.tanh(cc, out=cc)
        np.subtract(cc, H[t], out=tmp)  # c<t> = c<t-1> + Γu (c̃ - c<t-1>)
        tmp *= u
        np.add(H[t], tmp, out=H[t + 1])
    return {"S": S, "H": H, "X": X, "W": W, "RC": RC}


def _gru_fast_backward(DC, fast):
    S, H, X, W, RC = (fast[k] for k in ("S", "H", "X", "W", "RC"))
    T_x, _, m, n_a = S.shape
    n_x = X.shape[2]
    dtype = S.dtype
    Wc_h, Wur_h = np.ascontiguousarray(W[:n_a, :n_a]), np.ascontiguousarray(W[n_a:, :n_a])
    dZ = np.empty((T_x, m, 3 * n_a), dtype=dtype)
    G = np.empty((3, m, n_a), dtype=dtype)  # this step's [dc̃, dΓu, dΓr] before σ / tanh
    dzc, dzu, dzr = G
    dc = np.zeros((m, n_a), dtype=dtype)
    drc, k = np.empty((m, n_a), dtype=dtype), np.empty((m, n_a), dtype=dtype)
    for t in reversed(range(T_x)):
        cc, u, r = S[t]
        dc += DC[t]
        np.multiply(cc, cc, out=dzc)  # dc * Γu * (1 - c̃²)
        np.subtract(1.0, dzc, out=dzc)
        dzc *= u
        dzc *= dc
        np.subtract(1.0, u, out=dzu)  # dc * (c̃ - c<t-1>) * Γu (1 - Γu)
        dzu *= u
        np.subtract(cc, H[t], out=k)
        dzu *= k
        dzu *= dc
        np.matmul(dzc, Wc_h, out=drc)  # gradient of Γr * c<t-1>
        np.subtract(1.0, r, out=dzr)  # drc * c<t-1> * Γr (1 - Γr)
        dzr *= r
        dzr *= H[t]
        dzr *= drc
        np.copyto(dZ[t].reshape(m, 3, n_a), G.transpose(1, 0, 2))
        np.subtract(1.0, u, out=k)  # dc<t-1> = dc (1 - Γu) + drc Γr + [dΓu, dΓr] W_h
        dc *= k
        drc *= r
        dc += drc
        np.matmul(dZ[t, :, n_a:], Wur_h, out=k)
        dc += k
    dZ2 = dZ.reshape(T_x * m, 3 * n_a)
    dWx = dZ2.T @ X.reshape(T_x * m, n_x)
    dWur = dZ2[:, n_a:].T @ H[:-1].reshape(T_x * m, n_a)
    dWc = dZ2[:, :n_a].T @ RC.reshape(T_x * m, n_a)
    db = dZ2.sum(axis=0)[:, None]
    grads = {"Wc": np.hstack((dWc, dWx[:n_a])), "bc": db[:n_a],
             "Wu": np.hstack((dWur[:n_a], dWx[n_a:2 * n_a])), "bu": db[n_a:2 * n_a],
             "Wr": np.hstack((dWur[n_a:], dWx[2 * n_a:])), "br": db[2 * n_a:]}
    return dZ2 @ W[:, n_a:], dc, grads


def _simple_gru_fast_forward(x, c0, p, dtype):
    W, b, X, H = _setup(x, c0, p, "cu", dtype)
    T_x, m, n_x = X.shape
    n_a = c0.shape[0]
    sig = slice(n_a, 2 * n_a)  # Γu
    Wh_T = np.ascontiguousarray(_halve(W[:, :n_a], sig).T)
    XW = (X.reshape(T_x * m, n_x) @ _halve(W[:, n_a:], sig).T + _halve(b, sig))
    XW = XW.reshape(T_x, m, 2, n_a)
    S = np.empty((T_x, 2, m, n_a), dtype=dtype)
    hz = np.empty((m, 2 * n_a), dtype=dtype)
    tmp = np.empty((m, n_a), dtype=dtype)
    for t in range(T_x):
        s = S[t]
        cc, u = s
        np.matmul(H[t], Wh_T, out=hz)
        np.add(hz.reshape(m, 2, n_a), XW[t], out=s.transpose(1, 0, 2))
        np.tanh(s, out=s)
        _sigmoid_in_place(u)
        np.subtract(cc, H[t], out=tmp)
        tmp *= u
        np.add(H[t], tmp, out=H[t + 1])
    return {"S": S, "H": H, "X": X, "W": W}


def _simple_gru_fast_backward(DC, fast):
    S, H, X, W = (fast[k] for k in ("S", "H", "X", "W"))
    T_x, _, m, n_a = S.shape
    n_x = X.shape[2]
    dtype = S.dtype
    Wh = np.ascontiguousarray(W[:, :n_a])
    dZ = np.empty((T_x, m, 2 * n_a), dtype=dtype)
    G = np.empty((2, m, n_a), dtype=dtype)
    dzc, dzu = G
    dc = np.zeros((m, n_a), dtype=dtype)
    k = np.empty((m, n_a), dtype=dtype)
    for t in reversed(range(T_x)):
        cc, u = S[t]
        dc += DC[t]
        np.multiply(cc, cc, out=dzc)
        np.subtract(1.0, dzc, out=dzc)
        dzc *= u
        dzc *= dc
        np.subtract(1.0, u, out=dzu)
        dzu *= u
        np.subtract(cc, H[t], out=k)
        dzu *= k
        dzu *= dc
        np.copyto(dZ[t].reshape(m, 2, n_a), G.transpose(1, 0, 2))
        np.subtract(1.0, u, out=k)
        dc *= k
        np.matmul(dZ[t], Wh, out=k)
        dc += k
    dZ2 = dZ.reshape(T_x * m, 2 * n_a)
    dW = np.hstack((dZ2.T @ H[:-1].reshape(T_x * m, n_a), dZ2.T @ X.reshape(T_x * m, n_x)))
    db = dZ2.sum(axis=0)[:, None]
    grads = {"Wc": dW[:n_a], "bc": db[:n_a], "Wu": dW[n_a:], "bu": db[n_a:]}
    return dZ2 @ W[:, n_a:], dc, grads


def _torch_gru_weights(p, n_a, dtype):
    """Hidden weights [Wcc; Wr_h; Wz_h] (3 n_a, n_a), input weights [Wr_x; Wz_x; Wcx]
    (3 n_a, n_x), their bias [br; bz; bcx] (3 n_a,) and bcc (n_a,)."""
    Wr, Wz = (np.asarray(p[k], dtype=dtype) for k in ("Wr", "Wz"))
    Wh = np.vstack((np.asarray(p["Wcc"], dtype=dtype), Wr[:, :n_a], Wz[:, :n_a]))
    Wx = np.vstack((Wr[:, n_a:], Wz[:, n_a:], np.asarray(p["Wcx"], dtype=dtype)))
    bx = stacked(p, ("br", "bz", "bcx"), dtype)[:, 0]
    return Wh, Wx, bx, np.asarray(p["bcc"], dtype=dtype)[:, 0]


def _torch_gru_fast_forward(x, c0, p, dtype):
    n_x, m, T_x = x.shape
    n_a = c0.shape[0]
    Wh, Wx, bx, bcc = _torch_gru_weights(p, n_a, dtype)
    X = time_major(x, dtype)
    H = np.empty((T_x + 1, m, n_a), dtype=dtype)
    H[0] = c0.T
    Wh_T = np.ascontiguousarray(_halve(Wh, slice(n_a, 3 * n_a)).T)  # r, z halved
    sig = slice(0, 2 * n_a)
    XW = (X.reshape(T_x * m, n_x) @ _halve(Wx, sig).T + _halve(bx, sig)).reshape(T_x, m, 3, n_a)
    S = np.empty((T_x, 3, m, n_a), dtype=dtype)
    HN = np.empty((T_x, m, n_a), dtype=dtype)  # Wcc c<t-1> + bcc
    hz = np.empty((m, 3 * n_a), dtype=dtype)
    tmp = np.empty((m, n_a), dtype=dtype)
    for t in range(T_x):
        s = S[t]
        r, z, n = s
        np.matmul(H[t], Wh_T, out=hz)
        np.add(hz[:, n_a:].reshape(m, 2, n_a), XW[t, :, :2], out=s[:2].transpose(1, 0, 2))
        np.tanh(s[:2], out=s[:2])
        _sigmoid_in_place(s[:2])
        np.add(hz[:, :n_a], bcc, out=HN[t])
        np.multiply(r, HN[t], out=n)  # n = tanh(Wcx x<t> + bcx + r * (Wcc c<t-1> + bcc))
        n += XW[t, :, 2]
        np.tanh(n, out=n)
        np.subtract(H[t], n, out=tmp)  # c<t> = n + z (c<t-1> - n)
        tmp *= z
        np.add(n, tmp, out=H[t + 1])
    return {"S": S, "H": H, "X": X, "HN": HN, "Wh": Wh, "Wx": Wx}


def _torch_gru_fast_backward(DC, fast):
    S, H, X, HN, Wh, Wx = (fast[k] for k in ("S", "H", "X", "HN", "Wh", "Wx"))
    T_x, _, m, n_a = S.shape
    n_x = X.shape[2]
    dtype = S.dtype
    dZ = np.empty((T_x, m, 4 * n_a), dtype=dtype)  # [d(Wcc c + bcc), dr, dz, dn] per step
    G = np.empty((4, m, n_a), dtype=dtype)
    dhn, dzr, dzz, dzn = G
    dc = np.zeros((m, n_a), dtype=dtype)
    k = np.empty((m, n_a), dtype=dtype)
    for t in reversed(range(T_x)):
        r, z, n = S[t]
        dc += DC[t]
        np.multiply(n, n, out=dzn)  # dc (1 - z) (1 - n²)
        np.subtract(1.0, dzn, out=dzn)
        np.subtract(1.0, z, out=k)
        dzn *= k
        dzn *= dc
        np.multiply(dzn, r, out=dhn)
        np.subtract(1.0, r, out=dzr)  # dn * hn * r (1 - r)
        dzr *= r
        dzr *= HN[t]
        dzr *= dzn
        np.subtract(1.0, z, out=dzz)  # dc (c<t-1> - n) z (1 - z)
        dzz *= z
        np.subtract(H[t], n, out=k)
        dzz *= k
        dzz *= dc
        np.copyto(dZ[t].reshape(m, 4, n_a), G.transpose(1, 0, 2))
        dc *= z  # dc<t-1> = dc z + [dhn, dr, dz] [Wcc; Wr_h; Wz_h]
        np.matmul(dZ[t, :, :3 * n_a], Wh, out=k)
        dc += k
    dZ2 = dZ.reshape(T_x * m, 4 * n_a)
    dWh = dZ2[:, :3 * n_a].T @ H[:-1].reshape(T_x * m, n_a)  # rows Wcc, Wr, Wz
    dWx = dZ2[:, n_a:].T @ X.reshape(T_x * m, n_x)  # rows Wr, Wz, Wcx
    db = dZ2.sum(axis=0)[:, None]  # bcc, br, bz, bcx
    grads = {"Wr": np.hstack((dWh[n_a:2 * n_a], dWx[:n_a])), "br": db[n_a:2 * n_a],
             "Wz": np.hstack((dWh[2 * n_a:], dWx[n_a:2 * n_a])), "bz": db[2 * n_a:3 * n_a],
             "Wcx": dWx[2 * n_a:], "bcx": db[3 * n_a:], "Wcc": dWh[:n_a], "bcc": db[:n_a]}
    return dZ2[:, n_a:] @ Wx, dc, grads


def _fast_from_cell_caches(variant, cell_caches, x, dtype):
    """The arrays of the fast forward rebuilt from a list of cell caches (made step by step)."""
    p = cell_caches[0][-1]
    n_a = np.shape(cell_caches[0][0])[0]
    entries = _CACHE_ENTRIES[variant]

    def stack(e):
        i = entries.index(e)
        return np.stack([np.asarray(c[i]).T for c in cell_caches]).astype(dtype, copy=False)

    c_prev = stack("c_prev")
    fast = {"S": np.stack([stack(g) for g in _S_ORDER[variant]], axis=1),
            "H": np.concatenate((c_prev[:1], stack("c_next"))), "X": time_major(x, dtype)}
    if variant == "torch_gru":
        fast["Wh"], fast["Wx"], _, _ = _torch_gru_weights(p, n_a, dtype)
        fast["HN"] = stack("hnt")
    else:
        fast["W"] = stacked(p, ["W" + k for k in "cur"[:len(_S_ORDER[variant])]], dtype)
    if variant == "gru":
        fast["RC"] = fast["S"][:, 2] * c_prev
    return fast


_FAST_FORWARD = {"gru": _gru_fast_forward, "simple_gru": _simple_gru_fast_forward,
                 "torch_gru": _torch_gru_fast_forward}
_FAST_BACKWARD = {"gru": _gru_fast_backward, "simple_gru": _simple_gru_fast_backward,
                  "torch_gru": _torch_gru_fast_backward}


# ---------------------------------------------------------------------------------------------
# The notes' full GRU.


def gru_cell_forward(xt, c_prev, parameters):
    """One step of the notes' GRU (see the module docstring for the equations).

    Arguments:
        xt          (n_x, m)  input x<t>
        c_prev      (n_a, m)  memory cell c<t-1>
        parameters  dict: Wc, Wu, Wr (n_a, n_a + n_x); bc, bu, br (n_a, 1);
                    Wy (n_y, n_a), by (n_y, 1)

    Returns:
        c_next   (n_a, m)  c<t> (= a<t>)
        yt_pred  (n_y, m)  ŷ<t> = softmax(Wy c<t> + by)
        cache    (c_next, c_prev, ut, rt, cct, xt, parameters) for gru_cell_backward;
                 ut = Γu, rt = Γr, cct = c̃<t>, each (n_a, m)
    """
    return _cell_forward("gru", xt, c_prev, parameters)


def gru_forward(x, c0, parameters):
    """Run the notes' GRU over a whole sequence, from c<0> = c0.

    Arguments:
        x           (n_x, m, T_x)  inputs x<1> ... x<T_x>
        c0          (n_a, m)       initial state (the notes use zeros)
        parameters  as for gru_cell_forward

    Returns:
        c       (n_a, m, T_x)  states c<1> ... c<T_x> (read-only view)
        y_pred  (n_y, m, T_x)  predictions ŷ<1> ... ŷ<T_x>
        caches  (list of T_x cell caches, x) for gru_backward
    """
    return _sequence_forward("gru", x, c0, parameters)


def gru_cell_backward(dc_next, cache):
    """Backward pass of one step of the notes' GRU.

    Arguments:
        dc_next  (n_a, m)  gradient of the loss with respect to c<t>
        cache    from gru_cell_forward

    Returns a dict:
        dxt (n_x, m), dc_prev (n_a, m), dWu, dWr, dWc (n_a, n_a + n_x), dbu, dbr, dbc (n_a, 1)
    """
    return _cell_backward("gru", dc_next, cache)


def gru_backward(dc, caches):
    """Backpropagation through time for the notes' GRU.

    Arguments:
        dc      (n_a, m, T_x)  gradient of the loss arriving at each c<t> from the outputs
                               (not including what flows back from c<t+1>)
        caches  from gru_forward

    Returns a dict:
        dx (n_x, m, T_x), dc0 (n_a, m), dWu, dWr, dWc (n_a, n_a + n_x), dbu, dbr, dbc (n_a, 1)
    """
    return _sequence_backward("gru", dc, caches)


# ---------------------------------------------------------------------------------------------
# The notes' simplified GRU (no relevance gate).


def simple_gru_cell_forward(xt, c_prev, parameters):
    """One step of the simplified GRU: c̃<t> = tanh(Wc [c<t-1>, x<t>] + bc), no Γr.

    Arguments:
        xt          (n_x, m)  input x<t>
        c_prev      (n_a, m)  memory cell c<t-1>
        parameters  dict: Wc, Wu (n_a, n_a + n_x); bc, bu (n_a, 1); Wy (n_y, n_a), by (n_y, 1)

    Returns:
        c_next   (n_a, m)  c<t> = Γu * c̃<t> + (1 - Γu) * c<t-1>
        yt_pred  (n_y, m)  ŷ<t>
        cache    (c_next, c_prev, ut, cct, xt, parameters) for simple_gru_cell_backward
    """
    return _cell_forward("simple_gru", xt, c_prev, parameters)


def simple_gru_forward(x, c0, parameters):
    """Run the simplified GRU over a whole sequence, from c<0> = c0.

    Arguments:
        x   (n_x, m, T_x), c0 (n_a, m), parameters as for simple_gru_cell_forward

    Returns:
        c (n_a, m, T_x), y_pred (n_y, m, T_x), caches (list of T_x cell caches, x)
    """
    return _sequence_forward("simple_gru", x, c0, parameters)


def simple_gru_cell_backward(dc_next, cache):
    """Backward pass of one step of the simplified GRU.

    Arguments:
        dc_next  (n_a, m)  gradient of the loss with respect to c<t>
        cache    from simple_gru_cell_forward

    Returns a dict:
        dxt (n_x, m), dc_prev (n_a, m), dWu, dWc (n_a, n_a + n_x), dbu, dbc (n_a, 1)
    """
    return _cell_backward("simple_gru", dc_next, cache)


def simple_gru_backward(dc, caches):
    """Backpropagation through time for the simplified GRU.

    Arguments:
        dc      (n_a, m, T_x)  gradient arriving at each c<t> from the outputs
        caches  from simple_gru_forward

    Returns a dict:
        dx (n_x, m, T_x), dc0 (n_a, m), dWu, dWc (n_a, n_a + n_x), dbu, dbc (n_a, 1)
    """
    return _sequence_backward("simple_gru", dc, caches)


# ---------------------------------------------------------------------------------------------
# PyTorch's GRU (torch.nn.GRU), in the notes' shapes.


def torch_gru_cell_forward(xt, c_prev, parameters):
    """One step of PyTorch's GRU (see the module docstring for equations and weight mapping).

    Arguments:
        xt          (n_x, m)  input x<t>
        c_prev      (n_a, m)  state c<t-1> (PyTorch's h)
        parameters  dict: Wr, Wz (n_a, n_a + n_x); br, bz (n_a, 1); Wcx (n_a, n_x),
                    bcx (n_a, 1); Wcc (n_a, n_a), bcc (n_a, 1); Wy (n_y, n_a), by (n_y, 1)

    Returns:
        c_next   (n_a, m)  c<t> = (1 - z) * n + z * c<t-1>
        yt_pred  (n_y, m)  ŷ<t>
        cache    (c_next, c_prev, zt, rt, nt, hnt, xt, parameters) for torch_gru_cell_backward;
                 hnt = Wcc c<t-1> + bcc, each (n_a, m)
    """
    return _cell_forward("torch_gru", xt, c_prev, parameters)


def torch_gru_forward(x, c0, parameters):
    """Run PyTorch's GRU over a whole sequence, from c<0> = c0 (PyTorch's h_0).

    Arguments:
        x   (n_x, m, T_x), c0 (n_a, m), parameters as for torch_gru_cell_forward

    Returns:
        c (n_a, m, T_x), y_pred (n_y, m, T_x), caches (list of T_x cell caches, x)
    """
    return _sequence_forward("torch_gru", x, c0, parameters)


def torch_gru_cell_backward(dc_next, cache):
    """Backward pass of one step of PyTorch's GRU.

    Arguments:
        dc_next  (n_a, m)  gradient of the loss with respect to c<t>
        cache    from torch_gru_cell_forward

    Returns a dict:
        dxt (n_x, m), dc_prev (n_a, m), dWr, dWz (n_a, n_a + n_x), dbr, dbz (n_a, 1),
        dWcx (n_a, n_x), dbcx (n_a, 1), dWcc (n_a, n_a), dbcc (n_a, 1)
    """
    return _cell_backward("torch_gru", dc_next, cache)


def torch_gru_backward(dc, caches):
    """Backpropagation through time for PyTorch's GRU.

    Arguments:
        dc      (n_a, m, T_x)  gradient arriving at each c<t> from the outputs
        caches  from torch_gru_forward

    Returns a dict:
        dx (n_x, m, T_x), dc0 (n_a, m), dWr, dWz (n_a, n_a + n_x), dbr, dbz (n_a, 1),
        dWcx (n_a, n_x), dbcx (n_a, 1), dWcc (n_a, n_a), dbcc (n_a, 1)
    """
    return _sequence_backward("torch_gru", dc, caches)
