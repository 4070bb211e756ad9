"""The PyTorch bridge: the notes' cells as torch modules, converters to and from nn.RNN/GRU/LSTM.

Layouts. rnnlib follows the course: x (n_x, m, T_x), states (n_a, m, T_x), weights acting on
the column [a<t-1>; x<t>] (hidden part first). PyTorch is time-first (or batch-first) with
features last: input (T_x, m, n_x), h (num_layers * num_directions, m, n_a).
``to_torch_sequence`` and ``from_torch_sequence`` move arrays between the two.

Weight mapping (layer l, suffix ``_l{l}``; ``_reverse`` for a bidirectional layer's "rev"):

    nn.RNN   weight_ih = Wax   weight_hh = Waa   bias_ih + bias_hh = ba
    nn.LSTM  rows stacked in gate order i, f, g, o = Γu, Γf, c̃, Γo:
             weight_ih = [Wu; Wf; Wc; Wo][:, n_a:]   weight_hh = [Wu; Wf; Wc; Wo][:, :n_a]
             bias_ih + bias_hh = [bu; bf; bc; bo]
    nn.GRU   PyTorch's reset-after GRU = rnnlib's cell "torch_gru" (see rnnlib.gru), rows r, z, n:
             weight_ih = [Wr[:, n_a:]; Wz[:, n_a:]; Wcx]
             weight_hh = [Wr[:, :n_a]; Wz[:, :n_a]; Wcc]
             bias_ih = [br - b_hr; bz - b_hz; bcx]    bias_hh = [b_hr; b_hz; bcc]

PyTorch keeps two bias vectors where the notes have one; only their sum matters (except for
the GRU's candidate, where bcc sits inside r * (...)). ``to_torch`` puts the notes' bias in
``bias_ih`` and zeros in ``bias_hh``; ``from_torch`` adds them. The notes' GRU (reset gate
before the matmul) and the simplified GRU (no reset gate) have no nn.GRU equivalent:
``to_torch`` refuses them; ``Recurrent`` runs them in torch.

Parameter structures (as in rnnlib.brnn and rnnlib.deep): one layer is the cell's dict, a
bidirectional layer ``{"fwd": ..., "rev": ...}``, several layers ``{"layers": [...]}``.

Contents:
    to_torch(parameters, cell) -> nn.RNN | nn.GRU | nn.LSTM
    from_torch(module) -> (parameters, cell)
    RNNCell, GRUCell, SimpleGRUCell, TorchGRUCell, LSTMCell   the notes' cells as modules
    Recurrent        layers of those cells with nn.LSTM's interface (num_layers, bidirectional)
    SequenceModel    recurrent layers + a linear head, for regression or classification
    adding_batch     rnnlib.data.adding_problem as torch tensors
"""

import numpy as np
import torch
from torch import nn

from .brnn import DIRECTIONS, check_layer, is_bidirectional
from .cells import get_cell
from .data import adding_problem

# nn modules that hold exactly an rnnlib cell, and the rnnlib cells they hold.
_TORCH_MODULES = {"rnn": nn.RNN, "rnn_relu": nn.RNN, "torch_gru": nn.GRU, "lstm": nn.LSTM}
_TORCH_CELLS = {"rnn": nn.RNNCell, "rnn_relu": nn.RNNCell, "torch_gru": nn.GRUCell,
                "lstm": nn.LSTMCell}
_LSTM_ORDER = ("u", "f", "c", "o")  # nn.LSTM's i, f, g, o

_NOT_IN_NN_GRU = {
    "gru": (
        "the notes' GRU applies the relevance (reset) gate before the matmul, "
        "c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc), while nn.GRU applies it after, "
        "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). These are different functions: no "
        "choice of weights makes one equal the other"
    ),
    "simple_gru": (
        "the simplified GRU has no relevance (reset) gate, while nn.GRU always multiplies "
        "W_hn h + b_hn by a gate r = σ(...) < 1: no finite weights make r = 1"
    ),
}


