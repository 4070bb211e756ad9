"""rnnlib.lstm against independent references: torch.nn.LSTM / nn.LSTMCell, torch autograd,
a torch-ops implementation of the peephole LSTM, and numerical gradients."""

import numpy as np
import pytest
import torch

from rnnlib.gradcheck import check_gradients, numerical_gradient
from rnnlib.lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward

torch.set_num_threads(1)

FWD_TOL = 1e-10  # absolute, float64 forward
BWD_TOL = 1e-9  # relative, float64 backward
GRAD_TOL = 1e-7  # numerical gradient check

# (n_x, n_a, n_y, m, T_x): include m = 1, T_x = 1, n_x = 1.
SHAPES = [(3, 5, 4, 6, 7), (1, 3, 2, 4, 5), (4, 2, 3, 1, 6), (2, 4, 5, 3, 1), (1, 1, 1, 1, 1)]
SEEDS = [0, 1]
GATES = ("u", "f", "c", "o")  # torch's row order i, f, g, o in the notes' names
GRAD_KEYS = ["dx", "da0", "dWf", "dbf", "dWu", "dbu", "dWc", "dbc", "dWo", "dbo"]


def make_params(rng, n_x, n_a, n_y, scale=1.0, peepholes=()):
    p = {}
    for g in "fuco":
        p["W" + g] = scale * rng.standard_normal((n_a, n_a + n_x))
        p["b" + g] = scale * rng.standard_normal((n_a, 1))
    p["Wy"] = rng.standard_normal((n_y, n_a))
    p["by"] = rng.standard_normal((n_y, 1))
    for k in peepholes:
        p[k] = scale * rng.standard_normal((n_a, 1))
    return p


def make_torch_lstm(p, n_x, n_a, rng, cell=False):
    """nn.LSTM (or nn.LSTMCell) holding the notes' weights.

    W* = [hidden part | input part] (concat = [a<t-1>; x<t>]); rows stacked i, f, g, o; the
    bias b* is split at random into b_ih + b_hh so a mapping that used only one would fail.
    """
    mod = (torch.nn.LSTMCell(n_x, n_a) if cell else torch.nn.LSTM(n_x, n_a)).double()
    W_ih = np.vstack([p["W" + g][:, n_a:] for g in GATES])
    W_hh = np.vstack([p["W" + g][:, :n_a] for g in GATES])
    b = np.vstack([p["b" + g] for g in GATES]).ravel()
    b_ih = rng.standard_normal(b.shape)
    sfx = "" if cell else "_l0"
    with torch.no_grad():
        getattr(mod, "weight_ih" + sfx).copy_(torch.from_numpy(W_ih))
        getattr(mod, "weight_hh" + sfx).copy_(torch.from_numpy(W_hh))
        getattr(mod, "bias_ih" + sfx).copy_(torch.from_numpy(b_ih))
        getattr(mod, "bias_hh" + sfx).copy_(torch.from_numpy(b - b_ih))
    return mod


def torch_grads_to_notes(mod, n_a, cell=False):
    """Gradients of nn.LSTM's four tensors back in the notes' layout."""
    sfx = "" if cell else "_l0"
    gih = getattr(mod, "weight_ih" + sfx).grad.numpy()
    ghh = getattr(mod, "weight_hh" + sfx).grad.numpy()
    gb = getattr(mod, "bias_ih" + sfx).grad.numpy()
    # Both biases enter the same sum, so their gradients agree.
    np.testing.assert_allclose(gb, getattr(mod, "bias_hh" + sfx).grad.numpy(), rtol=1e-12,
                               atol=1e-15)
    out = {}
    for i, g in enumerate(GATES):
        rows = slice(i * n_a, (i + 1) * n_a)
        out["dW" + g] = np.hstack([ghh[rows], gih[rows]])
        out["db" + g] = gb[rows].reshape(-1, 1)
    return out


