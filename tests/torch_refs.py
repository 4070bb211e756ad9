"""Helpers for the BRNN / deep / bridge tests: random parameters and torch references.

References are independent of rnnlib's numpy code: ``torch.nn.RNN/GRU/LSTM`` where the cell
exists there, and the notes' equations in torch ops (``rnnlib.pytorch.Recurrent``) with
autograd for the rest and for parameter gradients.
"""

import numpy as np
import torch

from rnnlib.cells import CELLS
from rnnlib.gradcheck import check_gradients
from rnnlib.pytorch import Recurrent, to_torch, to_torch_sequence

torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and spin on a busy machine)

CELL_NAMES = list(CELLS)
NN_CELLS = ("rnn", "rnn_relu", "torch_gru", "lstm")  # the cells nn.RNN/GRU/LSTM hold


def random_layer(cell, n_a, n_x, rng, scale=0.5):
    """One direction of one layer, entries scale * N(0, 1)."""
    spec = CELLS[cell].spec(None, n_a, n_x)
    return {k: scale * rng.standard_normal(shape) for k, (shape, _) in spec.items()}


def random_bi_layer(cell, n_a, n_x, rng, scale=0.5):
    return {d: random_layer(cell, n_a, n_x, rng, scale) for d in ("fwd", "rev")}


def flat_directions(layers):
    """[(layer, direction or None, dict)] for every cell dict in a list of layers."""
    out = []
    for l, layer in enumerate(layers):
        if "fwd" in layer:
            out += [(l, d, layer[d]) for d in ("fwd", "rev")]
        else:
            out.append((l, None, layer))
    return out


def torch_h0(a0s, cell):
    """(L * D, m, n_a) tensor (and c0 = 0 for the LSTM) from a list of per-layer a0s."""
    flat = []
    for a0 in a0s:
        flat += list(a0) if isinstance(a0, tuple) else [a0]
    h0 = torch.tensor(np.stack([a.T for a in flat]), requires_grad=True)  # (L * D, m, n_a)
    return h0, ((h0, torch.zeros_like(h0)) if cell == "lstm" else h0)


def run_torch(module, x, h0_arg):
    """module's output (T_x, m, D n_a) for x (n_x, m, T_x), with x as a leaf needing grad."""
    xt = to_torch_sequence(x).requires_grad_()
    out, _ = module(xt, h0_arg)
    return xt, out


def nn_module(parameters, cell):
    """nn.RNN/GRU/LSTM holding ``parameters`` with both bias vectors in use.

    to_torch puts the whole bias in bias_ih; moving a random part of it to bias_hh keeps the
    function (their sum is the notes' bias) and checks that both are read. nn.GRU's n-rows
    are left alone: there bias_hh is bcc, a different parameter.
    """
    module = to_torch(parameters, cell)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, b_ih in module.named_parameters():
            if name.startswith("bias_ih"):
                b_hh = getattr(module, name.replace("bias_ih", "bias_hh"))
                k = b_ih.shape[0] * 2 // 3 if cell == "torch_gru" else b_ih.shape[0]
                shift = torch.randn(k, generator=gen)
                b_ih[:k] -= shift
                b_hh[:k] += shift
    return module


def recurrent_grads(rec, layers_like):
    """Autograd gradients of a Recurrent, in rnnlib's structure: a list of per-layer dicts."""
    grads, k = [], 0
    for layer in layers_like:
        if "fwd" in layer:
            g = {}
            for d in ("fwd", "rev"):
                g[d] = {"d" + n: p.grad.numpy() for n, p in rec.cells[k].named_parameters()}
                k += 1
        else:
            g = {"d" + n: p.grad.numpy() for n, p in rec.cells[k].named_parameters()}
            k += 1
        grads.append(g)
    return grads


def assert_grads_close(got, expected, rtol=1e-9, atol=1e-11, where="grads"):
    """Compare nested gradient structures (dicts / lists / tuples of arrays)."""
    if isinstance(expected, dict):
        assert set(got) >= set(expected), f"{where}: missing {set(expected) - set(got)}"
        for k in expected:
            assert_grads_close(got[k], expected[k], rtol, atol, f"{where}[{k!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_grads_close(g, e, rtol, atol, f"{where}[{i}]")
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=where)


def flatten_arrays(prefix, tree, out):
    """name -> array for every array in a nested parameter / gradient structure."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            flatten_arrays(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            flatten_arrays(f"{prefix}[{i}]", v, out)
    elif isinstance(tree, np.ndarray):
        out[prefix] = tree
    return out


def grad_name(name):
    """'layers[1].fwd.Wax' -> 'layers[1].fwd.dWax': where a parameter's gradient sits."""
    head, _, key = name.rpartition(".")
    return f"{head}.d{key}" if head else f"d{key}"


def reference_for(parameters, cell):
    """nn module where the cell exists there, else the notes' equations in torch ops."""
    return nn_module(parameters, cell) if cell in NN_CELLS else Recurrent.from_numpy(parameters,
                                                                                      cell)


def check_gradients_tree(loss, arrays_tree, grads_tree, tol=1e-7):
    """check_gradients over nested structures: array ``a.b.K`` has its gradient at ``a.b.dK``.

    ``arrays_tree`` holds the arrays the loss reads (perturbed in place); ``grads_tree`` the
    analytic gradients in the structure rnnlib returns them.
    """
    arrays = flatten_arrays("", arrays_tree, {})
    grads = flatten_arrays("", grads_tree, {})
    analytic = {name: grads[grad_name(name)] for name in arrays}
    return check_gradients(loss, arrays, analytic, tol=tol)
