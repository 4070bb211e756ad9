"""rnnlib.brnn against independent references: nn.RNN/GRU/LSTM(bidirectional=True) where the
cell exists there, the notes' equations in torch ops with autograd otherwise (and for parameter
gradients), and numerical gradients."""

import numpy as np
import pytest
import torch

from rnnlib.brnn import bidirectional_backward, bidirectional_forward, brnn_backward, brnn_forward
from rnnlib.pytorch import Recurrent, from_torch_sequence, to_torch_sequence
from torch_refs import (
    CELL_NAMES,
    assert_grads_close,
    check_gradients_tree,
    random_bi_layer,
    recurrent_grads,
    reference_for,
    run_torch,
    torch_h0,
)

# (n_x, n_a, n_y, m, T_x), with n_x = 1, m = 1, T_x = 1.
SHAPES = [(3, 4, 2, 3, 5), (1, 2, 3, 1, 1), (2, 3, 4, 2, 6)]


def make_brnn(cell, n_x, n_a, n_y, rng):
    p = random_bi_layer(cell, n_a, n_x, rng)
    p["Wy"] = rng.standard_normal((n_y, 2 * n_a))
    p["by"] = rng.standard_normal((n_y, 1))
    return p


def torch_head(out, p):
    """Logits (T_x, m, n_y) of the output layer in torch, with Wy, by as leaves."""
    Wy = torch.tensor(p["Wy"], requires_grad=True)
    by = torch.tensor(p["by"], requires_grad=True)
    return out @ Wy.T + by[:, 0], Wy, by


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_brnn_matches_torch(rng, cell, shape):
    n_x, n_a, n_y, m, T_x = shape
    p = make_brnn(cell, n_x, n_a, n_y, rng)
    x = rng.standard_normal((n_x, m, T_x))
    a0 = (rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m)))
    a, y_hat, cache = brnn_forward(x, a0, p, cell)
    assert a.shape == (2 * n_a, m, T_x) and y_hat.shape == (n_y, m, T_x)

    # Forward, dx and da0 against nn.*(bidirectional=True) (torch ops for the notes' GRUs).
    h0, h0_arg = torch_h0([a0], cell)
    xt, out = run_torch(reference_for(p, cell), x, h0_arg)
    logits, Wy, by = torch_head(out, p)
    np.testing.assert_allclose(a, from_torch_sequence(out), rtol=0, atol=1e-10)
    np.testing.assert_allclose(y_hat, from_torch_sequence(torch.softmax(logits, -1)),
                               rtol=0, atol=1e-10)
    G, H = rng.standard_normal((n_y, m, T_x)), rng.standard_normal((2 * n_a, m, T_x))
    loss = (logits * to_torch_sequence(G)).sum() + (out * to_torch_sequence(H)).sum()
    loss.backward()
    g = brnn_backward(G, cache, da=H)
    assert_grads_close(g["dx"], from_torch_sequence(xt.grad), where="dx")
    assert_grads_close(g["da0"], tuple(h0.grad.numpy().transpose(0, 2, 1)), where="da0")
    assert_grads_close(g["dWy"], Wy.grad.numpy(), where="dWy")
    assert_grads_close(g["dby"], by.grad.numpy(), where="dby")

    # Parameter gradients against autograd through the notes' equations in torch ops.
    rec = Recurrent.from_numpy(p, cell)
    _, out = run_torch(rec, x, torch_h0([a0], cell)[1])
    logits, _, _ = torch_head(out, p)
    ((logits * to_torch_sequence(G)).sum() + (out * to_torch_sequence(H)).sum()).backward()
    (expected,) = recurrent_grads(rec, [p])
    assert_grads_close({d: g[d] for d in ("fwd", "rev")}, expected)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_brnn_gradients_numerically(rng, cell):
    n_x, n_a, n_y, m, T_x = 2, 3, 2, 2, 4
    p = make_brnn(cell, n_x, n_a, n_y, rng)
    x = rng.standard_normal((n_x, m, T_x))
    a0 = [rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))]
    G, H = rng.standard_normal((n_y, m, T_x)), rng.standard_normal((2 * n_a, m, T_x))

    def loss():
        a, _, cache = brnn_forward(x, tuple(a0), p, cell)
        return float(np.sum(cache["z"] * G) + np.sum(a * H))

    _, _, cache = brnn_forward(x, tuple(a0), p, cell)
    g = brnn_backward(G, cache, da=H)
    check_gradients_tree(loss, {"x": x, "a0": a0, **p},
                         {"dx": g["dx"], "da0": list(g["da0"]), **{k: v for k, v in g.items()
                                                                   if k not in ("dx", "da0")}})


def test_state_gradient_alone_and_logit_gradient_alone(rng):
    """dz or da may be omitted: the gradients add up to the call with both."""
    p = make_brnn("lstm", 2, 3, 2, rng)
    x = rng.standard_normal((2, 3, 4))
    _, _, cache = brnn_forward(x, None, p, "lstm")
    G, H = rng.standard_normal((2, 3, 4)), rng.standard_normal((6, 3, 4))
    both = brnn_backward(G, cache, da=H)
    only_z, only_a = brnn_backward(G, cache), brnn_backward(None, cache, da=H)
    np.testing.assert_allclose(both["dx"], only_z["dx"] + only_a["dx"], atol=1e-12)
    np.testing.assert_allclose(both["rev"]["dWf"], only_z["rev"]["dWf"] + only_a["rev"]["dWf"],
                               atol=1e-12)
    assert not only_a["dWy"].any()


