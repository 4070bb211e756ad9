"""Bidirectional RNNs (BRNN): one pass left to right, one right to left, one output from both.

    a→<t> = cell(x<t>, a→<t-1>)      t = 1 ... T_x     parameters["fwd"], from a→<0>
    a←<t> = cell(x<t>, a←<t+1>)      t = T_x ... 1     parameters["rev"], from a←<T_x+1>
    ŷ<t>  = softmax(Wy [a→<t>; a←<t>] + by)

so ŷ<t> sees the past, the present and the future of x<t> (the whole sequence must be known
before predicting). Any cell of ``rnnlib.cells`` works ("rnn", "gru", "lstm", ...); each
direction has its own parameter dict with that cell's keys. The reverse direction is the same
cell run over x reversed in time; its states are flipped back so that a←<t> sits at index t
(the state after reading x<T_x> ... x<t>), as in ``torch.nn.RNN(bidirectional=True)``, whose
``*_reverse`` weights are ``parameters["rev"]``.

Shapes (course convention: features, examples, time):

    x            (n_x, m, T_x)
    a→, a←       (n_a, m, T_x)    each direction
    a            (2 n_a, m, T_x)  [a→; a←] stacked on axis 0
    Wy (n_y, 2 n_a), by (n_y, 1); z, ŷ (n_y, m, T_x)

Parameters: ``{"fwd": {...}, "rev": {...}, "Wy": Wy, "by": by}``. The initial states ``a0``
are ``None`` (zeros, as in the notes) or a pair ``(a→<0>, a←<T_x+1>)``, each (n_a, m); the
LSTM's memory cell always starts at 0. Gradients mirror the parameters:
``{"dx", "da0": (da→<0>, da←<T_x+1>), "fwd": {"dW..": ...}, "rev": {...}, "dWy", "dby"}``.

A bidirectional *layer* (no output layer, parameters ``{"fwd", "rev"}``) is
``bidirectional_forward``/``bidirectional_backward``; ``deep.py`` stacks such layers.
"""

import numpy as np

from .cells import (
    check_output_parameters,
    check_upstream,
    get_cell,
    output_backward,
    output_forward,
)
from .checks import check_input

DIRECTIONS = ("fwd", "rev")


def is_bidirectional(layer):
    """True for a bidirectional layer's parameters ``{"fwd": ..., "rev": ...}``."""
    return isinstance(layer, dict) and ("fwd" in layer or "rev" in layer)


def check_sequence(func, x):
    """Validate x (n_x, m, T_x) with T_x >= 1; return it."""
    x = check_input(func, "x", x, "(n_x, m, T_x)")
    if x.shape[2] == 0:
        raise ValueError(f"{func}: x has shape {x.shape}: T_x must be at least 1")
    return x


def check_layer(func, name, layer, cell, n_x):
    """Validate a layer's parameters (one cell dict, or ``{"fwd", "rev"}``); return its n_a.

    ``name`` spells the layer in messages, e.g. ``"parameters['layers'][1]"``.
    """
    cell = get_cell(cell)
    if is_bidirectional(layer):
        missing = [d for d in DIRECTIONS if d not in layer]
        if missing:
            raise ValueError(f"{func}: {name} is missing {missing[0]!r}: a bidirectional layer "
                             f"needs both 'fwd' and 'rev' parameter dicts")
        cell.check(func, f"{name}['fwd']", layer["fwd"], cell.n_a(layer["fwd"]), n_x)
        n_a = cell.n_a(layer["fwd"])
        cell.check(func, f"{name}['rev']", layer["rev"], n_a, n_x)
        return n_a
    cell.check(func, name, layer, cell.n_a(layer), n_x)
    return cell.n_a(layer)