def _not_convertible(func, cell):
    return ValueError(
        f"{func}: cell {cell!r} cannot be converted to torch.nn.GRU: {_NOT_IN_NN_GRU[cell]}. "
        f"Run it in torch with rnnlib.pytorch.Recurrent.from_numpy(parameters, {cell!r}), or "
        f"use cell 'torch_gru' (rnnlib.gru.torch_gru_*), PyTorch's own GRU, which nn.GRU holds "
        f"exactly"
    )


# ---------------------------------------------------------------------------------------------
# Layouts.


def to_torch_sequence(x, batch_first=False):
    """rnnlib (n, m, T_x) -> torch (T_x, m, n), or (m, T_x, n) with ``batch_first``."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"to_torch_sequence: x has shape {x.shape}, expected (n, m, T_x)")
    return torch.from_numpy(np.ascontiguousarray(x.transpose((1, 2, 0) if batch_first
                                                             else (2, 1, 0))))


def from_torch_sequence(t, batch_first=False):
    """torch (T_x, m, n) (or (m, T_x, n) with ``batch_first``) -> rnnlib (n, m, T_x) numpy."""
    if t.dim() != 3:
        raise ValueError(f"from_torch_sequence: tensor has shape {tuple(t.shape)}, expected "
                         + ("(m, T_x, n)" if batch_first else "(T_x, m, n)"))
    a = t.detach().cpu().numpy()
    return np.ascontiguousarray(a.transpose((2, 0, 1) if batch_first else (2, 1, 0)))


# ---------------------------------------------------------------------------------------------
# Converters between rnnlib parameter dicts and nn.RNN / nn.GRU / nn.LSTM.


def _layer_list(func, parameters):
    """(list of layers, bidirectional) from a cell dict, {"fwd", "rev"} or {"layers": [...]}."""
    if not isinstance(parameters, dict):
        raise ValueError(f"{func}: parameters must be a dict (a cell's parameters, {{'fwd', "
                         f"'rev'}} or {{'layers': [...]}}), got {type(parameters).__name__}")
    layers = parameters["layers"] if "layers" in parameters else [parameters]
    if not (isinstance(layers, (list, tuple)) and layers):
        raise ValueError(f"{func}: parameters['layers'] must be a non-empty list")
    kinds = {is_bidirectional(layer) for layer in layers}
    if len(kinds) > 1:
        raise ValueError(f"{func}: torch modules are bidirectional in every layer or in none; "
                         f"these layers mix both")
    return list(layers), kinds.pop()


def _to_torch_weights(p, cell, n_a):
    """(weight_ih, weight_hh, bias_ih, bias_hh) as numpy arrays for one direction of a layer."""
    if cell in ("rnn", "rnn_relu"):
        return p["Wax"], p["Waa"], p["ba"][:, 0], np.zeros(n_a, dtype=p["ba"].dtype)
    if cell == "lstm":
        W = np.vstack([p["W" + g] for g in _LSTM_ORDER])
        b = np.vstack([p["b" + g] for g in _LSTM_ORDER])[:, 0]
        return W[:, n_a:], W[:, :n_a], b, np.zeros_like(b)
    # torch_gru
    zeros = np.zeros((2 * n_a, 1), dtype=p["br"].dtype)
    return (np.vstack([p["Wr"][:, n_a:], p["Wz"][:, n_a:], p["Wcx"]]),
            np.vstack([p["Wr"][:, :n_a], p["Wz"][:, :n_a], p["Wcc"]]),
            np.vstack([p["br"], p["bz"], p["bcx"]])[:, 0],
            np.vstack([zeros, p["bcc"]])[:, 0])


def _from_torch_weights(W_ih, W_hh, b_ih, b_hh, cell, n_a):
    """The inverse of _to_torch_weights: one direction's rnnlib parameter dict."""
    col = lambda b: b[:, None].copy()  # noqa: E731
    if cell in ("rnn", "rnn_relu"):
        return {"Wax": W_ih.copy(), "Waa": W_hh.copy(), "ba": col(b_ih + b_hh)}
    W, b = np.hstack([W_hh, W_ih]), b_ih + b_hh
    if cell == "lstm":
        p = {}
        for k, g in enumerate(_LSTM_ORDER):
            p["W" + g] = W[k * n_a:(k + 1) * n_a].copy()
            p["b" + g] = col(b[k * n_a:(k + 1) * n_a])
        return p
    r, z, n = slice(0, n_a), slice(n_a, 2 * n_a), slice(2 * n_a, 3 * n_a)
    return {"Wr": W[r].copy(), "br": col(b[r]), "Wz": W[z].copy(), "bz": col(b[z]),
            "Wcx": W_ih[n].copy(), "bcx": col(b_ih[n]), "Wcc": W_hh[n].copy(),
            "bcc": col(b_hh[n])}


