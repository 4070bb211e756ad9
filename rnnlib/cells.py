"""The recurrent cells behind one interface, and the output layer ŷ<t> = softmax(Wy a<t> + by).

Bidirectional (``brnn.py``) and deep (``deep.py``) networks are built from *layers*: a cell run
over a whole sequence, without its output layer. ``get_cell(name)`` returns a :class:`Cell`
whose two functions have the same signature for every cell:

    a, cache = cell.forward(x, a0, parameters)    x (n_x, m, T_x), a0 (n_a, m) -> a (n_a, m, T_x)
    grads    = cell.backward(da, cache)           da (n_a, m, T_x) -> dict

``a`` is the state the layer passes on: a<t> for the RNN and the LSTM (whose memory cell c<t>
stays inside the layer, c<0> = 0), c<t> = a<t> for the GRUs. ``grads`` holds ``dx``
(n_x, m, T_x), ``da0`` (n_a, m) and ``"d" + key`` for every parameter key of the cell.

Cells (``CELLS``; parameter keys in the notes' names, output layer excluded):

    "rnn"         tanh RNN                  Wax, Waa, ba              rnnlib.rnn
    "rnn_relu"    ReLU RNN                  Wax, Waa, ba              rnnlib.rnn
    "gru"         the notes' full GRU       Wc, bc, Wu, bu, Wr, br    rnnlib.gru
    "simple_gru"  GRU without Γr            Wc, bc, Wu, bu            rnnlib.gru
    "torch_gru"   torch.nn.GRU's GRU        Wr, br, Wz, bz, Wcx, ...  rnnlib.gru
    "lstm"        the notes' LSTM           Wf, bf, Wu, bu, Wc, ...   rnnlib.lstm
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import gru, lstm, rnn
from .activations import softmax
from .checks import check_input, check_parameters


@dataclass(frozen=True)
class Cell:
    """One recurrent cell's sequence functions, without the output layer.

    Attributes:
        name      key in ``CELLS``
        forward   (x, a0, parameters) -> (a, cache)
        backward  (da, cache) -> {"dx", "da0", "d<key>" for each parameter key}
        spec      (parameters, n_a, n_x) -> {key: (shape, symbols)}: the expected shapes
        size_key  a weight with n_a rows, acting on x<t> (n_x columns) or, when ``stacked``,
                  on [a<t-1>; x<t>] (n_a + n_x columns)
    """

    name: str
    forward: Callable
    backward: Callable
    spec: Callable
    size_key: str
    stacked: bool

    def _size_weight(self, parameters):
        W = parameters.get(self.size_key) if isinstance(parameters, dict) else None
        return np.shape(W) if W is not None and np.ndim(W) == 2 else None

    def n_a(self, parameters):
        """n_a read off ``parameters[size_key]``; None when that entry is missing or not 2-D."""
        shape = self._size_weight(parameters)
        return None if shape is None else shape[0]

    def n_x(self, parameters):
        """n_x read off ``parameters[size_key]``; None when that entry is missing or not 2-D."""
        shape = self._size_weight(parameters)
        return None if shape is None else shape[1] - (shape[0] if self.stacked else 0)

    def check(self, func, name, parameters, n_a, n_x):
        """Validate one layer's parameter dict; messages start with ``func: name``.

        ``n_a`` None (read off a missing or malformed weight) reports that weight.
        """
        where = f"{func}: {name}"
        if n_a is None:
            symbols = "(n_a, n_a + n_x)" if self.stacked else "(n_a, n_x)"
            check_parameters(where, parameters, {self.size_key: ((None, None), symbols)})
            n_a = self.n_a(parameters)
        check_parameters(where, parameters, self.spec(parameters, n_a, n_x))

    def init(self, n_a, n_x, rng):
        """Parameters drawn like PyTorch's: every entry uniform in [-1/√n_a, 1/√n_a]."""
        k = 1.0 / np.sqrt(n_a)
        return {key: rng.uniform(-k, k, shape) for key, (shape, _) in
                self.spec(None, n_a, n_x).items()}


def _with_dummy_output(p, n_a, Wy_key):
    """The public sequence functions also compute ŷ<t>; give them a 1-class output layer."""
    dtype = np.result_type(*(np.asarray(v) for v in p.values()))
    return {**p, Wy_key: np.zeros((1, n_a), dtype=dtype), "by": np.zeros((1, 1), dtype=dtype)}


def _rnn_cell(activation):
    def forward(x, a0, p):
        a, _, cache = rnn.rnn_forward(x, a0, _with_dummy_output(p, a0.shape[0], "Wya"),
                                      activation=activation)
        return a, cache

    def backward(da, cache):
        return rnn.rnn_backward(da, cache)

    return forward, backward


