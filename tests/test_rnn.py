"""rnnlib.rnn against independent references: torch.nn.RNN, torch autograd, numerical gradients."""

import numpy as np
import pytest
import torch

from conftest import SHAPES
from rnnlib.gradcheck import check_gradients, rel_error
from rnnlib.rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward


def make_params(rng, n_x, n_a, n_y, scale=0.5):
    return {
        "Wax": scale * rng.standard_normal((n_a, n_x)),
        "Waa": scale * rng.standard_normal((n_a, n_a)),
        "ba": scale * rng.standard_normal((n_a, 1)),
        "Wya": scale * rng.standard_normal((n_y, n_a)),
        "by": scale * rng.standard_normal((n_y, 1)),
    }


def torch_rnn(p, x, a0, activation):
    """nn.RNN with the notes' weights: W_ih = Wax, W_hh = Waa, b_ih + b_hh = ba.

    The bias is split unevenly so that a converter dropping one of the two would show.
    Returns the module and its output a of shape (n_a, m, T_x) (torch is time-first).
    """
    n_a, n_x = p["Wax"].shape
    rnn = torch.nn.RNN(n_x, n_a, nonlinearity=activation)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(p["Wax"]))
        rnn.weight_hh_l0.copy_(torch.tensor(p["Waa"]))
        rnn.bias_ih_l0.copy_(torch.tensor(0.3 * p["ba"][:, 0]))
        rnn.bias_hh_l0.copy_(torch.tensor(0.7 * p["ba"][:, 0]))
    xt = torch.tensor(x.transpose(2, 1, 0), requires_grad=True)  # (T_x, m, n_x)
    h0 = torch.tensor(a0.T[None], requires_grad=True)  # (1, m, n_a)
    out, _ = rnn(xt, h0)
    return rnn, xt, h0, out


def min_abs_preactivation(p, x, a0):
    """min |Waa a<t-1> + Wax x<t> + ba| over the ReLU sequence, computed independently."""
    a, smallest = a0, np.inf
    for t in range(x.shape[2]):
        z = p["Waa"] @ a + p["Wax"] @ x[:, :, t] + p["ba"]
        smallest, a = min(smallest, np.abs(z).min()), np.maximum(z, 0)
    return smallest


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_torch(rng, shape, activation):
    n_x, n_a, n_y, m, T_x = shape
    p = make_params(rng, n_x, n_a, n_y)
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    a, y_pred, _ = rnn_forward(x, a0, p, activation=activation)

    _, _, _, out = torch_rnn(p, x, a0, activation)
    a_torch = out.detach().numpy().transpose(2, 1, 0)
    logits = torch.einsum("ya,tma->tmy", torch.tensor(p["Wya"]), out) + torch.tensor(p["by"][:, 0])
    y_torch = torch.softmax(logits, dim=-1).detach().numpy().transpose(2, 1, 0)
    assert a.shape == (n_a, m, T_x) and y_pred.shape == (n_y, m, T_x)
    np.testing.assert_allclose(a, a_torch, rtol=0, atol=1e-10)
    np.testing.assert_allclose(y_pred, y_torch, rtol=0, atol=1e-10)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_cell_forward_is_one_step_of_sequence(rng, activation):
    p = make_params(rng, 3, 4, 2)
    xt, a_prev = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    a_next, yt, cache = rnn_cell_forward(xt, a_prev, p, activation=activation)
    _, _, _, out = torch_rnn(p, xt[:, :, None], a_prev, activation)
    np.testing.assert_allclose(a_next, out.detach().numpy()[0].T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(yt.sum(axis=0), 1.0, atol=1e-12)
    a_c, a_p, x_c, p_c = cache  # the course's cache layout
    assert a_c is a_next and a_p is a_prev and x_c is xt and p_c is p


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_torch_autograd(rng, shape, activation):
    n_x, n_a, n_y, m, T_x = shape
    p = make_params(rng, n_x, n_a, n_y)
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))
    _, _, caches = rnn_forward(x, a0, p, activation=activation)
    g = rnn_backward(da, caches)

    rnn, xt, h0, out = torch_rnn(p, x, a0, activation)
    (out * torch.tensor(da.transpose(2, 1, 0))).sum().backward()
    expected = {
        "dx": xt.grad.numpy().transpose(2, 1, 0),
        "da0": h0.grad.numpy()[0].T,
        "dWax": rnn.weight_ih_l0.grad.numpy(),
        "dWaa": rnn.weight_hh_l0.grad.numpy(),
        "dba": rnn.bias_ih_l0.grad.numpy()[:, None],
    }
    assert set(g) == set(expected)
    for k, v in expected.items():
        assert g[k].shape == v.shape, k
        assert rel_error(g[k], v) < 1e-9, (k, rel_error(g[k], v))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_backward_numerical_gradient(rng, shape, activation):
    n_x, n_a, n_y, m, T_x = shape
    while True:  # ReLU has a kink at 0: keep every pre-activation well away from the stencil
        p = make_params(rng, n_x, n_a, n_y)
        x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
        if activation == "tanh" or min_abs_preactivation(p, x, a0) > 1e-3:
            break
    da = rng.standard_normal((n_a, m, T_x))
    _, _, caches = rnn_forward(x, a0, p, activation=activation)
    g = rnn_backward(da, caches)

    def loss():
        return float(np.sum(rnn_forward(x, a0, p, activation=activation)[0] * da))

    arrays = {"Wax": p["Wax"], "Waa": p["Waa"], "ba": p["ba"], "x": x, "a0": a0}
    analytic = {"Wax": g["dWax"], "Waa": g["dWaa"], "ba": g["dba"], "x": g["dx"], "a0": g["da0"]}
    errors, _ = check_gradients(loss, arrays, analytic, tol=1e-7)
    assert max(errors.values()) < 1e-7