def check_initial_state(func, name, a0, n_a, m, bidirectional, dtype):
    """``a0`` as a list of arrays (n_a, m): one, or two for a bidirectional layer.

    ``None`` (or a ``None`` entry in the pair) means zeros of ``dtype``.
    """
    n_dir = 2 if bidirectional else 1
    if bidirectional:
        if a0 is not None and not (isinstance(a0, (tuple, list)) and len(a0) == 2):
            raise ValueError(f"{func}: {name} must be None or a pair (a0 forward, a0 reverse) "
                             f"of arrays (n_a, m) = ({n_a}, {m}), got {type(a0).__name__}")
        pair = (None, None) if a0 is None else a0
    else:
        pair = (a0,)
    states = []
    for d, s in zip(DIRECTIONS[:n_dir], pair, strict=True):
        label = f"{name}[{DIRECTIONS.index(d)}]" if bidirectional else name
        states.append(np.zeros((n_a, m), dtype=dtype) if s is None
                      else check_input(func, label, s, "(n_a, m)", (n_a, m)))
    return states


def _reversed(v):
    """v reversed in time (axis 2): a view."""
    return v[:, :, ::-1]


def layer_forward(x, a0s, layer, cell):
    """Unchecked forward of one layer (uni- or bidirectional); ``a0s`` from check_initial_state.

    Returns ``(a, cache)`` with a (n_a, m, T_x), or (2 n_a, m, T_x) = [a→; a←].
    """
    if not is_bidirectional(layer):
        a, cache = cell.forward(x, a0s[0], layer)
        return a, {"caches": (cache,), "n_a": a.shape[0]}
    a_f, cache_f = cell.forward(x, a0s[0], layer["fwd"])
    a_r, cache_r = cell.forward(_reversed(x), a0s[1], layer["rev"])
    a = np.concatenate((a_f, a_r[:, :, ::-1]), axis=0)
    return a, {"caches": (cache_f, cache_r), "n_a": a_f.shape[0]}


def layer_backward(da, cache, cell):
    """Backward of ``layer_forward``: ``(dx, da0s, grads)``.

    ``da0s`` is a list with one (or two) (n_a, m) arrays; ``grads`` the cell's parameter
    gradients, or ``{"fwd": ..., "rev": ...}`` for a bidirectional layer.
    """
    caches, n_a = cache["caches"], cache["n_a"]
    if len(caches) == 1:
        g = cell.backward(da, caches[0])
        dx, da0 = g.pop("dx"), g.pop("da0")
        return dx, [da0], g
    g_f = cell.backward(da[:n_a], caches[0])
    g_r = cell.backward(_reversed(da[n_a:]), caches[1])
    dx = g_f.pop("dx") + g_r.pop("dx")[:, :, ::-1]
    return dx, [g_f.pop("da0"), g_r.pop("da0")], {"fwd": g_f, "rev": g_r}


def bidirectional_forward(x, a0, layer, cell="rnn"):
    """One bidirectional layer, without output layer: a = [a→; a←].

    Arguments:
        x      (n_x, m, T_x)  inputs
        a0     None (zeros) or a pair (a→<0>, a←<T_x+1>), each (n_a, m)
        layer  {"fwd": parameters of the cell, "rev": parameters of the cell}
        cell   "rnn", "rnn_relu", "gru", "simple_gru", "torch_gru" or "lstm"

    Returns:
        a      (2 n_a, m, T_x)  a→<t> in rows :n_a, a←<t> in rows n_a:
        cache  for bidirectional_backward
    """
    func = "bidirectional_forward"
    cell = get_cell(cell)
    x = check_sequence(func, x)
    if not is_bidirectional(layer):
        raise ValueError(f"{func}: layer must be a dict with keys 'fwd' and 'rev', "
                         f"got {type(layer).__name__}"
                         + (f" with keys {', '.join(map(repr, layer))}"
                            if isinstance(layer, dict) else ""))
    n_a = check_layer(func, "layer", layer, cell, x.shape[0])
    a0s = check_initial_state(func, "a0", a0, n_a, x.shape[1], True, x.dtype)
    a, cache = layer_forward(x, a0s, layer, cell)
    cache["cell"] = cell
    cache["shape"] = a.shape
    return a, cache