def assert_rel(got, want, tol=BWD_TOL, name=""):
    """Relative error normalised by the size of the reference array."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
    assert err < tol, f"{name}: relative error {err:.2e} >= {tol:.0e}"


def torch_softmax_outputs(p, a_t):
    """ŷ<t> = softmax(Wy a<t> + by) in torch; a_t (T_x, m, n_a) -> (n_y, m, T_x)."""
    z = a_t @ torch.from_numpy(p["Wy"]).T + torch.from_numpy(p["by"]).ravel()
    return torch.softmax(z, dim=-1).permute(2, 1, 0).numpy()


def data(seed, n_x, n_a, n_y, m, T_x, scale=1.0, peepholes=()):
    rng = np.random.default_rng(seed)
    p = make_params(rng, n_x, n_a, n_y, scale, peepholes)
    x = rng.standard_normal((n_x, m, T_x))
    a0 = rng.standard_normal((n_a, m))
    return rng, p, x, a0


# ---------------------------------------------------------------- forward vs torch.nn.LSTM


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_nn_lstm(shape, seed):
    n_x, n_a, n_y, m, T_x = shape
    rng, p, x, a0 = data(seed, *shape)
    a, y, c, caches = lstm_forward(x, a0, p)
    assert a.shape == c.shape == (n_a, m, T_x) and y.shape == (n_y, m, T_x)
    assert len(caches[0]) == T_x and caches[1] is x

    lstm = make_torch_lstm(p, n_x, n_a, rng)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(torch.from_numpy(x.transpose(2, 1, 0).copy()),
                               (torch.from_numpy(a0.T.copy())[None],
                                torch.zeros(1, m, n_a, dtype=torch.float64)))
    np.testing.assert_allclose(a, out.permute(2, 1, 0).numpy(), rtol=0, atol=FWD_TOL)
    np.testing.assert_allclose(c[:, :, -1], c_n[0].numpy().T, rtol=0, atol=FWD_TOL)
    np.testing.assert_allclose(y, torch_softmax_outputs(p, out), rtol=0, atol=FWD_TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_cell_state_and_gate_matches_nn_lstmcell(shape, seed):
    """Every c<t> and the cache's gates, step by step, against nn.LSTMCell and torch ops."""
    n_x, n_a, n_y, m, T_x = shape
    rng, p, x, a0 = data(seed, *shape)
    a, y, c, (caches, _) = lstm_forward(x, a0, p)
    cell = make_torch_lstm(p, n_x, n_a, rng, cell=True)
    h = torch.from_numpy(a0.T.copy())
    cs = torch.zeros(m, n_a, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T_x):
            xt = torch.from_numpy(x[:, :, t].T.copy())
            # The gates, from nn.LSTMCell's own weights (rows i, f, g, o).
            z = xt @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
            i_g, f_g, g_g, o_g = z.split(n_a, dim=1)
            h_prev, c_prev = h, cs
            h, cs = cell(xt, (h, cs))
            a_next, c_next, a_prev, c_prev_np, ft, ut, cct, ot, xt_np, params = caches[t]
            want = {"a_next": h, "c_next": cs, "a_prev": h_prev, "c_prev": c_prev,
                    "ft": torch.sigmoid(f_g), "ut": torch.sigmoid(i_g), "cct": torch.tanh(g_g),
                    "ot": torch.sigmoid(o_g), "xt": xt}
            got = {"a_next": a_next, "c_next": c_next, "a_prev": a_prev, "c_prev": c_prev_np,
                   "ft": ft, "ut": ut, "cct": cct, "ot": ot, "xt": xt_np}
            for k in want:
                np.testing.assert_allclose(got[k], want[k].numpy().T, rtol=0, atol=FWD_TOL,
                                           err_msg=f"cache entry {k} at t={t}")
            assert params is p
            np.testing.assert_allclose(c[:, :, t], cs.numpy().T, rtol=0, atol=FWD_TOL)
            np.testing.assert_allclose(a[:, :, t], h.numpy().T, rtol=0, atol=FWD_TOL)


