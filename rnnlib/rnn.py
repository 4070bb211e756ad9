"""The basic RNN of the notes: forward propagation and backpropagation through time.

Shapes follow the course: features first, examples second, time last.

    xt      (n_x, m)        x<t> for a batch of m examples
    a_prev  (n_a, m)        a<t-1>
    x       (n_x, m, T_x)   the whole input sequence
    a       (n_a, m, T_x)   every hidden state a<1> ... a<T_x>

Parameters (a dict, keys as in the notes): Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1),
Wya (n_y, n_a), by (n_y, 1).

    a<t>     = g(Waa a<t-1> + Wax x<t> + ba)      g = tanh (default) or ReLU
    ŷ<t>     = softmax(Wya a<t> + by)

The cell cache is ``(a_next, a_prev, xt, parameters)`` and the sequence cache
``(caches, x)``, as in the course assignment; the caches also remember which activation ran
(``cache.activation``) so the backward pass uses the matching derivative.

The sequence functions are the fast path (see ``rnnlib.fastpath``): they compute what a loop
over the cell functions computes, with one matmul for all the inputs, stacked gates and one
matmul for the weight gradients. The states they return are read-only views of arrays the
caches keep (``.copy()`` one to modify it).
"""

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, softmax
from .checks import check_activation, check_input, check_parameters, check_same_m
from .fastpath import SequenceCache, course_view, output_layer, time_major


class CellCache(tuple):
    """A tuple that unpacks like the course's cache, plus the activation that produced it."""

    def __new__(cls, items, activation="tanh"):
        self = super().__new__(cls, items)
        self.activation = activation
        return self


def _param_spec(n_a, n_x, n_y=None):
    spec = {
        "Wax": ((n_a, n_x), "(n_a, n_x)"),
        "Waa": ((n_a, n_a), "(n_a, n_a)"),
        "ba": ((n_a, 1), "(n_a, 1)"),
    }
    if n_y is not None:
        spec["Wya"] = ((n_y, n_a), "(n_y, n_a)")
        spec["by"] = ((n_y, 1), "(n_y, 1)")
    return spec


def _n_y(parameters):
    """n_y is read off Wya; a missing Wya is reported by check_parameters."""
    Wya = parameters.get("Wya") if isinstance(parameters, dict) else None
    return np.shape(Wya)[0] if Wya is not None and np.ndim(Wya) == 2 else 1


def _check_cell(func, xt, a_prev, parameters, activation):
    check_activation(func, activation, HIDDEN_ACTIVATIONS)
    xt = check_input(func, "xt", xt, "(n_x, m)")
    n_x, m = xt.shape
    a_prev = check_input(func, "a_prev", a_prev, "(n_a, m)")
    check_same_m(func, xt=xt, a_prev=a_prev)
    n_a = a_prev.shape[0]
    parameters = check_parameters(func, parameters, _param_spec(n_a, n_x, _n_y(parameters)))
    return xt, a_prev, parameters


def _cell_forward(xt, a_prev, p, activation):
    g = HIDDEN_ACTIVATIONS[activation][0]
    a_next = g(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])
    yt_pred = softmax(p["Wya"] @ a_next + p["by"])
    return a_next, yt_pred, CellCache((a_next, a_prev, xt, p), activation)


def rnn_cell_forward(xt, a_prev, parameters, activation="tanh"):
    """One step of the RNN: a<t> = g(Waa a<t-1> + Wax x<t> + ba), ŷ<t> = softmax(Wya a<t> + by).

    Arguments:
        xt         (n_x, m)  input at time t
        a_prev     (n_a, m)  hidden state a<t-1>
        parameters dict: Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya (n_y, n_a), by (n_y, 1)
        activation "tanh" (default) or "relu"

    Returns:
        a_next   (n_a, m)  a<t>
        yt_pred  (n_y, m)  ŷ<t>, each column a probability distribution over n_y classes
        cache    (a_next, a_prev, xt, parameters) for rnn_cell_backward
    """
    xt, a_prev, parameters = _check_cell("rnn_cell_forward", xt, a_prev, parameters, activation)
    return _cell_forward(xt, a_prev, parameters, activation)


