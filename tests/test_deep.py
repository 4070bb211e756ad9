"""rnnlib.deep against independent references: nn.RNN/GRU/LSTM(num_layers=2, 3), also
bidirectional, where the cell exists there; the notes' equations in torch ops with autograd
otherwise (and for parameter gradients); numerical gradients, including mixed layer kinds."""

import numpy as np
import pytest

from rnnlib.deep import deep_backward, deep_forward, stacked_backward, stacked_forward
from rnnlib.pytorch import Recurrent, from_torch_sequence, to_torch_sequence
from torch_refs import (
    CELL_NAMES,
    assert_grads_close,
    check_gradients_tree,
    random_bi_layer,
    random_layer,
    recurrent_grads,
    reference_for,
    run_torch,
    torch_h0,
)


def make_layers(cell, n_x, n_a, L, bidirectional, rng):
    layers, n_in = [], n_x
    for _ in range(L):
        layers.append(random_bi_layer(cell, n_a, n_in, rng) if bidirectional
                      else random_layer(cell, n_a, n_in, rng))
        n_in = 2 * n_a if bidirectional else n_a
    return layers


def random_a0(layers, n_a, m, rng):
    return [(rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))) if "fwd" in layer
            else rng.standard_normal((n_a, m)) for layer in layers]


@pytest.mark.parametrize(("L", "bidirectional", "shape"), [
    (2, False, (3, 4, 2, 5)), (3, False, (1, 3, 1, 1)), (2, True, (2, 3, 3, 4)),
    (3, True, (2, 2, 1, 3)),
])
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_stack_matches_torch(rng, cell, L, bidirectional, shape):
    n_x, n_a, m, T_x = shape
    layers = make_layers(cell, n_x, n_a, L, bidirectional, rng)
    x = rng.standard_normal((n_x, m, T_x))
    a0 = random_a0(layers, n_a, m, rng)
    a, cache = stacked_forward(x, a0, layers, cell)
    D = 2 if bidirectional else 1
    assert [s.shape for s in a] == [(D * n_a, m, T_x)] * L

    # Top layer, dx and da0 against nn.*(num_layers=L) (torch ops for the notes' GRUs).
    h0, h0_arg = torch_h0(a0, cell)
    module = reference_for({"layers": layers}, cell)
    xt = to_torch_sequence(x).requires_grad_()
    out, h_n = module(xt, h0_arg)
    np.testing.assert_allclose(a[-1], from_torch_sequence(out), rtol=0, atol=1e-10)
    h_n = h_n[0] if cell == "lstm" else h_n
    if not bidirectional:  # h_n holds each layer's last state
        for l in range(L):
            np.testing.assert_allclose(a[l][:, :, -1], h_n[l].detach().numpy().T, atol=1e-10)
    H = rng.standard_normal(a[-1].shape)
    (out * to_torch_sequence(H)).sum().backward()
    g = stacked_backward(H, cache)
    assert_grads_close(g["dx"], from_torch_sequence(xt.grad), where="dx")
    h0g = list(h0.grad.numpy().transpose(0, 2, 1))
    expected_da0 = [tuple(h0g[D * l:D * l + D]) if bidirectional else h0g[l] for l in range(L)]
    assert_grads_close(g["da0"], expected_da0, where="da0")

    # Parameter gradients against autograd through the notes' equations in torch ops.
    rec = Recurrent.from_numpy({"layers": layers}, cell)
    _, out = run_torch(rec, x, torch_h0(a0, cell)[1])
    (out * to_torch_sequence(H)).sum().backward()
    assert_grads_close(g["layers"], recurrent_grads(rec, layers), where="layers")


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_deep_gradients_numerically_with_mixed_layers(rng, cell):
    """Uni-, bi-, unidirectional layers of different sizes, gradients on every layer's states."""
    n_x, n_y, m, T_x = 2, 2, 2, 3
    layers = [random_layer(cell, 3, n_x, rng), random_bi_layer(cell, 2, 3, rng),
              random_layer(cell, 3, 4, rng)]
    p = {"layers": layers, "Wy": rng.standard_normal((n_y, 3)), "by": rng.standard_normal((n_y, 1))}
    x = rng.standard_normal((n_x, m, T_x))
    a0 = [rng.standard_normal((3, m)), [rng.standard_normal((2, m)) for _ in range(2)],
          rng.standard_normal((3, m))]
    G = rng.standard_normal((n_y, m, T_x))
    H = [rng.standard_normal((3, m, T_x)), None, rng.standard_normal((3, m, T_x))]

    def run():
        return deep_forward(x, [a0[0], tuple(a0[1]), a0[2]], p, cell)

    def loss():
        a, _, cache = run()
        return float(np.sum(cache["z"] * G) + np.sum(a[0] * H[0]) + np.sum(a[2] * H[2]))

    a, y_hat, cache = run()
    assert [s.shape[0] for s in a] == [3, 4, 3]
    np.testing.assert_allclose(y_hat.sum(axis=0), 1.0, atol=1e-12)
    g = deep_backward(G, cache, da=H)
    g["da0"][1] = list(g["da0"][1])
    check_gradients_tree(loss, {"x": x, "a0": a0, **p}, g)