def test_cell_forward_is_one_step_of_forward():
    rng, p, x, a0 = data(3, 3, 4, 2, 5, 1)
    c_prev = rng.standard_normal(a0.shape)
    a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, 0], a0, c_prev, p)
    cell = make_torch_lstm(p, 3, 4, rng, cell=True)
    with torch.no_grad():
        h, cs = cell(torch.from_numpy(x[:, :, 0].T.copy()),
                     (torch.from_numpy(a0.T.copy()), torch.from_numpy(c_prev.T.copy())))
    np.testing.assert_allclose(a_next, h.numpy().T, rtol=0, atol=FWD_TOL)
    np.testing.assert_allclose(c_next, cs.numpy().T, rtol=0, atol=FWD_TOL)
    np.testing.assert_allclose(yt, torch_softmax_outputs(p, h[None])[:, :, 0], rtol=0,
                               atol=FWD_TOL)
    assert len(cache) == 10


# ----------------------------------------------------------- backward vs torch autograd


def torch_backward(p, x, a0, da, rng, dc=None):
    """Autograd through nn.LSTMCell (all c<t> needed when dc is given) or nn.LSTM."""
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    xt = torch.from_numpy(x.transpose(2, 1, 0).copy()).requires_grad_()
    h0 = torch.from_numpy(a0.T.copy()).requires_grad_()
    c0 = torch.zeros(m, n_a, dtype=torch.float64)
    if dc is None:
        mod = make_torch_lstm(p, n_x, n_a, rng)
        out, _ = mod(xt, (h0[None], c0[None]))
        loss = (out * torch.from_numpy(da.transpose(2, 1, 0).copy())).sum()
    else:
        mod = make_torch_lstm(p, n_x, n_a, rng, cell=True)
        h, cs, loss = h0, c0, 0.0
        for t in range(T_x):
            h, cs = mod(xt[t], (h, cs))
            loss = loss + (h * torch.from_numpy(da[:, :, t].T.copy())).sum() \
                + (cs * torch.from_numpy(dc[:, :, t].T.copy())).sum()
    loss.backward()
    g = torch_grads_to_notes(mod, n_a, cell=dc is not None)
    g["dx"] = xt.grad.numpy().transpose(2, 1, 0)
    g["da0"] = h0.grad.numpy().T
    return g


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_autograd(shape, seed):
    rng, p, x, a0 = data(seed, *shape)
    a, _, _, caches = lstm_forward(x, a0, p)
    da = rng.standard_normal(a.shape)
    grads = lstm_backward(da, caches)
    assert list(grads) == GRAD_KEYS
    want = torch_backward(p, x, a0, da, rng)
    for k in GRAD_KEYS:
        assert_rel(grads[k], want[k], name=k)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_backward_with_external_dc_matches_autograd(shape):
    """The optional dc: gradient arriving at each c<t> from outside."""
    rng, p, x, a0 = data(7, *shape)
    a, _, c, caches = lstm_forward(x, a0, p)
    da, dc = rng.standard_normal(a.shape), rng.standard_normal(c.shape)
    grads = lstm_backward(da, caches, dc=dc)
    want = torch_backward(p, x, a0, da, rng, dc=dc)
    for k in GRAD_KEYS:
        assert_rel(grads[k], want[k], name=k)


def test_cell_backward_matches_autograd():
    rng, p, x, a0 = data(11, 3, 4, 2, 5, 1)
    c_prev = rng.standard_normal(a0.shape)
    da_next, dc_next = rng.standard_normal(a0.shape), rng.standard_normal(a0.shape)
    *_, cache = lstm_cell_forward(x[:, :, 0], a0, c_prev, p)
    g = lstm_cell_backward(da_next, dc_next, cache)
    assert list(g) == ["dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWu", "dbu", "dWc", "dbc",
                       "dWo", "dbo"]
    cell = make_torch_lstm(p, 3, 4, rng, cell=True)
    xt = torch.from_numpy(x[:, :, 0].T.copy()).requires_grad_()
    h0 = torch.from_numpy(a0.T.copy()).requires_grad_()
    c0 = torch.from_numpy(c_prev.T.copy()).requires_grad_()
    h, cs = cell(xt, (h0, c0))
    ((h * torch.from_numpy(da_next.T.copy())).sum()
     + (cs * torch.from_numpy(dc_next.T.copy())).sum()).backward()
    want = torch_grads_to_notes(cell, 4, cell=True)
    want.update(dxt=xt.grad.numpy().T, da_prev=h0.grad.numpy().T, dc_prev=c0.grad.numpy().T)
    for k in want:
        assert_rel(g[k], want[k], name=k)


