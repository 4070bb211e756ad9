"""The real-text corpus, sequential minibatches, the n-gram baselines and truncated BPTT."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from rnnlib import torch_lm
from rnnlib.corpus import python_docs_text, sequential_batches, split_text
from rnnlib.ngram import NGram
from rnnlib.text import Vocabulary, tokenize


def test_python_docs_text_is_real_prose_of_the_stated_size():
    text = python_docs_text()
    assert 150_000 < len(text) < 200_000          # "about 166,000 characters" in the docstring
    assert 30_000 < len(tokenize(text)) < 40_000  # "35,000 words and punctuation marks"
    assert text.isascii() and "\t" not in text
    paragraphs = text.split("\n")
    assert len(paragraphs) == len(set(paragraphs)) > 500
    assert "An assignment statement evaluates the expression list" in text
    assert "::=" not in text                      # grammar rules are dropped
    vocab = Vocabulary.build([text], level="char", eos="\n", unk=None)
    assert len(vocab) < 100
    assert vocab.decode(vocab.encode(text), stop_at_eos=False) == text


def test_sequential_batches_continue_each_stream():
    ids = np.arange(1000)
    X, Y = sequential_batches(ids, m=4, T=10)
    L = 999 // 4
    assert X.shape == Y.shape == (L // 10, 4, 10)
    streams = np.concatenate(list(X), axis=1)     # batch k+1 continues batch k, row by row
    np.testing.assert_array_equal(streams, np.arange(4 * L).reshape(4, L)[:, : X.shape[0] * 10])
    np.testing.assert_array_equal(Y, X + 1)       # the target is the next token
    with pytest.raises(ValueError, match="make no batch"):
        sequential_batches(np.arange(20), m=4, T=10)
    with pytest.raises(ValueError, match="1-D integer"):
        sequential_batches(np.zeros(50), m=2, T=3)


def test_split_text_keeps_order():
    a, b = split_text(list(range(10)), 0.2)
    assert a == list(range(8)) and b == [8, 9]


def test_ngram_perplexity_against_direct_counting():
    g = np.random.default_rng(0)
    V = 5
    train, test = g.integers(0, V, 300), g.integers(0, V, 60)
    ng = NGram(train, V, k=1.0)
    uni = Counter(train.tolist())
    pu = {w: (uni[w] + 1) / (len(train) + V) for w in range(V)}
    ref1 = math.exp(-np.mean([math.log(pu[w]) for w in test[1:]]))
    assert ng.perplexity(test, order=1) == pytest.approx(ref1, rel=1e-12)
    pairs = Counter(zip(train[:-1].tolist(), train[1:].tolist(), strict=True))
    after = Counter(train[:-1].tolist())
    lam = 0.7
    ref2 = math.exp(-np.mean([
        math.log(lam * pairs[(p, w)] / after[p] + (1 - lam) * pu[w])
        for p, w in zip(test[:-1].tolist(), test[1:].tolist(), strict=True)]))
    assert ng.perplexity(test, order=2, lam=lam) == pytest.approx(ref2, rel=1e-12)
    np.testing.assert_allclose(ng.bigram(lam).sum(axis=1), 1.0)


def test_model_perplexity_is_exp_of_mean_cross_entropy():
    model = torch_lm.TokenLM(7, n_a=8, n_e=4, seed=0)
    ids = np.random.default_rng(1).integers(0, 7, 50)
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(ids[None, :-1]))
        ref = math.exp(torch.nn.functional.cross_entropy(logits[0], torch.as_tensor(ids[1:]))
                       .item())
    assert torch_lm.perplexity(model, ids, chunk=7) == pytest.approx(ref, rel=1e-5)


def test_full_length_truncation_is_full_bptt_and_short_truncation_differs():
    model = torch_lm.TokenLM(6, n_a=8, n_e=4, seed=0).double()
    g = np.random.default_rng(2)
    X = torch.as_tensor(g.integers(0, 6, (3, 40)))
    Y = torch.as_tensor(g.integers(0, 6, (3, 40)))
    full = torch_lm.bptt_gradient(model, X, Y, None)
    np.testing.assert_allclose(torch_lm.bptt_gradient(model, X, Y, 40), full, rtol=1e-10)
    # the weights that only act through time (W_hh) lose their long paths when truncated
    assert np.linalg.norm(torch_lm.bptt_gradient(model, X, Y, 2) - full) > 1e-3 * np.linalg.norm(
        full)
    # the loss is the same: the chunked losses weighted by length add up to the full mean
    _, b_full = torch_lm.saved_bytes(lambda: model(X)[0].sum())
    _, b_short = torch_lm.saved_bytes(lambda: model(X[:, :10])[0].sum())
    assert b_short < b_full / 3                   # memory grows with the steps kept


def test_sample_rejects_tokens_and_is_seeded():
    model = torch_lm.TokenLM(5, n_a=8, n_e=4, seed=0)
    a = torch_lm.sample(model, [2], 200, temperature=2.0, reject=[1], seed=3)
    assert 1 not in a and len(a) == 200
    assert a == torch_lm.sample(model, [2], 200, temperature=2.0, reject=[1], seed=3)
    with pytest.raises(ValueError, match="temperature"):
        torch_lm.sample(model, [2], 5, temperature=0)