def _suffixes(module, bidirectional):
    """Parameter-name suffixes of an nn.RNN/GRU/LSTM, per layer and direction."""
    dirs = DIRECTIONS if bidirectional else DIRECTIONS[:1]
    return [{d: f"_l{l}" + ("_reverse" if d == "rev" else "") for d in dirs}
            for l in range(module.num_layers)]


def to_torch(parameters, cell, batch_first=False):
    """An nn.RNN, nn.GRU or nn.LSTM computing exactly what rnnlib computes with ``parameters``.

    Arguments:
        parameters  one layer (the cell's dict), a bidirectional layer {"fwd", "rev"}, or
                    {"layers": [...]} (as in rnnlib.deep); all layers the same n_a and either
                    all bidirectional or none. Output-layer keys (Wy, by) are ignored.
        cell        "rnn" / "rnn_relu" -> nn.RNN, "lstm" -> nn.LSTM, "torch_gru" -> nn.GRU.
                    The notes' "gru" and "simple_gru" raise ValueError (see the module doc).
        batch_first passed to the module

    Returns the module, in the arrays' dtype, with bias_ih = the notes' bias, bias_hh = 0
    (for nn.GRU's candidate bias_hh = bcc). Feed it an initial state h0 = a0 (and for the LSTM
    c0 = 0) shaped (num_layers * num_directions, m, n_a).
    """
    func = "to_torch"
    cell = get_cell(cell).name
    if cell in _NOT_IN_NN_GRU:
        raise _not_convertible(func, cell)
    layers, bidirectional = _layer_list(func, parameters)
    c = get_cell(cell)
    first = [layer["fwd"] if bidirectional else layer for layer in layers]
    n_x = n_in = c.n_x(first[0])
    arrays = []
    for l, layer in enumerate(layers):
        n_a = check_layer(func, f"layer {l}", layer, c, n_in)
        if n_a != c.n_a(first[0]):
            raise ValueError(f"{func}: torch modules have the same n_a in every layer; layer 0 "
                             f"has {c.n_a(first[0])}, layer {l} has {n_a}")
        for p in ([layer[d] for d in DIRECTIONS] if bidirectional else [layer]):
            if any(k in p for k in ("Pf", "Pu", "Po")):
                raise ValueError(f"{func}: layer {l} has peephole connections, which nn.LSTM "
                                 f"lacks")
            arrays += [np.asarray(p[k]) for k in c.spec(p, n_a, n_in)]
        n_in = n_a * (2 if bidirectional else 1)
    dtype = np.result_type(*arrays)
    kwargs = {"nonlinearity": "relu" if cell == "rnn_relu" else "tanh"} if cell.startswith(
        "rnn") else {}
    module = _TORCH_MODULES[cell](
        n_x, n_a, num_layers=len(layers), bidirectional=bidirectional, batch_first=batch_first,
        dtype=torch.float32 if dtype == np.float32 else torch.float64, **kwargs)
    with torch.no_grad():
        for layer, sfx in zip(layers, _suffixes(module, bidirectional), strict=True):
            for d, s in sfx.items():
                p = layer[d] if bidirectional else layer
                for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   _to_torch_weights(p, cell, n_a), strict=True):
                    getattr(module, name + s).copy_(torch.from_numpy(np.array(w)))
    return module