def test_cell_backward_numerical_gradient(rng):
    p = make_params(rng, 3, 4, 2)
    xt, a_prev = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    da_next = rng.standard_normal((4, 5))
    g = rnn_cell_backward(da_next, rnn_cell_forward(xt, a_prev, p)[2])

    def loss():
        return float(np.sum(rnn_cell_forward(xt, a_prev, p)[0] * da_next))

    arrays = {"Wax": p["Wax"], "Waa": p["Waa"], "ba": p["ba"], "xt": xt, "a_prev": a_prev}
    analytic = {"Wax": g["dWax"], "Waa": g["dWaa"], "ba": g["dba"], "xt": g["dxt"],
                "a_prev": g["da_prev"]}
    check_gradients(loss, arrays, analytic, tol=1e-7)


def test_gradient_checker_names_the_wrong_parameter(rng):
    """The checker itself can fail: a corrupted analytic gradient is reported by name."""
    p = make_params(rng, 3, 4, 2)
    x, a0 = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 2))
    da = rng.standard_normal((4, 2, 4))
    g = rnn_backward(da, rnn_forward(x, a0, p)[2])

    def loss():
        return float(np.sum(rnn_forward(x, a0, p)[0] * da))

    with pytest.raises(ValueError, match="'Waa'"):
        check_gradients(loss, {"Wax": p["Wax"], "Waa": p["Waa"]},
                        {"Wax": g["dWax"], "Waa": g["dWaa"] * 1.01})


def test_float32_stays_float32(rng):
    p = {k: v.astype(np.float32) for k, v in make_params(rng, 3, 4, 2).items()}
    x = rng.standard_normal((3, 2, 5)).astype(np.float32)
    a0 = np.zeros((4, 2), np.float32)
    a, y, caches = rnn_forward(x, a0, p)
    assert a.dtype == np.float32 and y.dtype == np.float32
    assert rnn_backward(np.ones_like(a), caches)["dWax"].dtype == np.float32


# --- bad input: each gets a ValueError that names the problem --------------------------------

