"""Beam search and greedy decoding against brute-force enumeration on a tiny vocabulary."""

import itertools

import numpy as np
import pytest

from rnnlib.decoding import beam_search, greedy_decode, sequence_log_prob


def tiny_model(V=3, n=4, seed=0, sharp=2.0):
    """A random tiny RNN as a step function: its log-probs depend on the whole prefix."""
    g = np.random.default_rng(seed)
    W, E, U = g.normal(size=(n, n)), g.normal(size=(V, n)), sharp * g.normal(size=(n, V))

    def step(tokens, state):
        state = np.tanh(state @ W + E[tokens])                        # (k, n)
        z = state @ U
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True)), state

    return step, np.zeros((1, n))


def brute_force(step, state0, V, T, eos=None):
    """Every output of at most T tokens (ending at eos, or T long) with its log-prob."""
    out = {}
    for seq in itertools.product(range(V), repeat=T):
        if eos is not None and eos in seq:
            seq = seq[: seq.index(eos) + 1]
        if seq not in out:
            out[seq] = sequence_log_prob(step, state0, 0, list(seq))
    return sorted(out.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("eos", [None, 2])
def test_unpruned_beam_is_exhaustive_search(seed, eos):
    V, T = 3, 4
    step, s0 = tiny_model(V, seed=seed)
    ref = brute_force(step, s0, V, T, eos)
    B = V ** T  # wide enough never to prune
    got = beam_search(step, s0, 0, B, T, eos=eos)
    assert got[0][0] == list(ref[0][0])
    np.testing.assert_allclose(got[0][1], ref[0][1], rtol=1e-12)
    # and the whole list is the exact top B, scores included
    k = min(len(ref), 10)
    np.testing.assert_allclose([s for _, s in got[:k]], [s for _, s in ref[:k]], rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("eos", [None, 1])
def test_beam_of_one_is_greedy(seed, eos):
    step, s0 = tiny_model(4, seed=seed)
    g_tokens, g_score = greedy_decode(step, s0, 0, 6, eos=eos)
    (b_tokens, b_score), = beam_search(step, s0, 0, 1, 6, eos=eos)
    assert b_tokens == g_tokens
    np.testing.assert_allclose(b_score, g_score, rtol=1e-12)


def test_scores_are_the_outputs_log_probabilities_and_beam_beats_greedy_somewhere():
    wins = 0
    for seed in range(40):
        step, s0 = tiny_model(3, seed=seed, sharp=1.0)
        beams = beam_search(step, s0, 0, 3, 5)
        for tokens, score in beams:
            np.testing.assert_allclose(score, sequence_log_prob(step, s0, 0, tokens),
                                       rtol=1e-12)
        greedy = greedy_decode(step, s0, 0, 5)[1]
        wins += beams[0][1] > greedy + 1e-9
        # the best of the beam is never better than the exact optimum
        assert beams[0][1] <= brute_force(step, s0, 3, 5)[0][1] + 1e-12
    assert wins > 0, "on 40 random models beam search never beat greedy: the test is vacuous"


def test_bad_arguments_raise():
    step, s0 = tiny_model()
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step, s0, 0, 0, 3)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(step, s0, 0, 0)
    with pytest.raises(ValueError, match=r"\(k, V\)"):
        beam_search(lambda t, s: (np.zeros(3), s), s0, 0, 2, 3)


def test_seq2seq_step_function_matches_the_teacher_forced_model():
    """decoder_step, one token at a time, gives the log-probs of the batched teacher-forced
    forward pass on the same prefix (two code paths through the same model)."""
    import torch

    from rnnlib import seq2seq
    from rnnlib.text import Vocabulary

    src = Vocabulary(list("abc "), unk=None)
    tgt = Vocabulary(list("0123456789-"), unk=None)
    model = seq2seq.EncoderDecoder(len(src), len(tgt), n_a=8, seed=0)
    x, mask, y = seq2seq.batch_arrays([("ab ca", "2001-02-03")], src, tgt)
    with torch.no_grad():
        ref = torch.log_softmax(model(x, mask, y), dim=-1)[0].double().numpy()   # (T_y, V)
    step, state = seq2seq.decoder_step(model, x, mask)
    prev = [0] + y[0, :-1].tolist()
    for t, tok in enumerate(prev):
        logp, state = step(np.array([tok, tok]), tuple(np.repeat(s, 2, axis=0)
                                                       for s in state) if t == 0 else state)
        np.testing.assert_allclose(logp[0], ref[t], atol=1e-5)
        np.testing.assert_allclose(logp[1], ref[t], atol=1e-5)
    # greedy_decode on the step function = the model's own batched greedy decoding
    tokens, _ = greedy_decode(*seq2seq.decoder_step(model, x, mask), 0, 10)
    assert tokens == model.greedy(x, mask)[0].tolist()