def _cell_of_torch(func, module):
    if isinstance(module, (nn.RNN, nn.RNNCell)):
        return "rnn_relu" if module.nonlinearity == "relu" else "rnn"
    if isinstance(module, (nn.GRU, nn.GRUCell)):
        return "torch_gru"
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return "lstm"
    raise ValueError(f"{func}: module must be nn.RNN, nn.GRU, nn.LSTM, their Cell versions, or "
                     f"rnnlib.pytorch.Recurrent, got {type(module).__name__}")


def from_torch(module):
    """rnnlib parameters holding what an nn.RNN / nn.GRU / nn.LSTM (or their Cells) computes.

    Also accepts ``Recurrent`` and the notes' cell modules of this file.

    Returns ``(parameters, cell)``: ``cell`` is "rnn", "rnn_relu", "torch_gru" or "lstm";
    ``parameters`` is the cell's dict for one unidirectional layer, ``{"fwd", "rev"}`` for one
    bidirectional layer, ``{"layers": [...]}`` for several (float arrays in the module's dtype;
    for use with rnnlib.brnn / rnnlib.deep, or with the sequence functions after adding an
    output layer Wy, by). bias = bias_ih + bias_hh.
    """
    func = "from_torch"
    if isinstance(module, (Recurrent, _NotesCell)):
        return module.to_numpy(), module.cell
    cell = _cell_of_torch(func, module)
    n_a = module.hidden_size

    def arr(t):
        return t.detach().cpu().numpy()

    if isinstance(module, nn.RNNCellBase):
        W_ih, W_hh = arr(module.weight_ih), arr(module.weight_hh)
        b_ih = arr(module.bias_ih) if module.bias else np.zeros(W_ih.shape[0], W_ih.dtype)
        b_hh = arr(module.bias_hh) if module.bias else np.zeros(W_ih.shape[0], W_ih.dtype)
        return _from_torch_weights(W_ih, W_hh, b_ih, b_hh, cell, n_a), cell
    if getattr(module, "proj_size", 0):
        raise ValueError(f"{func}: nn.LSTM with proj_size={module.proj_size} has no rnnlib "
                         f"equivalent (the notes' LSTM has no projection)")
    layers = []
    for sfx in _suffixes(module, module.bidirectional):
        layer = {}
        for d, s in sfx.items():
            W_ih = arr(getattr(module, "weight_ih" + s))
            W_hh = arr(getattr(module, "weight_hh" + s))
            nb = np.zeros(W_ih.shape[0], dtype=W_ih.dtype)
            b_ih = arr(getattr(module, "bias_ih" + s)) if module.bias else nb
            b_hh = arr(getattr(module, "bias_hh" + s)) if module.bias else nb
            layer[d] = _from_torch_weights(W_ih, W_hh, b_ih, b_hh, cell, n_a)
        layers.append(layer if module.bidirectional else layer["fwd"])
    return (layers[0] if len(layers) == 1 else {"layers": layers}), cell


# ---------------------------------------------------------------------------------------------
# The notes' cells as torch modules. Tensors are batch-first, (m, n); parameters have the
# notes' names and shapes, so module.Wu is rnnlib's parameters["Wu"].


