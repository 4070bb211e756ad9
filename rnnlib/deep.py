"""Deep (stacked) RNNs: layer l reads the states of layer l - 1 at the same time step.

    a[0]<t> = x<t>
    a[l]<t> = cell(a[l-1]<t>, a[l]<t-1>)       l = 1 ... L,  from a[l]<0>
    ŷ<t>    = softmax(Wy a[L]<t> + by)

Any cell of ``rnnlib.cells`` works, the same cell in every layer. A layer may also be
bidirectional (see ``brnn.py``): it then passes [a→[l]<t>; a←[l]<t>] (2 n_a rows) up, as in
``torch.nn.LSTM(num_layers=L, bidirectional=True)``. Deep RNNs are expensive: each layer is a
full RNN over the sequence, so the notes keep L small (about 3).

Shapes (course convention: features, examples, time):

    x        (n_x, m, T_x)
    a[l]     (n_a[l], m, T_x), or (2 n_a[l], m, T_x) for a bidirectional layer
    Wy (n_y, n_a[L]) (2 n_a[L] columns if layer L is bidirectional), by (n_y, 1)

Parameters: ``{"layers": [layer 1, ..., layer L], "Wy": Wy, "by": by}``; each layer is the
cell's parameter dict, its input size n_a[l-1] (n_a[0] = n_x), or ``{"fwd": ..., "rev": ...}``.
Initial states ``a0``: ``None`` (all zeros) or a list of L entries, each ``None`` (zeros), an
array (n_a[l], m), or for a bidirectional layer a pair (see ``brnn.py``). Gradients mirror the
parameters: ``{"dx", "da0": [L entries like a0], "layers": [L gradient dicts], "dWy", "dby"}``.

``stacked_forward``/``stacked_backward`` are the layers alone (no output layer), the
counterpart of ``torch.nn.RNN/GRU/LSTM(num_layers=L)``.
"""

import numpy as np

from .brnn import (
    check_initial_state,
    check_layer,
    check_sequence,
    is_bidirectional,
    layer_backward,
    layer_forward,
)
from .cells import (
    check_output_parameters,
    check_upstream,
    get_cell,
    output_backward,
    output_forward,
)
from .checks import check_input


def _check_stack(func, x, a0, layers, cell, name):
    """Validate the layers and initial states; return the initial states per layer."""
    if not (isinstance(layers, (list, tuple)) and len(layers) > 0):
        raise ValueError(f"{func}: {name} must be a non-empty list of layer parameter dicts, "
                         f"got {type(layers).__name__}"
                         + (" of length 0" if isinstance(layers, (list, tuple)) else ""))
    L = len(layers)
    if a0 is not None and not (isinstance(a0, (list, tuple)) and len(a0) == L):
        raise ValueError(f"{func}: a0 must be None or a list of L = {L} initial states "
                         f"(one per layer), got {type(a0).__name__}"
                         + (f" of length {len(a0)}" if isinstance(a0, (list, tuple)) else ""))
    n_in, m = x.shape[0], x.shape[1]
    a0s = []
    for l, layer in enumerate(layers):
        n_a = check_layer(func, f"{name}[{l}]", layer, cell, n_in)
        bi = is_bidirectional(layer)
        a0s.append(check_initial_state(func, f"a0[{l}]", None if a0 is None else a0[l],
                                       n_a, m, bi, x.dtype))
        n_in = 2 * n_a if bi else n_a
    return a0s


def _forward(x, a0s, layers, cell):
    states, caches = [], []
    for layer, a0 in zip(layers, a0s, strict=True):
        x, cache = layer_forward(x, a0, layer, cell)
        states.append(x)
        caches.append(cache)
    return states, caches


def _check_da(func, da, states):
    """da: None, one array for the top layer, or a list of L entries (None or an array)."""
    L = len(states)
    if da is None:
        return [None] * L
    if isinstance(da, np.ndarray):
        da = [None] * (L - 1) + [da]
    if not (isinstance(da, (list, tuple)) and len(da) == L):
        raise ValueError(f"{func}: da must be an array (n_a[L], m, T_x), or a list of L = {L} "
                         f"arrays or None, got {type(da).__name__}"
                         + (f" of length {len(da)}" if isinstance(da, (list, tuple)) else ""))
    return [None if d is None else check_input(func, f"da[{l}]", d, "(n_a[l], m, T_x)", s.shape)
            for l, (d, s) in enumerate(zip(da, states, strict=True))]


def _backward(das, cache):
    """Backward through the layers, top down; das[l] is added at layer l's states."""
    cell, caches, states = cache["cell"], cache["caches"], cache["states"]
    L = len(caches)
    da0, grads = [None] * L, [None] * L
    d_above = None  # gradient reaching a[l] from layer l + 1
    for l in reversed(range(L)):
        parts = [d for d in (das[l], d_above) if d is not None]
        da_l = sum(parts[1:], parts[0]) if parts else np.zeros_like(states[l])
        d_above, d0, grads[l] = layer_backward(da_l, caches[l], cell)
        da0[l] = d0[0] if len(d0) == 1 else tuple(d0)
    return {"dx": d_above, "da0": da0, "layers": grads}


