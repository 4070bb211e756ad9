"""rnnlib.optim against torch (clip_grad_value_, clip_grad_norm_, optim.SGD, optim.Adam), and
rnnlib.train's loop."""

import io
import math
import sys

import numpy as np
import pytest
import torch

from rnnlib.optim import SGD, Adam, clip, clip_by_norm, update_parameters
from rnnlib.train import History, train

SHAPES = {"Wax": (4, 3), "Waa": (4, 4), "ba": (4, 1), "Wya": (2, 4), "by": (2, 1)}


def make(rng, scale=1.0):
    return {k: scale * rng.standard_normal(s) for k, s in SHAPES.items()}


def grads_of(rng, scale=1.0):
    return {"d" + k: scale * rng.standard_normal(s) for k, s in SHAPES.items()}


def test_clip_by_value_matches_torch_in_place(rng):
    g = grads_of(rng, scale=4.0)
    arrays = {k: v for k, v in g.items()}  # the same array objects
    tensors = [torch.tensor(v) for v in g.values()]
    for t in tensors:
        t.grad = t.clone()
    torch.nn.utils.clip_grad_value_(tensors, 2.5)
    out = clip(g, 2.5)
    assert out is g
    for (k, v), t in zip(g.items(), tensors, strict=True):
        assert v is arrays[k]  # clipped in place
        np.testing.assert_array_equal(v, t.grad.numpy())
    assert max(np.abs(v).max() for v in g.values()) == 2.5


@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipping, and a norm already below the cap
def test_clip_by_norm_matches_torch(rng, max_norm):
    g = grads_of(rng)
    tensors = [torch.tensor(v) for v in g.values()]
    for t in tensors:
        t.grad = t.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    before = {k: v.copy() for k, v in g.items()}
    out, total = clip_by_norm(g, max_norm)
    assert out is g
    assert total == pytest.approx(ref_norm.item(), rel=1e-13)
    for v, t in zip(g.values(), tensors, strict=True):
        np.testing.assert_allclose(v, t.grad.numpy(), rtol=1e-13, atol=0)
    if max_norm > total:
        assert all(np.array_equal(g[k], before[k]) for k in g)
    else:
        new = math.sqrt(sum(float((v**2).sum()) for v in g.values()))
        assert new == pytest.approx(max_norm, rel=1e-5)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch_over_steps(rng, momentum):
    params = make(rng)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ref = torch.optim.SGD(list(tensors.values()), lr=0.05, momentum=momentum)
    opt = SGD(0.05, momentum=momentum)
    for _ in range(6):
        g = grads_of(rng)
        for k, t in tensors.items():
            t.grad = torch.tensor(g["d" + k])
        ref.step()
        assert opt.step(params, g) is params
    for k in params:
        np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-13, atol=1e-15)


def test_update_parameters_is_the_course_update(rng):
    params, g = make(rng), grads_of(rng)
    expected = {k: params[k] - 0.1 * g["d" + k] for k in params}
    arrays = dict(params)
    update_parameters(params, g, 0.1)
    for k in params:
        assert params[k] is arrays[k]  # updated in place
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-15)


