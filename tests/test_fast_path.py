"""The fast sequence functions (rnn_*, gru_*, lstm_*) equal the readable per-step cell functions.

The reference here is a plain loop over the public cell functions (rnn_cell_forward, ...), the
code the course teaches; it shares nothing with the sequence functions' fast path (one input
matmul before the loop, stacked gates, weight gradients in one matmul after it). Both run in
float64 and must agree to 1e-12.
"""

import copy
import pickle

import numpy as np
import pytest

from rnnlib import gru, lstm, rnn

TOL = {"rtol": 1e-12, "atol": 1e-12}
# (n_x, n_a, n_y, m, T_x), with m = 1, T_x = 1, n_x = 1.
SHAPES = [(3, 5, 4, 6, 7), (1, 2, 3, 1, 1), (4, 3, 2, 5, 12)]


def _params(rng, keys, n_a, n_x, n_y, Wy="Wy"):
    shapes = {"W": (n_a, n_a + n_x), "b": (n_a, 1), "P": (n_a, 1), "Wax": (n_a, n_x),
              "Waa": (n_a, n_a), "Wcx": (n_a, n_x), "Wcc": (n_a, n_a)}
    p = {k: 0.8 * rng.standard_normal(shapes.get(k, shapes[k[0]])) for k in keys}
    p[Wy] = rng.standard_normal((n_y, n_a))
    p["by"] = rng.standard_normal((n_y, 1))
    return p


# ---------------------------------------------------------------------------------------------
# References: loops over the cell functions.


def lstm_reference(x, a0, p, da, dc_ext=None):
    T_x = x.shape[2]
    a, c, y, caches = [], [], [], []
    a_t, c_t = a0, np.zeros_like(a0)
    for t in range(T_x):
        a_t, c_t, y_t, cache = lstm.lstm_cell_forward(x[:, :, t], a_t, c_t, p)
        a.append(a_t), c.append(c_t), y.append(y_t), caches.append(cache)
    grads, dx = {}, np.zeros_like(x)
    da_next, dc_next = np.zeros_like(a0), np.zeros_like(a0)
    for t in reversed(range(T_x)):
        dc_t = dc_next + (0 if dc_ext is None else dc_ext[:, :, t])
        g = lstm.lstm_cell_backward(da[:, :, t] + da_next, dc_t, caches[t])
        dx[:, :, t] = g.pop("dxt")
        da_next, dc_next = g.pop("da_prev"), g.pop("dc_prev")
        for k, v in g.items():
            grads[k] = grads.get(k, 0) + v
    return (np.stack(a, 2), np.stack(y, 2), np.stack(c, 2), caches,
            {"dx": dx, "da0": da_next, **grads})


def rnn_reference(x, a0, p, da, activation):
    a, y, caches = [], [], []
    a_t = a0
    for t in range(x.shape[2]):
        a_t, y_t, cache = rnn.rnn_cell_forward(x[:, :, t], a_t, p, activation=activation)
        a.append(a_t), y.append(y_t), caches.append(cache)
    grads, dx, da_next = {}, np.zeros_like(x), np.zeros_like(a0)
    for t in reversed(range(x.shape[2])):
        g = rnn.rnn_cell_backward(da[:, :, t] + da_next, caches[t])
        dx[:, :, t] = g.pop("dxt")
        da_next = g.pop("da_prev")
        for k, v in g.items():
            grads[k] = grads.get(k, 0) + v
    return np.stack(a, 2), np.stack(y, 2), caches, {"dx": dx, "da0": da_next, **grads}


GRU_KEYS = {"gru": ("Wc", "bc", "Wu", "bu", "Wr", "br"), "simple_gru": ("Wc", "bc", "Wu", "bu"),
            "torch_gru": ("Wr", "br", "Wz", "bz", "Wcx", "bcx", "Wcc", "bcc")}
GRU_GRADS = {"gru": ("Wu", "bu", "Wr", "br", "Wc", "bc"), "simple_gru": ("Wu", "bu", "Wc", "bc"),
             "torch_gru": GRU_KEYS["torch_gru"]}


def gru_reference(variant, x, c0, p, dc):
    cell_forward = getattr(gru, f"{variant}_cell_forward")
    cell_backward = getattr(gru, f"{variant}_cell_backward")
    c, y, caches = [], [], []
    c_t = c0
    for t in range(x.shape[2]):
        c_t, y_t, cache = cell_forward(x[:, :, t], c_t, p)
        c.append(c_t), y.append(y_t), caches.append(cache)
    grads, dx, dc_next = {}, np.zeros_like(x), np.zeros_like(c0)
    for t in reversed(range(x.shape[2])):
        g = cell_backward(dc[:, :, t] + dc_next, caches[t])
        dx[:, :, t] = g.pop("dxt")
        dc_next = g.pop("dc_prev")
        for k, v in g.items():
            grads[k] = grads.get(k, 0) + v
    want = {"dx": dx, "dc0": dc_next, **{"d" + k: grads["d" + k] for k in GRU_GRADS[variant]}}
    return np.stack(c, 2), np.stack(y, 2), caches, want


def assert_grads_equal(got, want):
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], err_msg=k, **TOL)