def _gru_cell(variant):
    seq_forward = getattr(gru, f"{variant}_forward")
    seq_backward = getattr(gru, f"{variant}_backward")

    def forward(x, a0, p):
        c, _, cache = seq_forward(x, a0, _with_dummy_output(p, a0.shape[0], "Wy"))
        return c, cache

    def backward(da, cache):
        grads = seq_backward(da, cache)
        grads["da0"] = grads.pop("dc0")
        return grads

    def spec(parameters, n_a, n_x):
        full = gru._param_spec(variant, n_a, n_x, 1)
        return {k: full[k] for k in gru._GATE_KEYS[variant]}

    return forward, backward, spec


def _lstm_forward(x, a0, p):
    a, _, _, cache = lstm.lstm_forward(x, a0, _with_dummy_output(p, a0.shape[0], "Wy"))
    return a, cache


def _lstm_backward(da, cache):
    return lstm.lstm_backward(da, cache)


def _make_cells():
    cells = {}
    rnn_spec = lambda parameters, n_a, n_x: rnn._param_spec(n_a, n_x)  # noqa: E731
    for name, activation in (("rnn", "tanh"), ("rnn_relu", "relu")):
        cells[name] = Cell(name, *_rnn_cell(activation), rnn_spec, "Wax", False)
    for variant in ("gru", "simple_gru", "torch_gru"):
        size_key = "Wz" if variant == "torch_gru" else "Wu"
        cells[variant] = Cell(variant, *_gru_cell(variant), size_key, True)
    cells["lstm"] = Cell("lstm", _lstm_forward, _lstm_backward, lstm._param_spec, "Wf", True)
    return cells


CELLS = _make_cells()


def get_cell(cell):
    """The :class:`Cell` named ``cell`` (a key of ``CELLS``); a Cell is returned as it is."""
    if isinstance(cell, Cell):
        return cell
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    return CELLS[cell]


# ---------------------------------------------------------------------------------------------
# The output layer, applied to every time step at once.


def check_output_parameters(func, parameters, n_a):
    """Validate Wy (n_y, n_a) and by (n_y, 1) in ``parameters``; return n_y."""
    Wy = parameters.get("Wy") if isinstance(parameters, dict) else None
    n_y = np.shape(Wy)[0] if Wy is not None and np.ndim(Wy) == 2 else 1
    check_parameters(func, parameters, {"Wy": ((n_y, n_a), "(n_y, n_a)"),
                                        "by": ((n_y, 1), "(n_y, 1)")})
    return n_y


def output_forward(a, Wy, by):
    """Logits z<t> = Wy a<t> + by and ŷ<t> = softmax(z<t>) for every t.

    Arguments:
        a   (n_a, m, T_x)  states (for a BRNN n_a counts both directions)
        Wy  (n_y, n_a), by (n_y, 1)

    Returns:
        z      (n_y, m, T_x)  logits
        y_hat  (n_y, m, T_x)  softmax over the n_y classes of each column
    """
    n_a, m, T_x = a.shape
    z = (Wy @ a.reshape(n_a, m * T_x) + by).reshape(-1, m, T_x)
    return z, softmax(z)


def output_backward(dz, a, Wy):
    """Backward pass of ``output_forward`` from the gradient ``dz`` on the logits.

    For softmax cross-entropy dz = ŷ - y. Returns ``(da, dWy, dby)`` with shapes
    (n_a, m, T_x), (n_y, n_a), (n_y, 1).
    """
    n_a, m, T_x = a.shape
    dz2 = dz.reshape(dz.shape[0], m * T_x)
    da = (Wy.T @ dz2).reshape(n_a, m, T_x)
    return da, dz2 @ a.reshape(n_a, m * T_x).T, dz2.sum(axis=1, keepdims=True)


def check_upstream(func, dz, da, z_shape, a_shape, a_symbols="(n_a, m, T_x)"):
    """Validate the two optional upstream gradients of a network with an output layer.

    ``dz`` arrives at the logits (n_y, m, T_x), ``da`` directly at the top states
    (n_a, m, T_x); at least one must be given. Returns them as arrays (``None`` kept).
    """
    if dz is None and da is None:
        raise ValueError(f"{func}: give dz (gradient on the logits), da (on the states), or both")
    if dz is not None:
        dz = check_input(func, "dz", dz, "(n_y, m, T_x)", z_shape)
    if da is not None:
        da = check_input(func, "da", da, a_symbols, a_shape)
    return dz, da
