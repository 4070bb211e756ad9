"""rnnlib.language_model against a torch-ops version of the same character model (autograd),
plus behaviour: training lowers the loss, samples stop at <EOS> or at the cap, temperature."""

import numpy as np
import pytest
import torch

from rnnlib.data import names_corpus
from rnnlib.language_model import (
    char_vocabulary,
    initialize_parameters,
    loss_and_gradients,
    make_xy,
    model,
    optimize,
    perplexity,
    sample,
)
from rnnlib.optim import Adam

KEYS = ("Wax", "Waa", "ba", "Wya", "by")


def random_params(rng, n_a, n_x, scale=0.5):
    return {"Wax": scale * rng.standard_normal((n_a, n_x)),
            "Waa": scale * rng.standard_normal((n_a, n_a)),
            "ba": scale * rng.standard_normal((n_a, 1)),
            "Wya": scale * rng.standard_normal((n_x, n_a)),
            "by": scale * rng.standard_normal((n_x, 1))}


def torch_model(p, X, Y, a_prev):
    """The character model in torch ops: x<t> one-hot (None = 0), tanh RNN, summed NLL."""
    P = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    n_x = p["Wax"].shape[1]
    a = torch.tensor(a_prev)
    loss = torch.zeros(())
    for xi, yi in zip(X, Y, strict=True):
        x = torch.zeros(n_x, 1)
        if xi is not None:
            x[xi] = 1.0
        a = torch.tanh(P["Wax"] @ x + P["Waa"] @ a + P["ba"])
        loss = loss - torch.log_softmax(P["Wya"] @ a + P["by"], dim=0)[yi, 0]
    loss.backward()
    return loss.item(), {"d" + k: P[k].grad.numpy() for k in KEYS}, a.detach().numpy()


@pytest.fixture
def case(rng):
    n_a, n_x, T = 6, 9, 7
    p = random_params(rng, n_a, n_x)
    X = [None] + rng.integers(1, n_x, size=T - 1).tolist()
    Y = X[1:] + [0]
    return p, X, Y, 0.5 * rng.standard_normal((n_a, 1))


def test_loss_and_gradients_match_torch_autograd(case):
    p, X, Y, a_prev = case
    loss, grads, a = loss_and_gradients(X, Y, a_prev, p)
    ref_loss, ref_grads, ref_a = torch_model(p, X, Y, a_prev)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert set(grads) == set(ref_grads)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(a[:, :, -1], ref_a, rtol=1e-12)