def test_bidirectional_layer_is_the_brnn_without_output(rng):
    p = make_brnn("gru", 3, 4, 2, rng)
    x = rng.standard_normal((3, 2, 5))
    a, _, cache = brnn_forward(x, None, p, "gru")
    layer = {d: p[d] for d in ("fwd", "rev")}
    a_layer, layer_cache = bidirectional_forward(x, None, layer, "gru")
    np.testing.assert_array_equal(a, a_layer)
    H = rng.standard_normal(a.shape)
    g, g_layer = brnn_backward(None, cache, da=H), bidirectional_backward(H, layer_cache)
    np.testing.assert_array_equal(g["dx"], g_layer["dx"])
    np.testing.assert_array_equal(g["fwd"]["dWr"], g_layer["fwd"]["dWr"])


def test_reverse_direction_sees_the_future_only(rng):
    """a→<t> depends on x<1..t> only, a←<t> on x<t..T_x> only."""
    p = make_brnn("rnn", 2, 3, 2, rng)
    x = rng.standard_normal((2, 1, 6))
    a, _, _ = brnn_forward(x, None, p)
    x2 = x.copy()
    x2[:, :, 3] += 1.0
    a2, _, _ = brnn_forward(x2, None, p)
    np.testing.assert_array_equal(a[:3, :, :3], a2[:3, :, :3])  # forward states before t = 4
    np.testing.assert_array_equal(a[3:, :, 4:], a2[3:, :, 4:])  # reverse states after t = 4
    assert not np.allclose(a[:3, :, 3], a2[:3, :, 3])
    assert not np.allclose(a[3:, :, 3], a2[3:, :, 3])


def test_float32_stays_float32(rng):
    p = make_brnn("lstm", 2, 3, 2, rng)
    p32 = {k: (v.astype(np.float32) if isinstance(v, np.ndarray)
               else {kk: vv.astype(np.float32) for kk, vv in v.items()}) for k, v in p.items()}
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    a, y_hat, cache = brnn_forward(x, None, p32, "lstm")
    g = brnn_backward(rng.standard_normal((2, 3, 4)).astype(np.float32), cache)
    assert a.dtype == y_hat.dtype == g["dx"].dtype == g["fwd"]["dWu"].dtype == np.float32
    np.testing.assert_allclose(y_hat.sum(axis=0), 1.0, rtol=1e-5)


def test_bad_inputs_name_the_argument(rng):
    p = make_brnn("rnn", 3, 4, 2, rng)
    x = rng.standard_normal((3, 2, 5))
    with pytest.raises(ValueError, match="cell must be one of"):
        brnn_forward(x, None, p, "transformer")
    with pytest.raises(ValueError, match=r"parameters\['rev'\]: parameters\['Waa'\] has shape "
                                         r"\(4, 3\), expected \(n_a, n_a\) = \(4, 4\)"):
        brnn_forward(x, None, {**p, "rev": {**p["rev"], "Waa": np.zeros((4, 3))}})
    with pytest.raises(ValueError, match="missing 'rev'"):
        brnn_forward(x, None, {k: v for k, v in p.items() if k != "rev"})
    with pytest.raises(ValueError, match="keys 'fwd', 'rev', 'Wy', 'by'"):
        brnn_forward(x, None, p["fwd"])
    with pytest.raises(ValueError, match=r"parameters\['Wy'\] has shape \(2, 4\), expected "
                                         r"\(n_y, n_a\) = \(2, 8\)"):
        brnn_forward(x, None, {**p, "Wy": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"a0\[1\] has shape \(4, 3\), expected \(n_a, m\)"):
        brnn_forward(x, (np.zeros((4, 2)), np.zeros((4, 3))), p)
    with pytest.raises(ValueError, match="a0 must be None or a pair"):
        brnn_forward(x, np.zeros((4, 2)), p)
    with pytest.raises(ValueError, match=r"x has shape \(3, 2\) \(2-D\)"):
        brnn_forward(x[:, :, 0], None, p)
    _, _, cache = brnn_forward(x, None, p)
    with pytest.raises(ValueError, match="give dz"):
        brnn_backward(None, cache)
    with pytest.raises(ValueError, match=r"dz has shape \(2, 2, 4\), expected \(n_y, m, T_x\)"):
        brnn_backward(np.zeros((2, 2, 4)), cache)
    with pytest.raises(ValueError, match=r"da has shape \(4, 2, 5\), expected \(2 n_a, m, T_x\)"):
        brnn_backward(None, cache, da=np.zeros((4, 2, 5)))
    with pytest.raises(ValueError, match="cache returned by brnn_forward"):
        brnn_backward(np.zeros((2, 2, 5)), ([], x))