# -------------------------------------------------------------- numerical gradient checks


def numeric_check(p, x, a0, da, dc=None, tol=GRAD_TOL):
    """check_gradients of loss = sum(a * da) [+ sum(c * dc)] for every parameter, x and a0."""
    _, _, _, caches = lstm_forward(x, a0, p)
    grads = lstm_backward(da, caches, dc=dc)

    def loss():
        a, _, c, _ = lstm_forward(x, a0, p)
        return float(np.sum(a * da) + (0.0 if dc is None else np.sum(c * dc)))

    arrays = {k: p[k] for k in p if k not in ("Wy", "by")}
    arrays.update(x=x, a0=a0)
    analytic = {k: grads["d" + k] for k in arrays}
    return check_gradients(loss, arrays, analytic, tol=tol)


@pytest.mark.parametrize("shape", [(3, 4, 2, 2, 4), (1, 2, 2, 1, 1), (2, 3, 2, 1, 5)])
def test_backward_numerical_gradients(shape):
    rng, p, x, a0 = data(5, *shape, scale=0.5)
    da = rng.standard_normal(shape[1:2] + shape[3:])
    errors, worst = numeric_check(p, x, a0, da)
    assert errors[worst] < GRAD_TOL


def test_backward_numerical_gradients_with_external_dc():
    rng, p, x, a0 = data(6, 2, 3, 2, 2, 4, scale=0.5)
    da, dc = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    errors, worst = numeric_check(p, x, a0, da, dc=dc)
    assert errors[worst] < GRAD_TOL


def bptt_without_cell_gradient(da, caches):
    """The widely copied bug: dc_prev is dropped between steps instead of carried back."""
    cell_caches, x = caches
    n_a, m, T_x = da.shape
    total, da_prev = None, np.zeros((n_a, m))
    dx = np.zeros_like(x)
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t] + da_prev, np.zeros((n_a, m)), cell_caches[t])
        dx[:, :, t], da_prev = g["dxt"], g["da_prev"]
        step = {k: v for k, v in g.items() if k[:2] in ("dW", "db")}
        total = step if total is None else {k: total[k] + step[k] for k in total}
    return {"dx": dx, "da0": da_prev, **total}


def test_cell_gradient_is_carried_through_time():
    """A long memory path: the hidden-state weights are zero, so x<1> reaches a<T_x> only
    through c<1> -> c<2> -> ... The loss looks at a<T_x> alone. Dropping dc between steps
    would give dx<1> = 0; the real gradient is clearly non-zero, and the numerical check
    rejects the buggy version."""
    n_x, n_a, m, T_x = 2, 3, 2, 5
    rng, p, x, a0 = data(9, n_x, n_a, 2, m, T_x, scale=0.5)
    for g in "fuco":
        p["W" + g][:, :n_a] = 0.0
    p["bf"][:] = 2.0  # forget gate mostly open: the memory survives
    da = np.zeros((n_a, m, T_x))
    da[:, :, -1] = rng.standard_normal((n_a, m))
    _, _, _, caches = lstm_forward(x, a0, p)
    grads = lstm_backward(da, caches)
    assert np.max(np.abs(grads["dx"][:, :, 0])) > 1e-3

    def loss():
        return float(np.sum(lstm_forward(x, a0, p)[0] * da))

    num = numerical_gradient(loss, x)
    assert_rel(grads["dx"], num, tol=GRAD_TOL, name="dx")

    buggy = bptt_without_cell_gradient(da, caches)
    assert np.all(buggy["dx"][:, :, 0] == 0.0)
    arrays = {"x": x, "Wf": p["Wf"], "bu": p["bu"]}
    with pytest.raises(ValueError, match="gradient of .* is wrong"):
        check_gradients(loss, arrays, {k: buggy["d" + k] for k in ["x", "Wf", "bu"]})


# ------------------------------------------------------------------------------ peepholes


