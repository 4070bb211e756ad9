"""Losses over time, each returning ``(loss, gradient)``: softmax cross-entropy and mean squared
error.

Shapes follow the course: classes first, examples second, time last.

    logits   (n_y, m, T_y)  z<t> = Wya a<t> + by, before the softmax
    y_hat    (n_y, m, T_y)  ŷ<t> = softmax(z<t>): what rnn_forward returns as y_pred
    targets  (m, T_y)       integer class of y<t> for each example and step, or
             (n_y, m, T_y)  one-hot y<t> (any probability distribution over the classes works)
    mask     (m, T_y)       1 (True) where example i has a step t, 0 (False) past its end:
                            inputs and outputs differ in length between examples (the notes)

A single step without a time axis is accepted too: logits (n_y, m), targets (m,) or (n_y, m),
mask (m,); the gradient then has shape (n_y, m).

Cross-entropy at one position: L<t> = -Σ_k y_k<t> log ŷ_k<t>. ``reduction`` says how the
positions are combined, counting unmasked positions only:

    "sum"  (default) Σ over examples and time: the course's character model sums over time
    "mean" the sum divided by the number of unmasked positions (PyTorch's
           ``F.cross_entropy(..., reduction="mean")`` with the padded positions dropped)

The gradient is taken with respect to the logits z, whichever function is called:
dL/dz<t> = ŷ<t> - y<t> at unmasked positions (divided by their count for "mean"), 0 at masked
ones. A backward pass continues with dWya = Σ_t dz<t> a<t>ᵀ, dby = Σ_t dz<t>, da<t> = Wyaᵀ dz<t>.
"""

import numpy as np

from .checks import as_float_array, expect_finite, expect_shape

REDUCTIONS = ("sum", "mean")