def rnn_forward(x, a0, parameters, activation="tanh"):
    """Run the RNN over a whole sequence, from a<0> = a0.

    Arguments:
        x   (n_x, m, T_x)  inputs x<1> ... x<T_x>
        a0  (n_a, m)       initial hidden state (the notes use zeros)

    Returns:
        a       (n_a, m, T_x)  hidden states a<1> ... a<T_x> (read-only view)
        y_pred  (n_y, m, T_x)  predictions ŷ<1> ... ŷ<T_x>
        caches  (list of T_x cell caches, x) for rnn_backward
    """
    func = "rnn_forward"
    check_activation(func, activation, HIDDEN_ACTIVATIONS)
    x = check_input(func, "x", x, "(n_x, m, T_x)")
    n_x, m, T_x = x.shape
    if T_x == 0:
        raise ValueError(f"{func}: x has shape {x.shape}: T_x must be at least 1")
    a0 = check_input(func, "a0", a0, "(n_a, m)")
    check_same_m(func, x=x, a0=a0)
    n_a = a0.shape[0]
    n_y = _n_y(parameters)
    parameters = check_parameters(func, parameters, _param_spec(n_a, n_x, n_y))

    # Computed in the widest dtype among inputs and weights: float32 stays float32 only when
    # everything is float32, never silently rounded down.
    dtype = np.result_type(x, a0, *(parameters[k] for k in ("Wax", "Waa", "ba", "Wya", "by")))
    fast = _fast_forward(x, a0, parameters, activation, dtype)
    H = fast["H"]
    y_pred = output_layer(H[1:], parameters["Wya"], parameters["by"])
    # The course's cell caches, as views of the stacked states (each (n_a, m)).
    caches = [CellCache((H[t + 1].T, H[t].T, x[:, :, t], parameters), activation)
              for t in range(T_x)]
    return course_view(H[1:], readonly=True), y_pred, SequenceCache((caches, x), fast)


# ---------------------------------------------------------------------------------------------
# The fast path of rnn_forward / rnn_backward (see rnnlib.fastpath): time-major (T_x, m, n)
# arrays, every input projected in one matmul before the loop, weight gradients in one matmul
# after it.


def _fast_forward(x, a0, p, activation, dtype):
    """H (T_x + 1, m, n_a): a<0> ... a<T_x>; X (T_x, m, n_x); with the weights for backward."""
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    Wax, Waa = (np.asarray(p[k], dtype=dtype) for k in ("Wax", "Waa"))
    X = time_major(x, dtype)
    H = np.empty((T_x + 1, m, n_a), dtype=dtype)
    H[0] = a0.T
    # a<t> = g(Waa a<t-1> + [Wax x<t> + ba]), the bracket for every t at once, written in H.
    np.matmul(X.reshape(T_x * m, n_x), Wax.T, out=H[1:].reshape(T_x * m, n_a))
    H[1:] += np.asarray(p["ba"], dtype=dtype).T
    hz = np.empty((m, n_a), dtype=dtype)
    Waa_T = np.ascontiguousarray(Waa.T)  # a contiguous right operand is the faster matmul
    for t in range(T_x):
        h = H[t + 1]
        np.matmul(H[t], Waa_T, out=hz)
        h += hz
        if activation == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0.0, out=h)
    return {"H": H, "X": X, "Wax": Wax, "Waa": np.ascontiguousarray(Waa),
            "activation": activation}