def torch_peephole_lstm(p, x, a0, peepholes):
    """An independent peephole LSTM in torch ops, in the notes' layout; tensors with grads."""
    T = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in p.items()}
    T["x"] = torch.from_numpy(x.copy()).requires_grad_()
    T["a0"] = torch.from_numpy(a0.copy()).requires_grad_()
    a_t, c_t = T["a0"], torch.zeros_like(T["a0"])
    As, Cs, Ys = [], [], []
    for t in range(x.shape[2]):
        z = torch.cat([a_t, T["x"][:, :, t]], dim=0)

        def gate(g, c_prev=c_t, z=z):
            pre = T["W" + g] @ z + T["b" + g]
            return torch.sigmoid(pre + T["P" + g] * c_prev if "P" + g in peepholes else pre)

        f, u, o = gate("f"), gate("u"), gate("o")
        c_t = u * torch.tanh(T["Wc"] @ z + T["bc"]) + f * c_t
        a_t = o * torch.tanh(c_t)
        As.append(a_t)
        Cs.append(c_t)
        Ys.append(torch.softmax(T["Wy"] @ a_t + T["by"], dim=0))
    return torch.stack(As, -1), torch.stack(Ys, -1), torch.stack(Cs, -1), T


def test_torch_reference_without_peepholes_is_nn_lstm():
    """The torch-ops reference used for the peepholes is itself right: with no peepholes it
    equals nn.LSTM."""
    rng, p, x, a0 = data(4, 3, 4, 2, 3, 5)
    a_ref, y_ref, c_ref, _ = torch_peephole_lstm(p, x, a0, ())
    lstm = make_torch_lstm(p, 3, 4, rng)
    with torch.no_grad():
        out, _ = lstm(torch.from_numpy(x.transpose(2, 1, 0).copy()),
                      (torch.from_numpy(a0.T.copy())[None],
                       torch.zeros(1, 3, 4, dtype=torch.float64)))
    np.testing.assert_allclose(a_ref.detach().numpy(), out.permute(2, 1, 0).numpy(),
                               rtol=0, atol=FWD_TOL)


PEEPHOLE_SETS = [("Pf", "Pu", "Po"), ("Pf",), ("Pu",), ("Po",), ("Pf", "Po")]


@pytest.mark.parametrize("peepholes", PEEPHOLE_SETS)
@pytest.mark.parametrize("shape", [(3, 4, 2, 5, 6), (1, 2, 3, 1, 1), (2, 3, 2, 1, 4)])
def test_peepholes_match_torch_ops(shape, peepholes):
    rng, p, x, a0 = data(13, *shape, peepholes=peepholes)
    a, y, c, caches = lstm_forward(x, a0, p)
    a_ref, y_ref, c_ref, T = torch_peephole_lstm(p, x, a0, peepholes)
    for got, want in [(a, a_ref), (y, y_ref), (c, c_ref)]:
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=0, atol=FWD_TOL)

    da, dc = rng.standard_normal(a.shape), rng.standard_normal(c.shape)
    grads = lstm_backward(da, caches, dc=dc)
    assert list(grads) == GRAD_KEYS + [k for k in ("dPf", "dPu", "dPo") if k[1:] in peepholes]
    ((a_ref * torch.from_numpy(da)).sum() + (c_ref * torch.from_numpy(dc)).sum()).backward()
    for k in grads:
        assert_rel(grads[k], T[k[1:]].grad.numpy(), name=k)


@pytest.mark.parametrize("peepholes", PEEPHOLE_SETS[:2])
def test_peepholes_numerical_gradients(peepholes):
    rng, p, x, a0 = data(17, 2, 3, 2, 2, 4, scale=0.5, peepholes=peepholes)
    da, dc = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    errors, worst = numeric_check(p, x, a0, da, dc=dc)
    assert set(peepholes) <= set(errors) and errors[worst] < GRAD_TOL


def test_peepholes_change_the_output():
    """A peephole key is not silently ignored."""
    _, p, x, a0 = data(19, 2, 3, 2, 2, 4)
    base = lstm_forward(x, a0, p)[0]
    for k in ("Pf", "Pu", "Po"):
        q = dict(p, **{k: np.ones((3, 1))})
        assert np.max(np.abs(lstm_forward(x, a0, q)[0] - base)) > 1e-3, k


