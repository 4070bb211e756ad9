"""Count-based baselines for a language model: unigram and bigram perplexity.

A language model is only as good as what it beats. The two simplest ones:

    unigram  P(y<t>) = (count(y) + k) / (N + k V)                     ignores the past
    bigram   P(y<t> | y<t-1>) = λ P_ML(y<t> | y<t-1>) + (1 - λ) P_uni(y<t>)
             (interpolated with the unigram, so that a pair never seen in training keeps
             a probability above zero)

``perplexity`` is exp of the mean cross-entropy per predicted token, as for the RNN, so the
numbers compare directly.
"""

import numpy as np


def _ids(func, ids, V):
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) < 2:
        raise ValueError(f"{func}: ids must be a 1-D integer sequence of length >= 2, got "
                         f"dtype {ids.dtype} and shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"{func}: ids must lie in [0, V = {V}), got [{ids.min()}, {ids.max()}]")
    return ids


class NGram:
    """Unigram and interpolated bigram probabilities counted on a training sequence.

    Arguments:
        train_ids  1-D token indices of the training text
        V          the vocabulary size
        k          add-k smoothing of the unigram (every token keeps a probability > 0)
    """

    def __init__(self, train_ids, V, k=1.0):
        ids = _ids("NGram", train_ids, V)
        self.V = V
        counts = np.bincount(ids, minlength=V).astype(float)
        self.unigram = (counts + k) / (counts.sum() + k * V)  # (V,)
        pairs = np.zeros((V, V))
        np.add.at(pairs, (ids[:-1], ids[1:]), 1.0)
        rows = pairs.sum(axis=1, keepdims=True)
        # P_ML(next | prev); a prev never followed by anything in training falls back to 0.
        self.bigram_ml = np.divide(pairs, rows, out=np.zeros_like(pairs), where=rows > 0)

    def bigram(self, lam):
        """(V, V): row p is P(next | prev = p), λ P_ML + (1 - λ) P_uni."""
        if not 0 <= lam < 1:
            raise ValueError(f"NGram.bigram: lam must be in [0, 1), got {lam!r}")
        return lam * self.bigram_ml + (1 - lam) * self.unigram[None, :]

    def perplexity(self, ids, order=2, lam=0.8):
        """exp(mean -log P(y<t> | ...)) over the tokens ids[1:] of a held-out sequence."""
        ids = _ids("NGram.perplexity", ids, self.V)
        if order == 1:
            p = self.unigram[ids[1:]]
        elif order == 2:
            p = self.bigram(lam)[ids[:-1], ids[1:]]
        else:
            raise ValueError(f"NGram.perplexity: order must be 1 or 2, got {order!r}")
        return float(np.exp(-np.mean(np.log(p))))