class _NotesCell(nn.Module):
    """Base: one parameter per key of the rnnlib cell, initialised like PyTorch's cells."""

    cell = None  # the rnnlib cell name

    def __init__(self, n_x, n_a, dtype=None, keys=()):
        super().__init__()
        self.n_x, self.n_a = n_x, n_a
        spec = get_cell(self.cell).spec({k: None for k in keys}, n_a, n_x)
        k = 1.0 / np.sqrt(n_a)
        for key, (shape, _) in spec.items():
            param = nn.Parameter(torch.empty(shape, dtype=dtype))
            nn.init.uniform_(param, -k, k)
            self.register_parameter(key, param)

    @classmethod
    def from_numpy(cls, parameters):
        """A module holding a copy of rnnlib's ``parameters`` (extra keys such as Wy ignored)."""
        c = get_cell(cls.cell)
        n_a, n_x = c.n_a(parameters), c.n_x(parameters)
        if n_a is None:
            raise ValueError(f"{cls.__name__}.from_numpy: parameters lacks a 2-D "
                             f"{c.size_key!r}; expected the keys of cell {cls.cell!r}")
        c.check(f"{cls.__name__}.from_numpy", "parameters", parameters, n_a, n_x)
        keys = [k for k in ("Pf", "Pu", "Po") if k in parameters] if cls.cell == "lstm" else []
        dtype = torch.float32 if np.asarray(parameters[c.size_key]).dtype == np.float32 \
            else torch.float64
        module = cls(n_x, n_a, dtype=dtype, **({"peepholes": keys} if keys else {}))
        with torch.no_grad():
            for key, param in module.named_parameters():
                param.copy_(torch.from_numpy(np.array(parameters[key], dtype=np.float64)))
        return module

    def to_numpy(self):
        """The parameters as an rnnlib dict of numpy arrays (copies)."""
        return {k: p.detach().cpu().numpy().copy() for k, p in self.named_parameters()}

    @staticmethod
    def _lin(W, v, b):
        """v (m, n) -> (m, n_a): the notes' W v + b, batch-first."""
        return v @ W.T + b.T