def _log_softmax(z):
    """log softmax over axis 0, without overflow."""
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def _check_reduction(func, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{func}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _check_scores(func, name, value):
    """The model's output (n_y, m, T_y), or (n_y, m) for one step. Returns (array, squeeze)."""
    if isinstance(value, np.ndarray) and value.ndim == 2:
        value = as_float_array(func, name, value, 2, "(n_y, m)")
        expect_finite(func, name, value)
        return value[:, :, None], True
    value = as_float_array(func, name, value, 3, "(n_y, m, T_y)")
    expect_finite(func, name, value)
    return value, False


def _check_mask(func, mask, m, T_y, squeeze):
    """Returns a float mask of shape (m, T_y) holding 0s and 1s."""
    symbols, expected = ("(m,)", (m,)) if squeeze else ("(m, T_y)", (m, T_y))
    if mask is None:
        return np.ones((m, T_y))
    mask = np.asarray(mask)
    if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
        raise ValueError(f"{func}: mask has dtype {mask.dtype}, expected bool or 0/1 numbers")
    expect_shape(func, "mask", mask, expected, symbols)
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{func}: mask must hold only 0/1 (or False/True) values")
    return mask.reshape(m, T_y).astype(np.float64)


def _check_targets(func, targets, n_y, m, T_y, squeeze, mask):
    """The targets as a one-hot (or soft) array (n_y, m, T_y), zero where masked."""
    targets = np.asarray(targets)
    index_symbols, index_shape = ("(m,)", (m,)) if squeeze else ("(m, T_y)", (m, T_y))
    dense_symbols, dense_shape = ("(n_y, m)", (n_y, m)) if squeeze else (
        "(n_y, m, T_y)", (n_y, m, T_y))
    if np.issubdtype(targets.dtype, np.integer):
        expect_shape(func, "targets (class indices)", targets, index_shape, index_symbols)
        idx = targets.reshape(m, T_y)
        bad = ((idx < 0) | (idx >= n_y)) & (mask > 0)
        if bad.any():
            i, t = np.argwhere(bad)[0]
            raise ValueError(
                f"{func}: targets holds class index {idx[i, t]} at example {i}, step {t}; "
                f"expected 0 <= index < n_y = {n_y}"
            )
        dense = np.zeros((n_y, m, T_y))
        ii, tt = np.nonzero(mask)
        dense[idx[ii, tt], ii, tt] = 1.0
        return dense
    if not np.issubdtype(targets.dtype, np.floating):
        raise ValueError(
            f"{func}: targets has dtype {targets.dtype}; expected integer class indices of shape "
            f"{index_symbols} or one-hot floats of shape {dense_symbols}"
        )
    if targets.shape == index_shape and targets.shape != dense_shape:
        raise ValueError(
            f"{func}: targets has shape {targets.shape} but a float dtype: class indices of shape "
            f"{index_symbols} must be integers (use .astype(int)); one-hot targets have shape "
            f"{dense_symbols}"
        )
    expect_shape(func, "targets (one-hot)", targets, dense_shape, dense_symbols)
    expect_finite(func, "targets", targets)
    dense = targets.reshape(n_y, m, T_y) * mask
    sums = dense.sum(axis=0)
    if np.any(dense < 0) or not np.allclose(sums[mask > 0], 1.0, atol=1e-6):
        raise ValueError(
            f"{func}: one-hot targets must be non-negative with each column y<t> summing to 1 "
            f"at every unmasked position"
        )
    return dense


def _cross_entropy(func, log_probs, probs, y, mask, reduction):
    with np.errstate(invalid="ignore"):  # 0 * log(0) is 0 here, not NaN
        per_position = -np.where(y > 0, y * log_probs, 0.0).sum(axis=0)  # (m, T_y)
    count = mask.sum()
    if reduction == "mean":
        if count == 0:
            raise ValueError(f"{func}: mask hides every position; the mean is undefined")
        scale = 1.0 / count
    else:
        scale = 1.0
    loss = float(per_position.sum() * scale)
    dz = (probs * y.sum(axis=0) - y) * mask * scale
    return loss, dz


def softmax_cross_entropy(logits, targets, mask=None, reduction="sum"):
    """Cross-entropy of softmax(logits) against targets, summed (or averaged) over positions.

    Arguments:
        logits     (n_y, m, T_y)  z<t>, before the softmax (computed stably, in log space)
        targets    (m, T_y) integer classes, or (n_y, m, T_y) one-hot
        mask       (m, T_y) of 0/1 or bool, optional: positions past an example's end are 0
        reduction  "sum" (default: Σ over unmasked positions) or "mean" (÷ their number)

    Returns:
        loss     float
        dlogits  (n_y, m, T_y)  dL/dz = (softmax(z) - y) * mask (÷ count for "mean")
    """
    func = "softmax_cross_entropy"
    _check_reduction(func, reduction)
    z, squeeze = _check_scores(func, "logits", logits)
    n_y, m, T_y = z.shape
    mask = _check_mask(func, mask, m, T_y, squeeze)
    y = _check_targets(func, targets, n_y, m, T_y, squeeze, mask)
    log_probs = _log_softmax(z)
    loss, dz = _cross_entropy(func, log_probs, np.exp(log_probs), y, mask, reduction)
    return loss, dz[:, :, 0] if squeeze else dz


def cross_entropy(y_hat, targets, mask=None, reduction="sum"):
    """Cross-entropy of probabilities ŷ = softmax(z) (e.g. rnn_forward's y_pred) against targets.

    Same as ``softmax_cross_entropy`` but starting from the softmax's output, as the course's
    forward pass does. A probability of exactly 0 at a target gives an infinite loss.

    Arguments:
        y_hat      (n_y, m, T_y)  ŷ<t>, each column a probability distribution
        targets    (m, T_y) integer classes, or (n_y, m, T_y) one-hot
        mask       (m, T_y) of 0/1 or bool, optional
        reduction  "sum" (default) or "mean"

    Returns:
        loss     float
        dlogits  (n_y, m, T_y)  dL/dz = (ŷ - y) * mask (÷ count for "mean"): the gradient with
                 respect to the logits z that produced ŷ, not with respect to ŷ
    """
    func = "cross_entropy"
    _check_reduction(func, reduction)
    p, squeeze = _check_scores(func, "y_hat", y_hat)
    n_y, m, T_y = p.shape
    if np.any(p < 0) or not np.allclose(p.sum(axis=0), 1.0, atol=1e-6):
        raise ValueError(
            f"{func}: every column of y_hat must be a probability distribution over the n_y = "
            f"{n_y} classes (non-negative, summing to 1); for logits use softmax_cross_entropy"
        )
    mask = _check_mask(func, mask, m, T_y, squeeze)
    y = _check_targets(func, targets, n_y, m, T_y, squeeze, mask)
    with np.errstate(divide="ignore"):
        log_probs = np.log(p)
    loss, dz = _cross_entropy(func, log_probs, p, y, mask, reduction)
    return loss, dz[:, :, 0] if squeeze else dz


def mean_squared_error(y_hat, y, reduction="mean"):
    """Squared error between prediction and target, averaged (default) or summed over all entries.

    Arguments:
        y_hat      any shape, e.g. (n_y, m) for the adding problem's single output, or
                   (n_y, m, T_y) for an output at every step
        y          same shape as y_hat
        reduction  "mean" (default: ÷ y_hat.size, as PyTorch's F.mse_loss) or "sum"

    Returns:
        loss    float
        dy_hat  same shape as y_hat: 2 (ŷ - y) (÷ y_hat.size for "mean")
    """
    func = "mean_squared_error"
    _check_reduction(func, reduction)
    y_hat = as_float_array(func, "y_hat", y_hat, np.ndim(y_hat), "the shape of y")
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        y = np.asarray(y, dtype=np.float64)
    y = as_float_array(func, "y", y, np.ndim(y), "the shape of y_hat")
    if y_hat.shape != y.shape:
        raise ValueError(
            f"{func}: y_hat has shape {y_hat.shape} but y has shape {y.shape}; they must match"
        )
    if y_hat.size == 0:
        raise ValueError(f"{func}: y_hat is empty (shape {y_hat.shape})")
    expect_finite(func, "y_hat", y_hat)
    expect_finite(func, "y", y)
    scale = 1.0 / y_hat.size if reduction == "mean" else 1.0
    diff = y_hat - y
    return float(np.sum(diff * diff) * scale), 2.0 * diff * scale
