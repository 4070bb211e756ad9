"""Shared pieces of the fast sequence functions (rnn_forward/backward, gru_*, lstm_*).

The cell functions are written for reading; the sequence functions are the fast path. They
compute exactly the same thing (tests compare them with the cells to 1e-12), organised for
numpy: everything that does not depend on the previous step is done for all T_x steps at once
(the input projection before the loop, the weight gradients after it, each one matmul), the
gates are stacked into one matmul per step, and the loop writes into preallocated arrays.

Inside, arrays are time-major with the examples in rows: a sequence (n, m, T_x) in the course
layout is stored as (T_x, m, n), so each step is one contiguous (m, n) block and a weight W of
the notes acts as ``block @ W.T``. Caches stay as documented (the course's list of cell
caches, whose entries are views of these arrays) and carry the arrays in ``.fast``. Returned
sequences are views of these arrays in the course's shape (n, m, T_x): same values and shapes
as before, but not C-contiguous, and read-only where the cache keeps the data.
"""

import numpy as np

from .activations import softmax


class SequenceCache(tuple):
    """``(list of T_x cell caches, x)``, the course's sequence cache, plus ``fast``: the
    time-major arrays the sequence backward reads (``None`` when built by hand)."""

    def __new__(cls, items, fast=None):  # the default lets pickle and deepcopy rebuild it
        self = super().__new__(cls, items)
        self.fast = fast
        return self


def time_major(v, dtype):
    """(n, m, T_x) -> contiguous (T_x, m, n) in ``dtype``."""
    return np.ascontiguousarray(v.transpose(2, 1, 0), dtype=dtype)


def course_view(V, readonly=False):
    """(T_x, m, n) -> the course's (n, m, T_x), as a view (no copy).

    A transposing copy costs about as much as a few time steps, so sequence functions return
    views. Views of arrays a cache keeps are made read-only: writing into them would silently
    change what the backward pass computes (``.copy()`` gives a writable array).
    """
    view = V.transpose(2, 1, 0)
    if readonly:
        view.flags.writeable = False
    return view


def output_layer(H, Wy, by):
    """ŷ<t> = softmax(Wy a<t> + by) for all t at once; H (T_x, m, n_a) -> (n_y, m, T_x)."""
    T_x, m, n_a = H.shape
    logits = (H.reshape(T_x * m, n_a) @ Wy.T.astype(H.dtype) + by.T.astype(H.dtype))
    return softmax(logits.reshape(T_x, m, -1).transpose(2, 1, 0))


def stacked(p, keys, dtype):
    """The weights (or biases) named by ``keys`` stacked row-wise into one array of ``dtype``."""
    return np.concatenate([np.asarray(p[k], dtype=dtype) for k in keys], axis=0)