def test_adam_matches_torch_over_steps(rng):
    params = make(rng)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ref = torch.optim.Adam(list(tensors.values()), lr=0.01, betas=(0.8, 0.99), eps=1e-7)
    opt = Adam(learning_rate=0.01, beta1=0.8, beta2=0.99, epsilon=1e-7)
    for _ in range(12):
        # Gradients of a real loss at the current point: 0.5 Σ (W - 1)², so dW = W - 1, plus noise.
        g = {"d" + k: v - 1 + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
        for k, t in tensors.items():
            t.grad = torch.tensor(g["d" + k])
        ref.step()
        opt.step(params, g)
    assert opt.t == 12
    for k in params:
        np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_missing_or_wrong_gradients_are_named(rng):
    params, g = make(rng), grads_of(rng)
    del g["dWaa"]
    for opt in (SGD(0.1), Adam()):
        with pytest.raises(ValueError, match=r"gradients is missing 'dWaa'"):
            opt.step(params, g)
    g = grads_of(rng)
    g["dba"] = g["dba"].T
    with pytest.raises(ValueError, match=r"gradients\['dba'\] has shape \(1, 4\), expected the "
                                         r"shape of parameters\['ba'\] = \(4, 1\)"):
        Adam().step(params, g)
    g = grads_of(rng)
    g["dby"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"gradients\['dby'\] holds NaN or inf"):
        SGD(0.1).step(params, g)
    with pytest.raises(ValueError, match=r"gradients\['dby'\] holds NaN or inf"):
        clip_by_norm(g, 1.0)
    with pytest.raises(ValueError, match=r"maxValue must be a positive number, got -1"):
        clip(grads_of(rng), -1)
    with pytest.raises(ValueError, match=r"gradients\['dWax'\] must be a floating-point numpy "
                                         r"array \(it is changed in place\), got list"):
        clip({"dWax": [1.0, 2.0]}, 1.0)
    with pytest.raises(ValueError, match=r"beta1 must be in \[0, 1\), got 1.0"):
        Adam(beta1=1.0)
    with pytest.raises(ValueError, match=r"learning_rate must be a positive number"):
        SGD(0.0)


# The training loop.


def test_train_records_losses_smooths_and_calls_back(capsys):
    losses = [5.0, 4.0, 3.5, 3.0, 2.0, 1.0, 0.5]
    calls = []
    history = train(lambda i: losses[i], len(losses), smoothing=0.9, smooth_init=6.0,
                    callback=lambda i, h: calls.append((i, len(h.loss))), every=3)
    assert isinstance(history, History)
    assert history.loss == losses
    smooth, expected = 6.0, []
    for loss in losses:
        smooth = 0.9 * smooth + 0.1 * loss
        expected.append(smooth)
    np.testing.assert_allclose(history.smooth, expected, rtol=1e-15)
    assert calls == [(0, 1), (3, 4), (6, 7)]
    # Not a terminal (pytest captures stderr): the progress bar stays silent.
    assert capsys.readouterr().err == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_only_on_a_terminal_and_when_asked(monkeypatch, progress):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    train(lambda i: 1.0 / (i + 1), 50, progress=progress, desc="fitting")
    shown = terminal.getvalue()
    assert ("fitting" in shown and "/50" in shown) if progress else shown == ""


def test_train_without_smoothing_starts_from_first_loss():
    assert train(lambda i: 2.0 + i, 3, smoothing=None, progress=False).smooth == []
    assert train(lambda i: 2.0 + i, 2, smoothing=0.5, progress=False).smooth == [2.0, 2.5]


def test_train_runs_a_real_optimisation():
    """Adam on f(w) = Σ (w - 3)² drives the loss down through the generic loop."""
    params = {"w": np.zeros((3, 1))}
    opt = Adam(learning_rate=0.1)

    def step(i):
        loss = float(((params["w"] - 3) ** 2).sum())
        opt.step(params, {"dw": 2 * (params["w"] - 3)})
        return loss

    history = train(step, 300, progress=False)
    assert history.loss[-1] < 1e-3 * history.loss[0]


def test_train_stops_on_divergence_and_bad_arguments():
    with pytest.raises(ValueError, match=r"the loss is nan at step 2: training diverged"):
        train(lambda i: [1.0, 2.0, float("nan")][i], 3, progress=False)
    with pytest.raises(ValueError, match=r"step_fn must return the loss as a number, got dict"):
        train(lambda i: {}, 1, progress=False)
    with pytest.raises(ValueError, match=r"n_steps must be an integer >= 0, got 2.5"):
        train(lambda i: 0.0, 2.5)
    with pytest.raises(ValueError, match=r"smoothing must be in \[0, 1\) or None"):
        train(lambda i: 0.0, 1, smoothing=1.0)