def _fast_from_cell_caches(cell_caches, x, dtype):
    """The arrays of _fast_forward rebuilt from a list of cell caches (made step by step)."""
    p = cell_caches[0][3]
    a_next = np.stack([np.asarray(c[0]).T for c in cell_caches]).astype(dtype, copy=False)
    a0 = np.asarray(cell_caches[0][1], dtype=dtype).T[None]
    return {"H": np.concatenate([a0, a_next]), "X": time_major(x, dtype),
            "Wax": np.asarray(p["Wax"], dtype=dtype), "Waa": np.asarray(p["Waa"], dtype=dtype),
            "activation": getattr(cell_caches[0], "activation", "tanh")}


def rnn_cell_backward(da_next, cache):
    """Backward pass of one RNN step.

    Arguments:
        da_next  (n_a, m)  gradient of the loss with respect to a<t>
        cache    from rnn_cell_forward

    Returns a dict:
        dxt (n_x, m), da_prev (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1)
    """
    a_next, a_prev, xt, p = cache
    activation = getattr(cache, "activation", "tanh")
    da_next = check_input("rnn_cell_backward", "da_next", da_next, "(n_a, m)", a_next.shape)
    return _cell_backward(da_next, a_next, a_prev, xt, p, activation)


def _cell_backward(da_next, a_next, a_prev, xt, p, activation):
    dz = da_next * HIDDEN_ACTIVATIONS[activation][1](a_next)  # gradient before the activation
    return {
        "dxt": p["Wax"].T @ dz,
        "da_prev": p["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }


def rnn_backward(da, caches):
    """Backpropagation through time over the whole sequence.

    Arguments:
        da      (n_a, m, T_x)  gradient of the loss arriving at each a<t> from the outputs
                               (not including what flows back from a<t+1>)
        caches  from rnn_forward

    Returns a dict:
        dx (n_x, m, T_x), da0 (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1)
    """
    func = "rnn_backward"
    if not (isinstance(caches, tuple) and len(caches) == 2):
        raise ValueError(f"{func}: caches must be the (caches, x) pair returned by rnn_forward")
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = cell_caches[0][0].shape[0]
    da = check_input(func, "da", da, "(n_a, m, T_x)", (n_a, m, T_x))
    p = cell_caches[0][3]

    dtype = np.result_type(da, x, *(np.asarray(p[k]) for k in ("Wax", "Waa", "ba")))
    fast = getattr(caches, "fast", None)
    if fast is None or fast["H"].dtype != dtype:
        fast = _fast_from_cell_caches(cell_caches, x, dtype)
    H, DA, Waa = fast["H"], time_major(da, dtype), fast["Waa"]
    tanh = fast["activation"] == "tanh"
    dZ = np.empty((T_x, m, n_a), dtype=dtype)  # gradient before the activation, every step
    da_prev = np.zeros((m, n_a), dtype=dtype)  # gradient reaching a<t> from step t + 1
    k = np.empty((m, n_a), dtype=dtype)
    for t in reversed(range(T_x)):
        # The state a<t> receives gradient from its output and from the step after it.
        dz = dZ[t]
        np.add(DA[t], da_prev, out=dz)
        if tanh:  # d tanh = 1 - a<t>²
            np.multiply(H[t + 1], H[t + 1], out=k)
            np.subtract(1.0, k, out=k)
            dz *= k
        else:  # d relu = 1 where a<t> > 0
            dz *= H[t + 1] > 0
        np.matmul(dz, Waa, out=da_prev)
    # Weight gradients for all steps at once: dW = Σ_t dz<t> [x<t> or a<t-1>]ᵀ.
    dZ2 = dZ.reshape(T_x * m, n_a)
    return {"dx": course_view((dZ2 @ fast["Wax"]).reshape(T_x, m, n_x)),
            "da0": np.ascontiguousarray(da_prev.T),
            "dWax": dZ2.T @ fast["X"].reshape(T_x * m, n_x),
            "dWaa": dZ2.T @ H[:-1].reshape(T_x * m, n_a),
            "dba": dZ2.sum(axis=0)[:, None]}