@pytest.mark.parametrize("maxValue", [1e9, 0.05])  # no clipping, and heavy clipping
def test_optimize_is_forward_backward_clip_update(case, maxValue):
    p, X, Y, a_prev = case
    before = {k: v.copy() for k, v in p.items()}
    ref_loss, ref_grads, ref_a = torch_model(before, X, Y, a_prev)
    loss, grads, a_last = optimize(X, Y, a_prev, p, learning_rate=0.1, maxValue=maxValue)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(a_last, ref_a, rtol=1e-12)
    for k in KEYS:
        clipped = np.clip(ref_grads["d" + k], -maxValue, maxValue)
        np.testing.assert_allclose(grads["d" + k], clipped, rtol=1e-9, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(p[k], before[k] - 0.1 * clipped, rtol=1e-12, atol=1e-12)
    if maxValue < 1:
        assert max(np.abs(g).max() for g in grads.values()) == maxValue


def test_optimize_with_adam_lowers_the_loss(case):
    p, X, Y, a_prev = case
    opt = Adam(0.05)
    first = optimize(X, Y, a_prev, p, optimizer=opt)[0]
    for _ in range(30):
        last = optimize(X, Y, a_prev, p, optimizer=opt)[0]
    assert opt.t == 31 and last < 0.5 * first


def test_make_xy_is_the_course_pair():
    vocab = char_vocabulary(["abc", "ca"])
    assert make_xy("cab", vocab) == ([None, 3, 1, 2], [3, 1, 2, 0])
    course = {"\n": 0, "a": 1, "b": 2, "c": 3}
    assert make_xy("cab", course) == ([None, 3, 1, 2], [3, 1, 2, 0])


def torch_greedy(p, eos, max_length):
    """Greedy decoding written with torch ops: argmax of the logits, fed back in."""
    P = {k: torch.tensor(v) for k, v in p.items()}
    n_x = p["Wax"].shape[1]
    x, a, out = torch.zeros(n_x, 1), torch.zeros(p["Waa"].shape[0], 1), []
    while len(out) < max_length:
        a = torch.tanh(P["Wax"] @ x + P["Waa"] @ a + P["ba"])
        idx = int(torch.argmax(P["Wya"] @ a + P["by"]))
        out.append(idx)
        if idx == eos:
            break
        x = torch.zeros(n_x, 1)
        x[idx] = 1.0
    return out


def test_sampling_is_seeded_and_stops_at_eos_or_the_cap(rng):
    vocab = char_vocabulary(["abcdefgh"])
    p = random_params(rng, 8, len(vocab), scale=1.0)
    p["by"][0] = 2.0  # <EOS> likely enough that samples end
    samples = [sample(p, vocab, seed=s) for s in range(20)]
    assert samples == [sample(p, vocab, seed=s) for s in range(20)]  # same seed, same sample
    assert len({tuple(s) for s in samples}) > 10
    for s in samples:
        assert s[-1] == 0 and 0 not in s[:-1] and len(s) <= 50
    # <EOS> made impossible: every sample runs to the cap.
    p["by"][0] = -1e4
    for seed in range(3):
        s = sample(p, vocab, seed=seed, max_length=17)
        assert len(s) == 17 and 0 not in s


def test_temperature_zero_and_near_zero_are_greedy(rng):
    vocab = char_vocabulary(["abcdefgh"])
    p = random_params(rng, 8, len(vocab), scale=1.0)
    expected = torch_greedy(p, 0, 30)
    assert sample(p, vocab, temperature=0, max_length=30) == expected
    for seed in range(3):
        assert sample(p, vocab, seed=seed, temperature=1e-3, max_length=30) == expected


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_first_symbol_follows_the_tempered_softmax(rng, temperature):
    """x<1> = 0, a<0> = 0: the first draw follows softmax((Wya tanh(ba) + by) / T)."""
    vocab = {"\n": 0, "a": 1, "b": 2, "c": 3, "d": 4}
    p = random_params(rng, 3, 5, scale=0.2)
    p["by"] = np.array([[0.0], [0.5], [1.0], [1.5], [2.0]])
    z = torch.tensor(p["Wya"]) @ torch.tanh(torch.tensor(p["ba"])) + torch.tensor(p["by"])
    expected = torch.softmax(z[:, 0] / temperature, dim=0).numpy()
    n = 4000
    firsts = [sample(p, vocab, seed=s, temperature=temperature, max_length=1)[0]
              for s in range(n)]
    freq = np.bincount(firsts, minlength=5) / n
    np.testing.assert_allclose(freq, expected, atol=0.03)


def test_perplexity_uniform_and_against_torch(rng):
    names = ["bad", "cab", "a", "decade"]
    vocab = char_vocabulary(names)
    p = random_params(rng, 5, len(vocab))
    uniform = dict(p, Wya=np.zeros_like(p["Wya"]), by=np.zeros_like(p["by"]))
    assert perplexity(uniform, names, vocab) == pytest.approx(len(vocab), rel=1e-12)
    total = count = 0
    for name in names:
        X, Y = make_xy(name, vocab)
        total += torch_model(p, X, Y, np.zeros((5, 1)))[0]
        count += len(Y)
    assert perplexity(p, names, vocab) == pytest.approx(np.exp(total / count), rel=1e-12)


def test_model_learns_names_and_samples_end_at_eos(capsys):
    corpus = names_corpus(seed=3)
    names, held_out = corpus[:600], corpus[600:1200]
    vocab = char_vocabulary(names)
    initial = perplexity(initialize_parameters(50, len(vocab), len(vocab), seed=0), held_out,
                         vocab)
    params, history = model(names, vocab, num_iterations=3000, print_every=1000, n_samples=3)
    out = capsys.readouterr().out
    assert "Iteration: 0, Loss:" in out and "Iteration: 2000, Loss:" in out
    assert len(history.loss) == len(history.smooth) == 3000
    assert np.mean(history.loss[-500:]) < 0.9 * np.mean(history.loss[:200])
    # Untrained: uniform over 27 symbols. After ~1 s of training (measured: 13.0 on names it
    # has not seen; 12.5 on its own).
    assert initial == pytest.approx(27, rel=0.01)
    assert perplexity(params, held_out, vocab) < 15
    for seed in range(20):
        s = sample(params, vocab, seed=seed)
        assert s[-1] == vocab.eos_index and len(s) < 50
        assert vocab.decode(s).isalpha() or s == [0]


def test_model_is_reproducible_and_accepts_the_course_dict():
    names = ["anna", "bob", "cecile", "dave"]
    char_to_ix = {"\n": 0, **{c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}}
    p1, h1 = model(names, char_to_ix, num_iterations=50, n_a=8, verbose=False, seed=4)
    p2, h2 = model(names, char_to_ix, num_iterations=50, n_a=8, verbose=False, seed=4)
    assert h1.loss == h2.loss and all(np.array_equal(p1[k], p2[k]) for k in KEYS)
    assert p1["Wax"].shape == (8, 27)
    assert sample(p1, char_to_ix, seed=1) == sample(p2, char_to_ix, seed=1)


def test_bad_inputs_raise_clear_errors(case):
    p, X, Y, a_prev = case
    vocab = char_vocabulary(["abcdefgh"])
    with pytest.raises(ValueError, match=r"X and Y must be equally long non-empty sequences, "
                                         r"got len\(X\) = 7, len\(Y\) = 6"):
        optimize(X, Y[:-1], a_prev, p)
    with pytest.raises(ValueError, match=r"parameters is missing key\(s\) 'by'"):
        sample({k: v for k, v in p.items() if k != "by"}, vocab)
    with pytest.raises(ValueError, match=r"temperature must be a number >= 0, got -1"):
        sample(p, vocab, temperature=-1)
    with pytest.raises(ValueError, match=r"max_length must be a positive integer, got 0"):
        sample(p, vocab, max_length=0)
    with pytest.raises(ValueError, match=r"token 'z' at position 1 is not in the vocabulary"):
        make_xy("az", vocab)
    with pytest.raises(ValueError, match=r"char_to_ix dict must map the end token"):
        sample(p, {"a": 0})
    with pytest.raises(ValueError, match=r"a0 has shape \(6, 2\)"):
        optimize(X, Y, np.zeros((6, 2)), p)
    with pytest.raises(ValueError, match=r"index 9 at position \(1,\) is out of range \[0, 9\)"):
        optimize([None, 9], [1, 2], a_prev, p)