# ----------------------------------------------------------------------------- dtypes


def test_float32_inputs_work():
    _, p, x, a0 = data(21, 3, 4, 2, 2, 5)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    a, y, c, caches = lstm_forward(x.astype(np.float32), a0.astype(np.float32), p32)
    assert a.dtype == y.dtype == c.dtype == np.float32
    a64, y64, c64, _ = lstm_forward(x, a0, p)
    np.testing.assert_allclose(a, a64, atol=1e-5)
    np.testing.assert_allclose(y, y64, atol=1e-5)
    g = lstm_backward(np.ones(a.shape, dtype=np.float32), caches)
    g64 = lstm_backward(np.ones(a.shape), lstm_forward(x, a0, p)[3])
    for k in GRAD_KEYS:
        assert g[k].dtype == np.float32, k
        np.testing.assert_allclose(g[k], g64[k], rtol=1e-3, atol=1e-4, err_msg=k)
    # Mixed precision promotes instead of silently truncating to float32.
    assert lstm_forward(x.astype(np.float32), a0, p)[0].dtype == np.float64


# ------------------------------------------------------------------------- bad input


def _base():
    _, p, x, a0 = data(23, 3, 4, 2, 5, 6)
    return p, x, a0


def _cell_call(**kw):
    p, x, a0 = _base()
    args = {"xt": x[:, :, 0], "a_prev": a0, "c_prev": np.zeros_like(a0), "parameters": p}
    args.update(kw)
    return lambda: lstm_cell_forward(**args)


def _seq_call(**kw):
    p, x, a0 = _base()
    args = {"x": x, "a0": a0, "parameters": p}
    args.update(kw)
    return lambda: lstm_forward(**args)


def _params(**changes):
    p = _base()[0]
    for k, v in changes.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    return p


def _nan(shape, where=(0, 0)):
    a = np.zeros(shape)
    a[where] = np.nan
    return a