def bidirectional_backward(da, cache):
    """Backward of ``bidirectional_forward``.

    Arguments:
        da     (2 n_a, m, T_x)  gradient of the loss arriving at each [a→<t>; a←<t>] from
                                outside the layer (not what flows along time inside it)
        cache  from bidirectional_forward

    Returns a dict:
        dx (n_x, m, T_x), da0 (da→<0>, da←<T_x+1>) each (n_a, m),
        fwd, rev: the cell's parameter gradients for each direction ("dWax", ...)
    """
    func = "bidirectional_backward"
    if not (isinstance(cache, dict) and "cell" in cache and len(cache["caches"]) == 2):
        raise ValueError(f"{func}: cache must be the cache returned by bidirectional_forward")
    da = check_input(func, "da", da, "(2 n_a, m, T_x)", cache["shape"])
    dx, da0s, grads = layer_backward(da, cache, cache["cell"])
    return {"dx": dx, "da0": tuple(da0s), **grads}


def brnn_forward(x, a0, parameters, cell="rnn"):
    """Forward pass of a BRNN: ŷ<t> = softmax(Wy [a→<t>; a←<t>] + by).

    Arguments:
        x           (n_x, m, T_x)  inputs
        a0          None (zeros) or a pair (a→<0>, a←<T_x+1>), each (n_a, m)
        parameters  {"fwd": {...}, "rev": {...}, "Wy": (n_y, 2 n_a), "by": (n_y, 1)}
        cell        "rnn", "rnn_relu", "gru", "simple_gru", "torch_gru" or "lstm"

    Returns:
        a      (2 n_a, m, T_x)  [a→<t>; a←<t>]
        y_hat  (n_y, m, T_x)    ŷ<t>, each column a probability distribution
        cache  for brnn_backward (also holds the logits z under "z")
    """
    func = "brnn_forward"
    cell = get_cell(cell)
    x = check_sequence(func, x)
    if not is_bidirectional(parameters):
        raise ValueError(f"{func}: parameters must be a dict with keys 'fwd', 'rev', 'Wy', 'by', "
                         f"got {type(parameters).__name__}"
                         + (f" with keys {', '.join(map(repr, parameters))}"
                            if isinstance(parameters, dict) else ""))
    n_a = check_layer(func, "parameters", parameters, cell, x.shape[0])
    check_output_parameters(func, parameters, 2 * n_a)
    a0s = check_initial_state(func, "a0", a0, n_a, x.shape[1], True, x.dtype)
    a, layer_cache = layer_forward(x, a0s, parameters, cell)
    z, y_hat = output_forward(a, parameters["Wy"], parameters["by"])
    cache = {"cell": cell, "layer": layer_cache, "a": a, "z": z, "Wy": parameters["Wy"]}
    return a, y_hat, cache


def brnn_backward(dz, cache, da=None):
    """Backward pass of a BRNN.

    Arguments:
        dz     (n_y, m, T_x)    gradient of the loss on the logits z<t> = Wy [a→<t>; a←<t>] + by
                                (ŷ - y for softmax cross-entropy), or None
        cache  from brnn_forward
        da     (2 n_a, m, T_x)  optional gradient arriving directly at [a→<t>; a←<t>]

    Returns a dict:
        dx (n_x, m, T_x), da0 (da→<0>, da←<T_x+1>) each (n_a, m),
        fwd, rev: the cell's parameter gradients for each direction,
        dWy (n_y, 2 n_a), dby (n_y, 1)
    """
    func = "brnn_backward"
    if not (isinstance(cache, dict) and "layer" in cache and "z" in cache):
        raise ValueError(f"{func}: cache must be the cache returned by brnn_forward")
    a, Wy = cache["a"], cache["Wy"]
    dz, da = check_upstream(func, dz, da, cache["z"].shape, a.shape, "(2 n_a, m, T_x)")
    if dz is None:
        dz = np.zeros(cache["z"].shape, dtype=da.dtype)
    da_out, dWy, dby = output_backward(dz, a, Wy)
    if da is not None:
        da_out = da_out + da
    dx, da0s, grads = layer_backward(da_out, cache["layer"], cache["cell"])
    return {"dx": dx, "da0": tuple(da0s), **grads, "dWy": dWy, "dby": dby}