def _good(rng):
    p = make_params(rng, 3, 4, 2)
    return rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), p


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda xt, a, p: (xt.T, a, p), r"axis 1 is m.*transposed"),
        (lambda xt, a, p: (xt, a[:3], p), r"parameters\['Wax'\] has shape \(4, 3\), expected"
                                          r" \(n_a, n_x\) = \(3, 3\)"),
        (lambda xt, a, p: (xt, a, {**p, "Wax": p["Wax"].T}),
         r"parameters\['Wax'\] has shape \(3, 4\), expected \(n_a, n_x\) = \(4, 3\)"),
        (lambda xt, a, p: (xt, a, {**p, "ba": p["ba"][:, 0]}),
         r"parameters\['ba'\] has shape \(4,\) \(1-D\), expected a 2-D array of shape \(n_a, 1\)"),
        (lambda xt, a, p: (xt, a, {k: v for k, v in p.items() if k not in ("Waa", "by")}),
         r"missing key\(s\) 'Waa', 'by'"),
        (lambda xt, a, p: (xt.astype(int), a, p), r"xt has dtype int64"),
        (lambda xt, a, p: (xt[:, :, None], a, p), r"xt has shape \(3, 5, 1\) \(3-D\)"),
        (lambda xt, a, p: (np.where(xt > 1, np.nan, xt), a, p), r"xt contains \d+ non-finite"),
        (lambda xt, a, p: (xt, a, {**p, "Waa": np.full((4, 4), np.inf)}),
         r"parameters\['Waa'\] contains 16 non-finite"),
        (lambda xt, a, p: (xt, a, [p]), r"parameters must be a dict"),
        (lambda xt, a, p: ("abc", a, p), r"xt must be a numpy array of shape \(n_x, m\), got str"),
    ],
)
def test_cell_forward_bad_input(rng, mutate, match):
    xt, a_prev, p = _good(rng)
    xt[0, 0] = 2.0  # so the NaN case always has at least one value to replace
    with pytest.raises(ValueError, match=match):
        rnn_cell_forward(*mutate(xt, a_prev, p))


def test_sequence_bad_input(rng):
    p = make_params(rng, 3, 4, 2)
    x, a0 = rng.standard_normal((3, 5, 6)), rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match=r"x has shape \(3, 5\) \(2-D\), expected a 3-D"):
        rnn_forward(x[:, :, 0], a0, p)
    with pytest.raises(ValueError, match=r"T_x must be at least 1"):
        rnn_forward(x[:, :, :0], a0, p)
    with pytest.raises(ValueError, match=r"must be one of 'tanh', 'relu', got 'sigmoid'"):
        rnn_forward(x, a0, p, activation="sigmoid")
    _, _, caches = rnn_forward(x, a0, p)
    with pytest.raises(ValueError, match=r"da has shape \(4, 5, 5\), expected \(n_a, m, T_x\)"):
        rnn_backward(np.zeros((4, 5, 5)), caches)
    with pytest.raises(ValueError, match=r"caches must be the \(caches, x\) pair"):
        rnn_backward(np.zeros((4, 5, 6)), caches[0])
    with pytest.raises(ValueError, match=r"da_next has shape \(5, 4\), expected \(n_a, m\)"):
        rnn_cell_backward(np.zeros((5, 4)), caches[0][0])


def test_mixed_precision_is_not_rounded_down(rng):
    """float32 inputs with float64 weights compute in float64, equal to the all-float64 run."""
    p = make_params(rng, 3, 4, 2)
    x, a0 = rng.standard_normal((3, 2, 5)).astype(np.float32), np.zeros((4, 2), np.float32)
    a, _, _ = rnn_forward(x, a0, p)
    a64, _, _ = rnn_forward(x.astype(np.float64), a0.astype(np.float64), p)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, a64)


def test_parameters_given_as_lists(rng):
    p = make_params(rng, 3, 4, 2)
    x, a0 = rng.standard_normal((3, 2, 5)), rng.standard_normal((4, 2))
    a, _, caches = rnn_forward(x, a0, {k: v.tolist() for k, v in p.items()})
    np.testing.assert_array_equal(a, rnn_forward(x, a0, p)[0])
    assert rnn_backward(np.ones_like(a), caches)["dWax"].shape == (4, 3)
