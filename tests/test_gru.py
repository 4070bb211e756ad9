"""rnnlib.gru against independent references.

- The notes' GRU and the simplified GRU against the same equations written here with torch ops
  (forward to 1e-10, backward against torch autograd to relative 1e-9).
- The PyTorch-style GRU against ``torch.nn.GRU`` itself, through the weight mapping of the
  gru module's docstring (kept here: the general PyTorch bridge lives elsewhere).
- Every backward against centred-difference numerical gradients (rnnlib.gradcheck).
- Gate directions, the notes-vs-PyTorch relation, dtypes and the error messages.
"""

import numpy as np
import pytest
import torch

from rnnlib import gru
from rnnlib.gradcheck import check_gradients

VARIANTS = ("gru", "simple_gru", "torch_gru")
GATE_KEYS = {
    "gru": ("Wc", "bc", "Wu", "bu", "Wr", "br"),
    "simple_gru": ("Wc", "bc", "Wu", "bu"),
    "torch_gru": ("Wr", "br", "Wz", "bz", "Wcx", "bcx", "Wcc", "bcc"),
}
# (n_x, n_a, n_y, m, T_x): includes m = 1, T_x = 1 and n_x = 1 (and n_a = 1).
SHAPES = [(3, 5, 4, 6, 7), (1, 4, 3, 1, 1), (2, 3, 2, 1, 5), (4, 1, 2, 3, 2), (1, 2, 3, 4, 1)]
SEEDS = [0, 1]


def fn(variant, name):
    return getattr(gru, f"{variant}_{name}")


def as_np(t):
    return t.detach().numpy()


# ---------------------------------------------------------------------------------------------
# References, written with torch ops. Parameters are dicts of float64 leaf tensors; x is
# (n_x, m, T_x), c0 (n_a, m). Each returns c (n_a, m, T_x) and y (n_y, m, T_x).


def reference_notes_gru(x, c0, P, reset=True):
    c, cs, ys = c0, [], []
    for t in range(x.shape[2]):
        xt = x[:, :, t]
        stacked = torch.cat([c, xt], dim=0)
        u = torch.sigmoid(P["Wu"] @ stacked + P["bu"])
        if reset:
            r = torch.sigmoid(P["Wr"] @ stacked + P["br"])
            stacked = torch.cat([r * c, xt], dim=0)
        cand = torch.tanh(P["Wc"] @ stacked + P["bc"])
        c = u * cand + (1 - u) * c
        cs.append(c)
        ys.append(torch.softmax(P["Wy"] @ c + P["by"], dim=0))
    return torch.stack(cs, dim=2), torch.stack(ys, dim=2)