@pytest.mark.parametrize("peepholes", [(), ("Pf", "Pu", "Po"), ("Po",)])
@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_sequence_equals_cells(rng, shape, peepholes):
    n_x, n_a, n_y, m, T_x = shape
    p = _params(rng, lstm.GATE_KEYS + peepholes, n_a, n_x, n_y)
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    da, dc = rng.standard_normal((n_a, m, T_x)), rng.standard_normal((n_a, m, T_x))
    a, y, c, caches = lstm.lstm_forward(x, a0, p)
    a_r, y_r, c_r, cell_caches, g_r = lstm_reference(x, a0, p, da, dc)
    for got, want in ((a, a_r), (y, y_r), (c, c_r)):
        np.testing.assert_allclose(got, want, **TOL)
    # The sequence cache is the course's: a list of cell caches with the same entries.
    assert isinstance(caches, tuple) and len(caches) == 2 and caches[1] is x
    for ours, ref in zip(caches[0], cell_caches, strict=True):
        assert len(ours) == 10 and ours[9] is p
        for u, v in zip(ours[:9], ref[:9], strict=True):
            np.testing.assert_allclose(u, v, **TOL)
    assert_grads_equal(lstm.lstm_backward(da, caches, dc=dc), g_r)
    # ... and a (list of cell caches, x) pair built by hand goes through the same backward.
    assert_grads_equal(lstm.lstm_backward(da, (cell_caches, x), dc=dc), g_r)
    # The cell caches of the sequence work with the cell backward.
    step = lstm.lstm_cell_backward(da[:, :, -1], dc[:, :, -1], caches[0][-1])
    np.testing.assert_allclose(step["dWf"], lstm.lstm_cell_backward(
        da[:, :, -1], dc[:, :, -1], cell_caches[-1])["dWf"], **TOL)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_rnn_sequence_equals_cells(rng, shape, activation):
    n_x, n_a, n_y, m, T_x = shape
    p = _params(rng, ("Wax", "Waa", "ba"), n_a, n_x, n_y, Wy="Wya")
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))
    a, y, caches = rnn.rnn_forward(x, a0, p, activation=activation)
    a_r, y_r, cell_caches, g_r = rnn_reference(x, a0, p, da, activation)
    np.testing.assert_allclose(a, a_r, **TOL)
    np.testing.assert_allclose(y, y_r, **TOL)
    assert isinstance(caches, tuple) and len(caches) == 2 and caches[1] is x
    for ours, ref in zip(caches[0], cell_caches, strict=True):
        assert len(ours) == 4 and ours[3] is p and ours.activation == activation
        for u, v in zip(ours[:3], ref[:3], strict=True):
            np.testing.assert_allclose(u, v, **TOL)
    want = {k: g_r[k] for k in ("dx", "da0", "dWax", "dWaa", "dba")}
    assert_grads_equal(rnn.rnn_backward(da, caches), want)
    assert_grads_equal(rnn.rnn_backward(da, (cell_caches, x)), want)


@pytest.mark.parametrize("variant", ["gru", "simple_gru", "torch_gru"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gru_sequences_equal_cells(rng, shape, variant):
    n_x, n_a, n_y, m, T_x = shape
    p = _params(rng, GRU_KEYS[variant], n_a, n_x, n_y)
    x, c0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    dc = rng.standard_normal((n_a, m, T_x))
    c, y, caches = getattr(gru, f"{variant}_forward")(x, c0, p)
    c_r, y_r, cell_caches, want = gru_reference(variant, x, c0, p, dc)
    np.testing.assert_allclose(c, c_r, **TOL)
    np.testing.assert_allclose(y, y_r, **TOL)
    assert isinstance(caches, tuple) and len(caches) == 2 and caches[1] is x
    for ours, ref in zip(caches[0], cell_caches, strict=True):
        assert len(ours) == len(ref) and ours[-1] is p and ours.variant == variant
        for u, v in zip(ours[:-1], ref[:-1], strict=True):
            np.testing.assert_allclose(u, v, **TOL)
    backward = getattr(gru, f"{variant}_backward")
    assert_grads_equal(backward(dc, caches), want)
    assert_grads_equal(backward(dc, (cell_caches, x)), want)


def test_returned_states_are_read_only_views(rng):
    """a and c share memory with the cache: writing into them must not go unnoticed."""
    p = _params(rng, lstm.GATE_KEYS, 3, 2, 2)
    a, y, c, caches = lstm.lstm_forward(rng.standard_normal((2, 4, 5)), np.zeros((3, 4)), p)
    for v in (a, c):
        with pytest.raises(ValueError, match="read-only"):
            v[0, 0, 0] = 1.0
    b = a.copy()
    b[0, 0, 0] = 1.0  # a copy is writable
    y[0, 0, 0] = 0.5  # y is not kept by the cache


def test_caches_survive_deepcopy_and_pickle(rng):
    p = _params(rng, lstm.GATE_KEYS, 3, 2, 2)
    x, a0 = rng.standard_normal((2, 4, 5)), rng.standard_normal((3, 4))
    _, _, _, caches = lstm.lstm_forward(x, a0, p)
    da = rng.standard_normal((3, 4, 5))
    want = lstm.lstm_backward(da, caches)
    for other in (copy.deepcopy(caches), pickle.loads(pickle.dumps(caches))):
        assert_grads_equal(lstm.lstm_backward(da, other), want)


def test_float32_stays_float32_and_close(rng):
    p = _params(rng, lstm.GATE_KEYS, 4, 3, 2)
    x, a0, da = (rng.standard_normal(s) for s in ((3, 5, 6), (4, 5), (4, 5, 6)))
    f32 = {k: v.astype(np.float32) for k, v in p.items()}
    a, y, c, caches = lstm.lstm_forward(x.astype(np.float32), a0.astype(np.float32), f32)
    g = lstm.lstm_backward(da.astype(np.float32), caches)
    a64, _, _, caches64 = lstm.lstm_forward(x, a0, p)
    g64 = lstm.lstm_backward(da, caches64)
    assert a.dtype == y.dtype == c.dtype == np.float32
    assert all(v.dtype == np.float32 for v in g.values())
    np.testing.assert_allclose(a, a64, atol=1e-5)
    np.testing.assert_allclose(g["dWf"], g64["dWf"], rtol=1e-4, atol=1e-4)