def test_one_layer_deep_rnn_is_the_rnn(rng):
    """L = 1 reduces to rnn_forward / rnn_backward (the course's functions)."""
    from rnnlib.rnn import rnn_backward, rnn_forward

    layer = random_layer("rnn", 4, 3, rng)
    p = {"layers": [layer], "Wy": rng.standard_normal((2, 4)), "by": rng.standard_normal((2, 1))}
    x, a0 = rng.standard_normal((3, 2, 5)), rng.standard_normal((4, 2))
    a, y_hat, cache = deep_forward(x, [a0], p)
    a_ref, y_ref, caches = rnn_forward(x, a0, {**layer, "Wya": p["Wy"], "by": p["by"]})
    np.testing.assert_allclose(a[0], a_ref, atol=1e-14)
    np.testing.assert_allclose(y_hat, y_ref, atol=1e-14)
    dz = y_hat - np.eye(2)[:, rng.integers(0, 2, (2, 5))]  # softmax cross-entropy
    g = deep_backward(dz, cache)
    ref = rnn_backward(np.einsum("ya,ymt->amt", p["Wy"], dz), caches)  # da from the output
    np.testing.assert_allclose(g["dx"], ref["dx"], atol=1e-12)
    np.testing.assert_allclose(g["layers"][0]["dWaa"], ref["dWaa"], atol=1e-12)
    np.testing.assert_allclose(g["da0"][0], ref["da0"], atol=1e-12)


def test_float32_stays_float32(rng):
    layers = [{k: v.astype(np.float32) for k, v in random_layer("gru", 3, 2, rng).items()},
              {k: v.astype(np.float32) for k, v in random_layer("gru", 3, 3, rng).items()}]
    p = {"layers": layers, "Wy": np.ones((2, 3), np.float32), "by": np.zeros((2, 1), np.float32)}
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    a, y_hat, cache = deep_forward(x, None, p, "gru")
    g = deep_backward(np.ones((2, 4, 5), np.float32), cache)
    assert a[-1].dtype == y_hat.dtype == g["dx"].dtype == g["layers"][0]["dWc"].dtype \
        == g["dWy"].dtype == np.float32


def test_bad_inputs_name_the_argument(rng):
    layers = make_layers("lstm", 3, 4, 2, False, rng)
    p = {"layers": layers, "Wy": np.zeros((2, 4)), "by": np.zeros((2, 1))}
    x = rng.standard_normal((3, 2, 5))
    bad = [layers[0], {**layers[1], "Wf": np.zeros((4, 7))}]
    with pytest.raises(ValueError, match=r"parameters\['layers'\]\[1\]: parameters\['Wf'\] "
                                         r"has shape \(4, 7\), expected \(n_a, n_a \+ n_x\) = "
                                         r"\(4, 8\)"):
        deep_forward(x, None, {**p, "layers": bad}, "lstm")
    with pytest.raises(ValueError, match=r"parameters\['layers'\]\[0\]: parameters is missing "
                                         r"key\(s\) 'Wf'"):
        deep_forward(x, None, {**p, "layers": [{"Wu": layers[0]["Wu"]}]}, "lstm")
    with pytest.raises(ValueError, match="non-empty list"):
        deep_forward(x, None, {**p, "layers": []}, "lstm")
    with pytest.raises(ValueError, match="keys 'layers', 'Wy', 'by'"):
        deep_forward(x, None, layers[0], "lstm")
    with pytest.raises(ValueError, match=r"a0 must be None or a list of L = 2"):
        deep_forward(x, [np.zeros((4, 2))], p, "lstm")
    with pytest.raises(ValueError, match=r"a0\[1\] has shape \(4, 3\), expected \(n_a, m\)"):
        deep_forward(x, [None, np.zeros((4, 3))], p, "lstm")
    with pytest.raises(ValueError, match=r"parameters\['Wy'\] has shape \(2, 3\)"):
        deep_forward(x, None, {**p, "Wy": np.zeros((2, 3))}, "lstm")
    _, _, cache = deep_forward(x, None, p, "lstm")
    with pytest.raises(ValueError, match=r"da\[1\] has shape \(4, 2, 4\)"):
        deep_backward(None, cache, da=[None, np.zeros((4, 2, 4))])
    with pytest.raises(ValueError, match="a list of L = 2"):
        deep_backward(None, cache, da=[np.zeros((4, 2, 5))])
    with pytest.raises(ValueError, match="give dz"):
        deep_backward(None, cache)
    with pytest.raises(ValueError, match="cache returned by stacked_forward"):
        stacked_backward(np.zeros((4, 2, 5)), {"z": 1})