def reference_nn_gru(x, c0, P):
    """torch.nn.GRU (sequence-first layout (T_x, m, n_x)) plus the softmax output layer."""
    n_x, m, T_x = x.shape
    n_a = c0.shape[0]
    torch.manual_seed(0)  # nn.GRU draws initial weights; they are all replaced below
    net = torch.nn.GRU(n_x, n_a, dtype=torch.float64)
    # Run the module with P's leaf tensors as its weights, so autograd reaches P[name].
    out, _ = torch.func.functional_call(
        net, {k: P[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")},
        (x.permute(2, 1, 0), c0.T.unsqueeze(0)),
    )
    c = out.permute(2, 1, 0)  # (T_x, m, n_a) -> (n_a, m, T_x)
    y = torch.softmax(torch.einsum("ya,amt->ymt", P["Wy"], c) + P["by"].unsqueeze(2), dim=0)
    return c, y


def reference(variant, x, c0, P):
    if variant == "torch_gru":
        return reference_nn_gru(x, c0, P)
    return reference_notes_gru(x, c0, P, reset=variant == "gru")


def random_reference_parameters(variant, n_x, n_a, n_y, rng, scale=0.5):
    """Float64 torch leaf tensors in the reference's own layout (nn.GRU's for torch_gru)."""
    def r(*shape):
        return scale * rng.standard_normal(shape)

    if variant == "torch_gru":
        P = {"weight_ih_l0": r(3 * n_a, n_x), "weight_hh_l0": r(3 * n_a, n_a),
             "bias_ih_l0": r(3 * n_a), "bias_hh_l0": r(3 * n_a)}
    else:
        P = {k: r(n_a, 1) if k.startswith("b") else r(n_a, n_a + n_x) for k in GATE_KEYS[variant]}
    P["Wy"], P["by"] = r(n_y, n_a), r(n_y, 1)
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}


def nn_gru_split(P):
    """nn.GRU's stacked tensors (gate order r, z, n) -> {W_ir, W_iz, W_in, W_hr, ..., b_hn}."""
    out = {}
    for kind, name in (("W_i", "weight_ih_l0"), ("W_h", "weight_hh_l0"),
                       ("b_i", "bias_ih_l0"), ("b_h", "bias_hh_l0")):
        for gate, part in zip("rzn", torch.chunk(P[name], 3, dim=0), strict=True):
            out[kind + gate] = part
    return out


def to_rnnlib(variant, P):
    """Reference parameters -> rnnlib's dict (float64 numpy)."""
    if variant != "torch_gru":
        return {k: as_np(v).copy() for k, v in P.items()}
    s = {k: as_np(v) for k, v in nn_gru_split(P).items()}
    return {
        "Wr": np.hstack([s["W_hr"], s["W_ir"]]), "br": (s["b_ir"] + s["b_hr"])[:, None],
        "Wz": np.hstack([s["W_hz"], s["W_iz"]]), "bz": (s["b_iz"] + s["b_hz"])[:, None],
        "Wcx": s["W_in"].copy(), "bcx": s["b_in"][:, None].copy(),
        "Wcc": s["W_hn"].copy(), "bcc": s["b_hn"][:, None].copy(),
        "Wy": as_np(P["Wy"]).copy(), "by": as_np(P["by"]).copy(),
    }


def reference_grads(variant, P):
    """Autograd's gradients, in rnnlib's keys ("dWr", ...), for the gate parameters."""
    if variant != "torch_gru":
        return {"d" + k: as_np(P[k].grad) for k in GATE_KEYS[variant]}
    g = {}
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        for gate, part in zip("rzn", torch.chunk(P[name].grad, 3, dim=0), strict=True):
            g[name[:-2] + gate] = part.numpy()
    # br = b_ir + b_hr: its gradient equals each addend's; check they agree, then use one.
    for gate in "rz":
        np.testing.assert_allclose(g["bias_ih_" + gate], g["bias_hh_" + gate], rtol=1e-12)
    return {
        "dWr": np.hstack([g["weight_hh_r"], g["weight_ih_r"]]), "dbr": g["bias_ih_r"][:, None],
        "dWz": np.hstack([g["weight_hh_z"], g["weight_ih_z"]]), "dbz": g["bias_ih_z"][:, None],
        "dWcx": g["weight_ih_n"], "dbcx": g["bias_ih_n"][:, None],
        "dWcc": g["weight_hh_n"], "dbcc": g["bias_hh_n"][:, None],
    }


def make_case(variant, shape, seed, scale=0.5):
    """Random reference parameters, rnnlib parameters, x, non-zero c0, upstream dc."""
    n_x, n_a, n_y, m, T_x = shape
    rng = np.random.default_rng(seed)
    P = random_reference_parameters(variant, n_x, n_a, n_y, rng, scale)
    x = rng.standard_normal((n_x, m, T_x))
    c0 = 0.5 * rng.standard_normal((n_a, m))
    dc = rng.standard_normal((n_a, m, T_x))
    return P, to_rnnlib(variant, P), x, c0, dc


def assert_grads_close(ours, ref, rtol=1e-9):
    assert set(ref) <= set(ours)
    for k, v in ref.items():
        assert ours[k].shape == v.shape, k
        np.testing.assert_allclose(ours[k], v, rtol=rtol, atol=1e-12, err_msg=k)


# ---------------------------------------------------------------------------------------------
# Forward and backward against torch.


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_and_backward_match_torch(variant, shape, seed):
    P, params, x, c0, dc = make_case(variant, shape, seed)
    c, y_pred, caches = fn(variant, "forward")(x, c0, params)

    x_t = torch.tensor(x, requires_grad=True)
    c0_t = torch.tensor(c0, requires_grad=True)
    c_ref, y_ref = reference(variant, x_t, c0_t, P)
    assert c.shape == c_ref.shape and y_pred.shape == y_ref.shape
    np.testing.assert_allclose(c, as_np(c_ref), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y_pred, as_np(y_ref), rtol=1e-10, atol=1e-10)

    (c_ref * torch.tensor(dc)).sum().backward()
    grads = fn(variant, "backward")(dc, caches)
    expected_keys = {"dx", "dc0"} | {"d" + k for k in GATE_KEYS[variant]}
    assert set(grads) == expected_keys
    ref = reference_grads(variant, P)
    ref["dx"], ref["dc0"] = as_np(x_t.grad), as_np(c0_t.grad)
    assert_grads_close(grads, ref)


@pytest.mark.parametrize("shape", [(3, 4, 2, 5, 1), (1, 1, 2, 1, 1)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_cell_forward_and_backward_match_torch(variant, shape):
    P, params, x, c0, dc = make_case(variant, shape, seed=7)
    c_next, yt_pred, cache = fn(variant, "cell_forward")(x[:, :, 0], c0, params)

    x_t = torch.tensor(x, requires_grad=True)
    c0_t = torch.tensor(c0, requires_grad=True)
    c_ref, y_ref = reference(variant, x_t, c0_t, P)
    np.testing.assert_allclose(c_next, as_np(c_ref[:, :, 0]), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(yt_pred, as_np(y_ref[:, :, 0]), rtol=1e-10, atol=1e-10)
    assert len(cache) == {"gru": 7, "simple_gru": 6, "torch_gru": 8}[variant]
    assert cache[-1] is params

    (c_ref * torch.tensor(dc)).sum().backward()
    grads = fn(variant, "cell_backward")(dc[:, :, 0], cache)
    assert set(grads) == {"dxt", "dc_prev"} | {"d" + k for k in GATE_KEYS[variant]}
    ref = reference_grads(variant, P)
    ref["dxt"], ref["dc_prev"] = as_np(x_t.grad[:, :, 0]), as_np(c0_t.grad)
    assert_grads_close(grads, ref)


@pytest.mark.parametrize("shape", [(2, 3, 2, 2, 3), (1, 2, 2, 1, 1), (3, 1, 2, 1, 2)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_backward_matches_numerical_gradient(variant, shape):
    _, params, x, c0, dc = make_case(variant, shape, seed=3)
    forward = fn(variant, "forward")
    c, _, caches = forward(x, c0, params)
    grads = fn(variant, "backward")(dc, caches)

    arrays = {k: params[k] for k in GATE_KEYS[variant]} | {"x": x, "c0": c0}
    analytic = {k: grads["d" + k] for k in GATE_KEYS[variant]} | {"x": grads["dx"],
                                                                   "c0": grads["dc0"]}
    errors, _ = check_gradients(lambda: float(np.sum(forward(x, c0, params)[0] * dc)),
                                arrays, analytic, tol=1e-7)
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize("variant", VARIANTS)
def test_cell_backward_matches_numerical_gradient(variant):
    _, params, x, c0, dc = make_case(variant, (2, 3, 2, 2, 1), seed=5)
    xt, dc_next = x[:, :, 0], dc[:, :, 0]
    cell = fn(variant, "cell_forward")
    grads = fn(variant, "cell_backward")(dc_next, cell(xt, c0, params)[2])
    arrays = {k: params[k] for k in GATE_KEYS[variant]} | {"xt": xt, "c_prev": c0}
    analytic = {k: grads["d" + k] for k in GATE_KEYS[variant]} | {"xt": grads["dxt"],
                                                                   "c_prev": grads["dc_prev"]}
    check_gradients(lambda: float(np.sum(cell(xt, c0, params)[0] * dc_next)), arrays, analytic)


def test_gradient_check_catches_a_wrong_backward():
    """The numerical check used above is able to fail: a 10% error in dc0 is caught."""
    _, params, x, c0, dc = make_case("gru", (2, 3, 2, 2, 3), seed=3)
    c, _, caches = gru.gru_forward(x, c0, params)
    grads = gru.gru_backward(dc, caches)
    wrong = grads["dc0"] * 0.9
    with pytest.raises(ValueError, match="gradient of 'c0' is wrong"):
        check_gradients(lambda: float(np.sum(gru.gru_forward(x, c0, params)[0] * dc)),
                        {"c0": c0}, {"c0": wrong})


# ---------------------------------------------------------------------------------------------
# Gate directions and how the notes' GRU relates to PyTorch's.


@pytest.mark.parametrize("variant", ["gru", "simple_gru"])
def test_update_gate_direction_notes(variant):
    """Γu = 1 writes the candidate, Γu = 0 keeps c<t-1> (a Γu / 1-Γu swap fails this)."""
    _, params, x, c0, _ = make_case(variant, (3, 4, 2, 5, 1), seed=11)
    xt = x[:, :, 0]
    params["bu"] = np.full_like(params["bu"], 20.0)
    c_next, _, cache = fn(variant, "cell_forward")(xt, c0, params)
    cct = cache[-3]
    if variant == "simple_gru":  # the candidate, computed independently of the cache
        np.testing.assert_allclose(
            cct, np.tanh(params["Wc"] @ np.vstack([c0, xt]) + params["bc"]), rtol=1e-12)
    assert np.max(np.abs(cct - c0)) > 0.1  # the two limits are distinguishable
    np.testing.assert_allclose(c_next, cct, atol=1e-8)

    params["bu"] = np.full_like(params["bu"], -20.0)
    c_next, _, _ = fn(variant, "cell_forward")(xt, c0, params)
    np.testing.assert_allclose(c_next, c0, atol=1e-8)


def test_update_gate_direction_torch():
    """PyTorch's z = 1 keeps the old state, z = 0 writes the candidate n."""
    _, params, x, c0, _ = make_case("torch_gru", (3, 4, 2, 5, 1), seed=11)
    xt = x[:, :, 0]
    params["bz"] = np.full_like(params["bz"], 20.0)
    c_next, _, _ = gru.torch_gru_cell_forward(xt, c0, params)
    np.testing.assert_allclose(c_next, c0, atol=1e-8)

    params["bz"] = np.full_like(params["bz"], -20.0)
    c_next, _, cache = gru.torch_gru_cell_forward(xt, c0, params)
    nt = cache[4]
    assert np.max(np.abs(nt - c0)) > 0.1
    np.testing.assert_allclose(c_next, nt, atol=1e-8)


def test_simple_gru_is_the_full_gru_with_the_reset_gate_open():
    _, params, x, c0, _ = make_case("gru", (3, 4, 2, 2, 5), seed=2)
    params["br"] = np.full_like(params["br"], 40.0)  # Γr = 1 to float64 precision
    c_full, y_full, _ = gru.gru_forward(x, c0, params)
    c_simple, y_simple, _ = gru.simple_gru_forward(x, c0, params)
    np.testing.assert_allclose(c_simple, c_full, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y_simple, y_full, rtol=1e-12, atol=1e-14)


def test_notes_gru_and_pytorch_gru_differ_only_through_the_reset_placement():
    """Wz = -Wu, bz = -bu, Wc = [Wcc | Wcx], bc = bcx + bcc: equal when Γr = 1, not otherwise."""
    n_x, n_a = 3, 4
    _, notes, x, c0, _ = make_case("gru", (n_x, n_a, 2, 2, 5), seed=4)
    bcc = 0.3 * np.ones((n_a, 1))
    torch_style = {
        "Wr": notes["Wr"], "br": notes["br"], "Wz": -notes["Wu"], "bz": -notes["bu"],
        "Wcx": notes["Wc"][:, n_a:], "bcx": notes["bc"] - bcc,
        "Wcc": notes["Wc"][:, :n_a], "bcc": bcc, "Wy": notes["Wy"], "by": notes["by"],
    }
    c_notes = gru.gru_forward(x, c0, notes)[0]
    c_torch = gru.torch_gru_forward(x, c0, torch_style)[0]
    assert np.max(np.abs(c_notes - c_torch)) > 1e-3

    for p in (notes, torch_style):
        p["br"] = np.full((n_a, 1), 40.0)
    np.testing.assert_allclose(gru.torch_gru_forward(x, c0, torch_style)[0],
                               gru.gru_forward(x, c0, notes)[0], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# dtypes and array-likes.


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_inputs(variant):
    _, params, x, c0, dc = make_case(variant, (3, 4, 2, 2, 3), seed=6)
    c64, y64, _ = fn(variant, "forward")(x, c0, params)

    # float32 data with float64 weights: computed (and returned) in float64.
    c, _, _ = fn(variant, "forward")(x.astype(np.float32), c0.astype(np.float32), params)
    assert c.dtype == np.float64
    np.testing.assert_allclose(c, c64, rtol=1e-6, atol=1e-6)

    # All float32: float32 throughout, forward and backward.
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    c, y, caches = fn(variant, "forward")(x.astype(np.float32), c0.astype(np.float32), p32)
    assert c.dtype == y.dtype == np.float32
    np.testing.assert_allclose(c, c64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)
    grads = fn(variant, "backward")(dc.astype(np.float32), caches)
    _, _, caches64 = fn(variant, "forward")(x, c0, params)
    grads64 = fn(variant, "backward")(dc, caches64)
    for k, g in grads.items():
        assert g.dtype == np.float32, k
        np.testing.assert_allclose(g, grads64[k], rtol=1e-3, atol=1e-4, err_msg=k)


def test_lists_are_accepted_as_parameters():
    _, params, x, c0, _ = make_case("gru", (2, 3, 2, 2, 2), seed=8)
    c, _, caches = gru.gru_forward(x, c0, params)
    as_lists = {k: v.tolist() for k, v in params.items()}
    c_list, _, caches_list = gru.gru_forward(x, c0, as_lists)
    np.testing.assert_array_equal(c_list, c)
    dc = np.ones_like(c)
    np.testing.assert_array_equal(gru.gru_backward(dc, caches_list)["dWc"],
                                  gru.gru_backward(dc, caches)["dWc"])


# ---------------------------------------------------------------------------------------------
# Bad input: a ValueError naming the argument, the shape it got and the one expected.


@pytest.fixture(params=VARIANTS)
def case(request):
    variant = request.param
    _, params, x, c0, dc = make_case(variant, (3, 4, 2, 5, 2), seed=9)
    return variant, params, x, c0, dc


def test_bad_data_inputs(case):
    variant, params, x, c0, _ = case
    cell, forward = fn(variant, "cell_forward"), fn(variant, "forward")
    xt = x[:, :, 0]
    bad = [
        (lambda: cell(xt[:, :, None], c0, params),
         r"xt has shape \(3, 5, 1\) \(3-D\), expected a 2-D array of shape \(n_x, m\)"),
        (lambda: cell(xt, c0[:, :3], params),
         r"xt has shape \(3, 5\), c_prev has shape \(4, 3\).*axis 1 is m"),
        (lambda: cell(xt, c0.T, params), r"c_prev has shape \(5, 4\).*transposed"),
        (lambda: cell(xt.astype(np.int64), c0, params), r"xt has dtype int64"),
        (lambda: cell(np.where(xt == xt[0, 0], np.nan, xt), c0, params),
         r"xt contains 1 non-finite"),
        (lambda: cell(xt, np.full_like(c0, np.inf), params), r"c_prev contains 20 non-finite"),
        (lambda: cell("xt", c0, params), r"xt must be a numpy array of shape \(n_x, m\)"),
        (lambda: forward(xt, c0, params),
         r"x has shape \(3, 5\) \(2-D\), expected a 3-D array of shape \(n_x, m, T_x\)"),
        (lambda: forward(x[:, :, :0], c0, params), r"T_x must be at least 1"),
        (lambda: forward(x, c0[:, :2], params), r"x has shape \(3, 5, 2\), c0 has shape \(4, 2\)"),
        (lambda: forward(x, c0, [params]), r"parameters must be a dict"),
    ]
    for call, match in bad:
        with pytest.raises(ValueError, match=rf"^{variant}_(cell_)?forward: .*{match}"):
            call()


def test_missing_and_misshapen_parameters(case):
    variant, params, x, c0, _ = case
    n_x, n_a = 3, 4
    expected = {"W": f"\\(n_a, n_a \\+ n_x\\) = \\({n_a}, {n_a + n_x}\\)",
                "b": f"\\(n_a, 1\\) = \\({n_a}, 1\\)",
                "Wcx": f"\\(n_a, n_x\\) = \\({n_a}, {n_x}\\)",
                "Wcc": f"\\(n_a, n_a\\) = \\({n_a}, {n_a}\\)",
                "Wy": f"\\(n_y, n_a\\) = \\(2, {n_a}\\)",
                "by": "\\(n_y, 1\\) = \\(2, 1\\)"}
    for func in (fn(variant, "forward"), lambda x, c0, p: fn(variant, "cell_forward")(
            x[:, :, 0], c0, p)):
        for k in (*GATE_KEYS[variant], "Wy", "by"):
            p = {key: v for key, v in params.items() if key != k}
            with pytest.raises(ValueError, match=f"missing key\\(s\\) '{k}'"):
                func(x, c0, p)

            wrong = np.zeros((params[k].shape[0], params[k].shape[1] + 1))
            symbols = expected.get(k) or expected[k[0]]
            shape = "\\(" + ", ".join(map(str, wrong.shape)) + "\\)"
            match = f"parameters\\['{k}'\\] has shape {shape}, expected {symbols}"
            with pytest.raises(ValueError, match=match):
                func(x, c0, {**params, k: wrong})

            with pytest.raises(ValueError, match=f"parameters\\['{k}'\\] contains 1 non-finite"):
                bad = params[k].copy()
                bad[0, 0] = np.nan
                func(x, c0, {**params, k: bad})

    with pytest.raises(ValueError, match="missing key\\(s\\) " + ", ".join(
            f"'{k}'" for k in GATE_KEYS[variant])):
        fn(variant, "forward")(x, c0, {"Wy": params["Wy"], "by": params["by"]})


def test_bad_backward_inputs(case):
    variant, params, x, c0, dc = case
    _, _, caches = fn(variant, "forward")(x, c0, params)
    _, _, cache = fn(variant, "cell_forward")(x[:, :, 0], c0, params)
    backward, cell_backward = fn(variant, "backward"), fn(variant, "cell_backward")
    other = "gru" if variant != "gru" else "simple_gru"
    _, _, other_caches = fn(other, "forward")(x, c0, make_case(other, (3, 4, 2, 5, 2), 9)[1])
    bad = [
        (lambda: backward(dc[:, :, :1], caches),
         r"dc has shape \(4, 5, 1\), expected \(n_a, m, T_x\) = \(4, 5, 2\)"),
        (lambda: backward(dc[:, :, 0], caches), r"dc has shape \(4, 5\) \(2-D\)"),
        (lambda: backward(np.full_like(dc, np.nan), caches), r"dc contains 40 non-finite"),
        (lambda: backward(dc, caches[0]), r"caches must be the \(list of cell caches, x\) pair"),
        (lambda: backward(dc, (caches[0][:1], x)), r"caches holds 1 cell caches for T_x = 2"),
        (lambda: backward(dc, other_caches), rf"cache was made by {other}_cell_forward"),
        (lambda: cell_backward(dc[:, :2, 0], cache),
         r"dc_next has shape \(4, 2\), expected \(n_a, m\) = \(4, 5\)"),
        (lambda: cell_backward(dc[:, :, 0], cache[:-1]), r"cache must be the \d-tuple"),
        (lambda: cell_backward(dc[:, :, 0], other_caches[0][0]),
         rf"cache was made by {other}_cell_forward"),
    ]
    for call, match in bad:
        with pytest.raises(ValueError, match=rf"^{variant}_(cell_)?backward: .*{match}"):
            call()