BAD_INPUTS = {
    "xt 3-D": (_cell_call(xt=np.zeros((3, 5, 1))),
               r"lstm_cell_forward: xt has shape \(3, 5, 1\) \(3-D\), expected .*\(n_x, m\)"),
    "xt integer": (_cell_call(xt=np.zeros((3, 5), dtype=int)), r"xt has dtype int64"),
    "xt not an array": (_cell_call(xt="abc"), r"xt must be a numpy array .* got str"),
    "a_prev transposed": (_cell_call(a_prev=np.zeros((5, 4))),
                          r"xt has shape \(3, 5\), a_prev has shape \(5, 4\).*transposed"),
    "c_prev shape": (_cell_call(c_prev=np.zeros((3, 5))),
                     r"c_prev has shape \(3, 5\), expected \(n_a, m\) = \(4, 5\)"),
    "c_prev NaN": (_cell_call(c_prev=_nan((4, 5))), r"c_prev contains 1 non-finite"),
    "a_prev inf": (_cell_call(a_prev=np.full((4, 5), np.inf)), r"a_prev contains 20 non-finite"),
    "missing Wo, bc": (_cell_call(parameters=_params(Wo=None, bc=None)),
                       r"parameters is missing key\(s\) 'bc', 'Wo'"),
    "missing Wy": (_seq_call(parameters=_params(Wy=None)), r"missing key\(s\) 'Wy'"),
    "Wf shape": (_cell_call(parameters=_params(Wf=np.zeros((4, 3)))),
                 r"parameters\['Wf'\] has shape \(4, 3\), expected \(n_a, n_a \+ n_x\) = \(4, 7\)"),
    "bu shape": (_seq_call(parameters=_params(bu=np.zeros(4))),
                 r"parameters\['bu'\] has shape \(4,\) \(1-D\), expected .*\(n_a, 1\)"),
    "Wc NaN": (_seq_call(parameters=_params(Wc=_nan((4, 7)))),
               r"parameters\['Wc'\] contains 1 non-finite"),
    "Wy shape": (_seq_call(parameters=_params(Wy=np.zeros((2, 3)))),
                 r"parameters\['Wy'\] has shape \(2, 3\), expected \(n_y, n_a\) = \(2, 4\)"),
    "Pf shape": (_seq_call(parameters=_params(Pf=np.zeros((1, 4)))),
                 r"parameters\['Pf'\] has shape \(1, 4\), expected \(n_a, 1\) = \(4, 1\)"),
    "Po integer": (_cell_call(parameters=_params(Po=np.zeros((4, 1), dtype=np.int32))),
                   r"parameters\['Po'\] has dtype int32"),
    "parameters not a dict": (_seq_call(parameters=[1, 2]), r"parameters must be a dict"),
    "x 2-D": (_seq_call(x=np.zeros((3, 5))),
              r"lstm_forward: x has shape \(3, 5\) \(2-D\), expected .*\(n_x, m, T_x\)"),
    "x empty time": (_seq_call(x=np.zeros((3, 5, 0))), r"T_x must be at least 1"),
    "x NaN": (_seq_call(x=_nan((3, 5, 6), (0, 0, 3))), r"x contains 1 non-finite"),
    "a0 other m": (_seq_call(a0=np.zeros((4, 2))),
                   r"x has shape \(3, 5, 6\), a0 has shape \(4, 2\).*axis 1 is m"),
    "a0 integer": (_seq_call(a0=np.zeros((4, 5), dtype=np.uint8)),
                               r"a0 has dtype uint8"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_forward(case):
    call, pattern = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=pattern):
        call()


def _forward_cache():
    p, x, a0 = _base()
    return lstm_forward(x, a0, p)[3]


def _cell_cache():
    p, x, a0 = _base()
    return lstm_cell_forward(x[:, :, 0], a0, np.zeros_like(a0), p)[3]


BAD_BACKWARD = {
    "da shape": (lambda: lstm_backward(np.zeros((4, 5, 5)), _forward_cache()),
                 r"lstm_backward: da has shape \(4, 5, 5\), expected \(n_a, m, T_x\) = "
                 r"\(4, 5, 6\)"),
    "da 2-D": (lambda: lstm_backward(np.zeros((4, 5)), _forward_cache()),
               r"da has shape \(4, 5\) \(2-D\)"),
    "da NaN": (lambda: lstm_backward(_nan((4, 5, 6), (1, 1, 1)), _forward_cache()),
               r"da contains 1 non-finite"),
    "dc shape": (lambda: lstm_backward(np.zeros((4, 5, 6)), _forward_cache(),
                                       dc=np.zeros((4, 6, 5))),
                 r"dc has shape \(4, 6, 5\), expected \(n_a, m, T_x\) = \(4, 5, 6\)"),
    "caches wrong": (lambda: lstm_backward(np.zeros((4, 5, 6)), _forward_cache()[0]),
                     r"caches must be the \(caches, x\) pair returned by lstm_forward"),
    "cell cache passed": (lambda: lstm_backward(np.zeros((4, 5, 6)), _cell_cache()),
                          r"caches must be the \(caches, x\) pair"),
    "cell da_next shape": (lambda: lstm_cell_backward(np.zeros((5, 4)), np.zeros((4, 5)),
                                                      _cell_cache()),
                           r"lstm_cell_backward: da_next has shape \(5, 4\), expected "
                           r"\(n_a, m\) = \(4, 5\)"),
    "cell dc_next shape": (lambda: lstm_cell_backward(np.zeros((4, 5)), np.zeros((4, 1)),
                                                      _cell_cache()),
                           r"dc_next has shape \(4, 1\), expected \(n_a, m\) = \(4, 5\)"),
    "cell cache wrong": (lambda: lstm_cell_backward(np.zeros((4, 5)), np.zeros((4, 5)),
                                                    _cell_cache()[:4]),
                         r"cache must be the 10-tuple"),
}


@pytest.mark.parametrize("case", list(BAD_BACKWARD))
def test_bad_input_backward(case):
    call, pattern = BAD_BACKWARD[case]
    with pytest.raises(ValueError, match=pattern):
        call()
