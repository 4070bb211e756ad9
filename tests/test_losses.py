"""rnnlib.losses against torch (F.cross_entropy, F.mse_loss, autograd) and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlib.gradcheck import numerical_gradient, rel_error
from rnnlib.losses import cross_entropy, mean_squared_error, softmax_cross_entropy

# (n_y, m, T_y), with m = 1 and T_y = 1 among them.
SHAPES = [(5, 3, 4), (2, 1, 6), (7, 4, 1), (1, 2, 3), (27, 1, 1)]


def random_mask(rng, m, T):
    """Sequences of lengths 1 ... T, like padded names: the mask is a prefix of ones."""
    lengths = rng.integers(1, T + 1, size=m)
    return np.arange(T)[None, :] < lengths[:, None]


def torch_masked_ce(z, targets, mask, reduction):
    """Independent reference: F.cross_entropy over (m*T_y, n_y) rows.

    "sum" weights each position by its mask; "mean" marks padded targets with ignore_index,
    which PyTorch leaves out of the count it divides by.
    """
    n_y = z.shape[0]
    zt = torch.tensor(z.transpose(1, 2, 0).reshape(-1, n_y), requires_grad=True)
    tt = torch.tensor(targets.reshape(-1))
    mt = torch.tensor(mask.reshape(-1), dtype=torch.float64)
    if reduction == "sum":
        loss = (F.cross_entropy(zt, tt, reduction="none") * mt).sum()
    else:
        loss = F.cross_entropy(zt, tt.masked_fill(mt == 0, -100), ignore_index=-100)
    loss.backward()
    grad = zt.grad.numpy().reshape(z.shape[1], z.shape[2], n_y).transpose(2, 0, 1)
    return loss.item(), grad


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", SHAPES)
def test_integer_targets_with_mask_match_torch(rng, shape, reduction):
    n_y, m, T = shape
    z = 3 * rng.standard_normal(shape)
    targets = rng.integers(0, n_y, size=(m, T))
    mask = random_mask(rng, m, T)
    # Padded positions hold a junk class index, as padding often does: it must be ignored.
    targets_padded = np.where(mask, targets, n_y + 5)
    loss, dz = softmax_cross_entropy(z, targets_padded, mask=mask, reduction=reduction)
    ref_loss, ref_dz = torch_masked_ce(z, targets, mask, reduction)
    assert abs(loss - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss))
    assert rel_error(dz, ref_dz) < 1e-10


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_without_mask_matches_torch_and_course_sum(rng, reduction):
    n_y, m, T = 6, 3, 5
    z = rng.standard_normal((n_y, m, T))
    targets = rng.integers(0, n_y, size=(m, T))
    loss, dz = softmax_cross_entropy(z, targets, reduction=reduction)
    ref_loss, ref_dz = torch_masked_ce(z, targets, np.ones((m, T), bool), reduction)
    assert abs(loss - ref_loss) < 1e-12 * max(1.0, abs(ref_loss))
    assert rel_error(dz, ref_dz) < 1e-10
    if reduction == "sum":  # the course's loss: -Σ_t log ŷ<t>[y<t>], written out by hand
        p = np.exp(z) / np.exp(z).sum(axis=0)
        by_hand = -sum(np.log(p[targets[i, t], i, t]) for i in range(m) for t in range(T))
        assert abs(loss - by_hand) < 1e-10


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_soft_and_one_hot_targets_match_torch(rng, reduction):
    n_y, m, T = 4, 3, 5
    z = rng.standard_normal((n_y, m, T))
    y = rng.dirichlet(np.ones(n_y), size=(m, T)).transpose(2, 0, 1)  # (n_y, m, T), columns sum 1
    loss, dz = softmax_cross_entropy(z, y, reduction=reduction)
    zt = torch.tensor(z.transpose(1, 2, 0).reshape(-1, n_y), requires_grad=True)
    yt = torch.tensor(y.transpose(1, 2, 0).reshape(-1, n_y))
    ref = F.cross_entropy(zt, yt, reduction=reduction)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 * max(1.0, abs(ref.item()))
    assert rel_error(dz, zt.grad.numpy().reshape(m, T, n_y).transpose(2, 0, 1)) < 1e-10

    # One-hot floats give the same as the integer classes they encode.
    targets = rng.integers(0, n_y, size=(m, T))
    onehot = np.eye(n_y)[targets].transpose(2, 0, 1)
    mask = random_mask(rng, m, T)
    a = softmax_cross_entropy(z, onehot, mask=mask, reduction=reduction)
    b = softmax_cross_entropy(z, targets, mask=mask, reduction=reduction)
    assert a[0] == pytest.approx(b[0], rel=1e-14)
    np.testing.assert_allclose(a[1], b[1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_matches_numerical_gradient(rng, reduction):
    n_y, m, T = 5, 3, 4
    z = rng.standard_normal((n_y, m, T))
    targets = rng.integers(0, n_y, size=(m, T))
    mask = random_mask(rng, m, T)
    _, dz = softmax_cross_entropy(z, targets, mask=mask, reduction=reduction)
    num = numerical_gradient(
        lambda: softmax_cross_entropy(z, targets, mask=mask, reduction=reduction)[0], z)
    assert rel_error(dz, num) < 1e-7
    assert np.all(dz[:, ~mask] == 0)  # nothing flows into padded positions


def test_probabilities_version_equals_logits_version(rng):
    """cross_entropy(ŷ) with ŷ = softmax(z) (torch's softmax) gives the loss and dL/dz."""
    n_y, m, T = 6, 4, 3
    z = rng.standard_normal((n_y, m, T))
    y_hat = torch.softmax(torch.tensor(z), dim=0).numpy()
    targets = rng.integers(0, n_y, size=(m, T))
    mask = random_mask(rng, m, T)
    for reduction in ("sum", "mean"):
        a = cross_entropy(y_hat, targets, mask=mask, reduction=reduction)
        ref_loss, ref_dz = torch_masked_ce(z, targets, mask, reduction)
        assert a[0] == pytest.approx(ref_loss, rel=1e-12)
        assert rel_error(a[1], ref_dz) < 1e-10


def test_single_step_without_time_axis(rng):
    n_y, m = 4, 5
    z = rng.standard_normal((n_y, m))
    targets = rng.integers(0, n_y, size=m)
    loss, dz = softmax_cross_entropy(z, targets, reduction="mean")
    ref = F.cross_entropy(torch.tensor(z.T), torch.tensor(targets))
    assert dz.shape == (n_y, m)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    loss3, dz3 = softmax_cross_entropy(z[:, :, None], targets[:, None], reduction="mean")
    assert loss3 == loss and np.array_equal(dz3[:, :, 0], dz)


def test_large_logits_are_stable():
    z = np.array([[1000.0, -1000.0], [0.0, 1000.0], [-1000.0, 999.0]])[:, :, None]  # (3, 2, 1)
    targets = np.array([[1], [2]])
    loss, dz = softmax_cross_entropy(z, targets)
    ref = F.cross_entropy(torch.tensor(z[:, :, 0].T), torch.tensor(targets[:, 0]),
                          reduction="sum")
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx(ref.item(), rel=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(1, 7), (3, 4, 5), (2, 1, 1)])
def test_mse_matches_torch(rng, shape, reduction):
    y_hat, y = rng.standard_normal(shape), rng.standard_normal(shape)
    loss, d = mean_squared_error(y_hat, y, reduction=reduction)
    yt = torch.tensor(y_hat, requires_grad=True)
    ref = F.mse_loss(yt, torch.tensor(y), reduction=reduction)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert rel_error(d, yt.grad.numpy()) < 1e-12


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda z, t: softmax_cross_entropy(z, t[:, :2]), r"targets \(class indices\) has shape "
         r"\(3, 2\), expected \(m, T_y\) = \(3, 4\)"),
        (lambda z, t: softmax_cross_entropy(z, t.astype(float)), r"must be integers"),
        (lambda z, t: softmax_cross_entropy(z, t + 5), r"class index \d+ at example \d+, step "
         r"\d+; expected 0 <= index < n_y = 5"),
        (lambda z, t: softmax_cross_entropy(z, t, mask=np.ones((4, 3))), r"mask has shape "
         r"\(4, 3\), expected \(m, T_y\) = \(3, 4\)"),
        (lambda z, t: softmax_cross_entropy(z, t, mask=np.full((3, 4), 0.5)), r"0/1"),
        (lambda z, t: softmax_cross_entropy(z, t, reduction="avg"), r"reduction must be one of"),
        (lambda z, t: softmax_cross_entropy(z, t, mask=np.zeros((3, 4)), reduction="mean"),
         r"mask hides every position"),
        (lambda z, t: softmax_cross_entropy(z[None], t), r"logits has shape \(1, 5, 3, 4\) "
         r"\(4-D\), expected a 3-D array of shape \(n_y, m, T_y\)"),
        (lambda z, t: softmax_cross_entropy(z.transpose(1, 0, 2), t), r"targets \(class "
         r"indices\) has shape \(3, 4\), expected \(m, T_y\) = \(5, 4\)"),
        (lambda z, t: softmax_cross_entropy(z, np.ones((5, 3, 4))), r"summing to 1"),
        (lambda z, t: cross_entropy(z, t), r"y_hat must be a probability distribution"),
        (lambda z, t: mean_squared_error(z, z[:, :, :1]), r"y_hat has shape \(5, 3, 4\) but y "
         r"has shape \(5, 3, 1\)"),
        (lambda z, t: softmax_cross_entropy(np.where(z > 0, np.nan, z), t), r"logits contains"),
    ],
)
def test_bad_inputs_raise_clear_errors(rng, call, message):
    z = rng.standard_normal((5, 3, 4))
    t = rng.integers(0, 5, size=(3, 4))
    with pytest.raises(ValueError, match=message):
        call(z, t)