class RNNCell(_NotesCell):
    """a<t> = g(Waa a<t-1> + Wax x<t> + ba); forward(xt (m, n_x), a_prev (m, n_a)) -> a (m, n_a)."""

    cell = "rnn"

    def __init__(self, n_x, n_a, nonlinearity="tanh", dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        super().__init__(n_x, n_a, dtype)
        self.nonlinearity = nonlinearity
        if nonlinearity == "relu":
            self.cell = "rnn_relu"

    @classmethod
    def from_numpy(cls, parameters, nonlinearity="tanh"):
        module = super().from_numpy(parameters)
        module.nonlinearity = nonlinearity
        module.cell = "rnn_relu" if nonlinearity == "relu" else "rnn"
        return module

    def forward(self, xt, a_prev):
        z = a_prev @ self.Waa.T + xt @ self.Wax.T + self.ba.T
        return torch.relu(z) if self.nonlinearity == "relu" else torch.tanh(z)


class GRUCell(_NotesCell):
    """The notes' GRU (reset gate before the matmul); forward(xt, c_prev) -> c_next (m, n_a).

    Γu = σ(Wu [c<t-1>, x<t>] + bu), Γr = σ(Wr [c<t-1>, x<t>] + br),
    c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc), c<t> = Γu * c̃ + (1 - Γu) * c<t-1>.
    """

    cell = "gru"

    def forward(self, xt, c_prev):
        concat = torch.cat((c_prev, xt), dim=1)
        u = torch.sigmoid(self._lin(self.Wu, concat, self.bu))
        r = torch.sigmoid(self._lin(self.Wr, concat, self.br))
        cc = torch.tanh(self._lin(self.Wc, torch.cat((r * c_prev, xt), dim=1), self.bc))
        return u * cc + (1 - u) * c_prev


class SimpleGRUCell(_NotesCell):
    """The notes' simplified GRU (no Γr): c̃ = tanh(Wc [c<t-1>, x<t>] + bc)."""

    cell = "simple_gru"

    def forward(self, xt, c_prev):
        concat = torch.cat((c_prev, xt), dim=1)
        u = torch.sigmoid(self._lin(self.Wu, concat, self.bu))
        cc = torch.tanh(self._lin(self.Wc, concat, self.bc))
        return u * cc + (1 - u) * c_prev


class TorchGRUCell(_NotesCell):
    """PyTorch's GRU (reset after the matmul) in rnnlib's "torch_gru" names; = nn.GRUCell."""

    cell = "torch_gru"

    def forward(self, xt, c_prev):
        concat = torch.cat((c_prev, xt), dim=1)
        r = torch.sigmoid(self._lin(self.Wr, concat, self.br))
        z = torch.sigmoid(self._lin(self.Wz, concat, self.bz))
        n = torch.tanh(self._lin(self.Wcx, xt, self.bcx) + r * self._lin(self.Wcc, c_prev,
                                                                           self.bcc))
        return (1 - z) * n + z * c_prev


class LSTMCell(_NotesCell):
    """The notes' LSTM; forward(xt, (a_prev, c_prev)) -> (a_next, c_next), each (m, n_a).

    Optional peepholes (``peepholes=("Pf", "Pu", "Po")``) as in rnnlib.lstm: Γ += P * c<t-1>.
    """

    cell = "lstm"

    def __init__(self, n_x, n_a, dtype=None, peepholes=()):
        super().__init__(n_x, n_a, dtype, keys=peepholes)

    def _gate(self, g, concat, c_prev):
        z = self._lin(getattr(self, "W" + g), concat, getattr(self, "b" + g))
        P = getattr(self, "P" + g, None)
        return torch.sigmoid(z if P is None else z + c_prev * P.T)

    def forward(self, xt, state):
        a_prev, c_prev = state
        concat = torch.cat((a_prev, xt), dim=1)
        f, u, o = (self._gate(g, concat, c_prev) for g in "fuo")
        cc = torch.tanh(self._lin(self.Wc, concat, self.bc))
        c_next = u * cc + f * c_prev
        return o * torch.tanh(c_next), c_next


NOTES_CELLS = {"rnn": RNNCell, "rnn_relu": RNNCell, "gru": GRUCell, "simple_gru": SimpleGRUCell,
               "torch_gru": TorchGRUCell, "lstm": LSTMCell}


class Recurrent(nn.Module):
    """Layers of the notes' cells with the interface of nn.RNN / nn.GRU / nn.LSTM.

    ``Recurrent("gru", n_x, n_a, num_layers=2, bidirectional=True)`` behaves like
    ``nn.GRU(n_x, n_a, num_layers=2, bidirectional=True)`` but computes the notes' GRU.
    forward(x, h0=None): x (T_x, m, n_x) (or (m, T_x, n_x) with batch_first), h0
    (num_layers * num_directions, m, n_a) (for the LSTM a pair (h0, c0)); returns
    (output (T_x, m, num_directions * n_a), h_n) exactly like the nn module. Slower than the
    nn modules (a Python loop over time); use them where the cell exists there.
    """

    def __init__(self, cell, n_x, n_a, num_layers=1, bidirectional=False, batch_first=False,
                 dtype=None):
        super().__init__()
        self.cell = get_cell(cell).name
        self.n_x, self.n_a, self.num_layers = n_x, n_a, num_layers
        self.bidirectional, self.batch_first = bidirectional, batch_first
        D = 2 if bidirectional else 1
        kw = {"nonlinearity": "relu"} if self.cell == "rnn_relu" else {}
        self.cells = nn.ModuleList(
            NOTES_CELLS[self.cell](n_x if l == 0 else D * n_a, n_a, dtype=dtype, **kw)
            for l in range(num_layers) for _ in range(D))

    @classmethod
    def from_numpy(cls, parameters, cell, batch_first=False):
        """A Recurrent holding rnnlib ``parameters`` (a cell dict, {"fwd", "rev"}, {"layers"})."""
        c = get_cell(cell)
        layers, bidirectional = _layer_list("Recurrent.from_numpy", parameters)
        flat = [layer[d] for layer in layers for d in DIRECTIONS] if bidirectional else layers
        kw = {"nonlinearity": "relu"} if c.name == "rnn_relu" else {}
        cells = [NOTES_CELLS[c.name].from_numpy(p, **kw) for p in flat]
        module = cls(c.name, cells[0].n_x, cells[0].n_a, len(layers), bidirectional, batch_first)
        module.cells = nn.ModuleList(cells)
        return module

    def to_numpy(self):
        """The parameters in rnnlib's structure (see from_torch)."""
        flat = [c.to_numpy() for c in self.cells]
        if self.bidirectional:
            layers = [dict(zip(DIRECTIONS, flat[2 * l:2 * l + 2], strict=True))
                      for l in range(self.num_layers)]
        else:
            layers = flat
        return layers[0] if self.num_layers == 1 else {"layers": layers}

    def _run(self, cell, x, state, reverse):
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        out = [None] * x.shape[0]
        for t in steps:
            state = cell(x[t], state)
            out[t] = state[0] if isinstance(state, tuple) else state
        return torch.stack(out), state

    def forward(self, x, h0=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        lstm = self.cell == "lstm"
        D = 2 if self.bidirectional else 1
        m = x.shape[1]
        if h0 is None:
            zeros = x.new_zeros(self.num_layers * D, m, self.n_a)
            h0 = (zeros, zeros) if lstm else zeros
        h_n, c_n = [], []
        for l in range(self.num_layers):
            outs = []
            for d in range(D):
                k = l * D + d
                state = (h0[0][k], h0[1][k]) if lstm else h0[k]
                out, state = self._run(self.cells[k], x, state, reverse=d == 1)
                outs.append(out)
                h_n.append(state[0] if lstm else state)
                if lstm:
                    c_n.append(state[1])
            x = torch.cat(outs, dim=2) if D == 2 else outs[0]
        h_n = torch.stack(h_n)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, ((h_n, torch.stack(c_n)) if lstm else h_n)


# ---------------------------------------------------------------------------------------------
# A sequence model for the book's experiments.


class SequenceModel(nn.Module):
    """Recurrent layers and a linear head: the few-line model for the book's experiments.

    ``SequenceModel("lstm", n_x=2, n_a=128, n_y=1)`` reads x (m, T_x, n_x) (batch-first) and
    returns Wy a<T_x> + by of shape (m, n_y): a regressor (train with MSE, e.g. the adding
    problem) or, with n_y classes, a classifier (train with cross-entropy on the logits).
    ``many_to_many=True`` returns Wy a<t> + by for every t, (m, T_x, n_y). With
    ``bidirectional=True`` the head reads [a→; a←] (for many-to-one: a→<T_x> and a←<1>, the
    states that have read the whole sequence).

    cell: "rnn", "rnn_relu", "lstm", "torch_gru" use nn.RNN / nn.LSTM / nn.GRU (fast, cuDNN on
    a GPU); "gru", "simple_gru" (the notes' GRUs) use ``Recurrent`` (a Python loop over time).
    """

    def __init__(self, cell, n_x, n_a, n_y, num_layers=1, bidirectional=False,
                 many_to_many=False):
        super().__init__()
        self.cell = get_cell(cell).name
        self.many_to_many, self.bidirectional = many_to_many, bidirectional
        if self.cell in _TORCH_MODULES:
            kw = {"nonlinearity": "relu" if self.cell == "rnn_relu" else "tanh"} \
                if self.cell.startswith("rnn") else {}
            self.rnn = _TORCH_MODULES[self.cell](n_x, n_a, num_layers=num_layers,
                                                 bidirectional=bidirectional, batch_first=True,
                                                 **kw)
        else:
            self.rnn = Recurrent(self.cell, n_x, n_a, num_layers, bidirectional,
                                 batch_first=True)
        self.head = nn.Linear((2 if bidirectional else 1) * n_a, n_y)

    def forward(self, x):
        out, _ = self.rnn(x)  # (m, T_x, D * n_a)
        if self.many_to_many:
            return self.head(out)
        n_a = self.rnn.hidden_size if hasattr(self.rnn, "hidden_size") else self.rnn.n_a
        last = out[:, -1]
        if self.bidirectional:  # the reverse direction has read everything at t = 1
            last = torch.cat((out[:, -1, :n_a], out[:, 0, n_a:]), dim=1)
        return self.head(last)


def adding_batch(m, T_x, seed=0, dtype=torch.float32):
    """``rnnlib.data.adding_problem`` as torch tensors in SequenceModel's batch-first layout.

    Returns x (m, T_x, 2) (feature 0 the values, feature 1 the two markers) and y (m, 1), the
    sum of the two marked values. Predicting 1 always gives MSE 1/6 ≈ 0.167, the baseline.
    """
    x, y = adding_problem(m, T_x, seed=seed)
    return (torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0))).to(dtype),
            torch.from_numpy(np.ascontiguousarray(y.T)).to(dtype))