def stacked_forward(x, a0, layers, cell="rnn"):
    """L stacked layers, without output layer (like ``torch.nn.LSTM(num_layers=L)``).

    Arguments:
        x       (n_x, m, T_x)  inputs
        a0      None (zeros) or a list of L initial states (see the module docstring)
        layers  list of L layer parameter dicts (cell dicts or {"fwd", "rev"})
        cell    "rnn", "rnn_relu", "gru", "simple_gru", "torch_gru" or "lstm"

    Returns:
        a      list of L arrays: a[l] (n_a[l], m, T_x) is layer l+1's states (a[-1] the top)
        cache  for stacked_backward
    """
    func = "stacked_forward"
    cell = get_cell(cell)
    x = check_sequence(func, x)
    a0s = _check_stack(func, x, a0, layers, cell, "layers")
    states, caches = _forward(x, a0s, layers, cell)
    return states, {"cell": cell, "caches": caches, "states": states}


def stacked_backward(da, cache):
    """Backward of ``stacked_forward``.

    Arguments:
        da     gradient arriving at the states from outside the stack: one array
               (n_a[L], m, T_x) for the top layer, or a list of L arrays (or None), one per layer
        cache  from stacked_forward

    Returns a dict:
        dx (n_x, m, T_x), da0 (list of L, like a0), layers (list of L parameter-gradient dicts)
    """
    func = "stacked_backward"
    if not (isinstance(cache, dict) and "caches" in cache and "states" in cache):
        raise ValueError(f"{func}: cache must be the cache returned by stacked_forward")
    if da is None:
        raise ValueError(f"{func}: da is required (an array for the top layer or a list)")
    return _backward(_check_da(func, da, cache["states"]), cache)


def deep_forward(x, a0, parameters, cell="rnn"):
    """Forward pass of a deep RNN: L stacked layers, then ŷ<t> = softmax(Wy a[L]<t> + by).

    Arguments:
        x           (n_x, m, T_x)  inputs
        a0          None (zeros) or a list of L initial states (see the module docstring)
        parameters  {"layers": [L layer dicts], "Wy": (n_y, n_a[L]), "by": (n_y, 1)}
        cell        "rnn", "rnn_relu", "gru", "simple_gru", "torch_gru" or "lstm"

    Returns:
        a      list of L arrays a[l] (n_a[l], m, T_x), the states of every layer
        y_hat  (n_y, m, T_x)  ŷ<t>
        cache  for deep_backward (also holds the logits z under "z")
    """
    func = "deep_forward"
    cell = get_cell(cell)
    x = check_sequence(func, x)
    if not (isinstance(parameters, dict) and "layers" in parameters):
        raise ValueError(f"{func}: parameters must be a dict with keys 'layers', 'Wy', 'by', got "
                         + (f"keys {', '.join(map(repr, parameters))}"
                            if isinstance(parameters, dict) else type(parameters).__name__))
    layers = parameters["layers"]
    a0s = _check_stack(func, x, a0, layers, cell, "parameters['layers']")
    n_top = 2 * cell.n_a(layers[-1]["fwd"]) if is_bidirectional(layers[-1]) \
        else cell.n_a(layers[-1])
    check_output_parameters(func, parameters, n_top)
    states, caches = _forward(x, a0s, layers, cell)
    z, y_hat = output_forward(states[-1], parameters["Wy"], parameters["by"])
    cache = {"cell": cell, "caches": caches, "states": states, "z": z, "Wy": parameters["Wy"]}
    return states, y_hat, cache


def deep_backward(dz, cache, da=None):
    """Backward pass of a deep RNN.

    Arguments:
        dz     (n_y, m, T_x)  gradient of the loss on the logits z<t> = Wy a[L]<t> + by
               (ŷ - y for softmax cross-entropy), or None
        cache  from deep_forward
        da     optional gradient arriving directly at the states: an array for the top layer,
               or a list of L arrays (or None)

    Returns a dict:
        dx (n_x, m, T_x), da0 (list of L, like a0), layers (list of L parameter-gradient
        dicts, each like the cell's, or {"fwd", "rev"}), dWy (n_y, n_a[L]), dby (n_y, 1)
    """
    func = "deep_backward"
    if not (isinstance(cache, dict) and "caches" in cache and "z" in cache):
        raise ValueError(f"{func}: cache must be the cache returned by deep_forward")
    states = cache["states"]
    if dz is None and da is None:
        check_upstream(func, dz, None, cache["z"].shape, states[-1].shape)
    das = _check_da(func, da, states)
    if dz is not None:
        dz, _ = check_upstream(func, dz, None, cache["z"].shape, states[-1].shape)
        d_top, dWy, dby = output_backward(dz, states[-1], cache["Wy"])
        das[-1] = d_top if das[-1] is None else das[-1] + d_top
    else:
        Wy = cache["Wy"]
        dWy, dby = np.zeros_like(Wy), np.zeros((Wy.shape[0], 1), dtype=Wy.dtype)
    grads = _backward(das, cache)
    return {**grads, "dWy": dWy, "dby": dby}
