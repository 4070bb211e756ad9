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
"""

import numpy as np

from .activations import sigmoid, softmax
from .checks import check_input, check_parameters, check_same_m

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
        a       (n_a, m, T_x)  hidden states a<1> ... a<T_x>
        y       (n_y, m, T_x)  predictions ŷ<1> ... ŷ<T_x>
        c       (n_a, m, T_x)  memory cells c<1> ... c<T_x>
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
    a = np.empty((n_a, m, T_x), dtype=dtype)
    c = np.empty((n_a, m, T_x), dtype=dtype)
    y = np.empty((n_y, m, T_x), dtype=dtype)
    caches = []
    a_next, c_next = a0, np.zeros((n_a, m), dtype=dtype)
    for t in range(T_x):
        a_next, c_next, y[:, :, t], cache = _cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        caches.append(cache)
    return a, y, c, (caches, x)


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
    if dc is None:
        dc = np.zeros_like(da)
    else:
        dc = check_input(func, "dc", dc, "(n_a, m, T_x)", (n_a, m, T_x))
    p = cell_caches[0][9]

    keys = [k for k in GATE_KEYS + PEEPHOLE_KEYS if k in p]
    dtype = np.result_type(da, dc, x, *(p[k] for k in keys))
    dx = np.zeros((n_x, m, T_x), dtype=dtype)
    grads = {"d" + k: np.zeros(np.shape(p[k]), dtype=dtype) for k in keys}
    da_prev = np.zeros((n_a, m), dtype=dtype)
    dc_prev = np.zeros((n_a, m), dtype=dtype)
    for t in reversed(range(T_x)):
        # Each state receives gradient from outside and from the step after it.
        step = _cell_backward(da[:, :, t] + da_prev, dc[:, :, t] + dc_prev, cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prev, dc_prev = step["da_prev"], step["dc_prev"]
        for k in grads:
            grads[k] += step[k]
    return {"dx": dx, "da0": da_prev, **grads}
