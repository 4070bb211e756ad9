"""Decoding a sequence model's output: greedy search and beam search (numpy).

A decoder gives P(y<t> | x, y<1> ... y<t-1>) one step at a time. The output the model likes
best is ŷ = argmax_y Σ_t log P(y<t> | x, y<<t>), a search over V^{T_y} sequences.

    greedy_decode  take the most likely token at every step and feed it back in: fast, but a
                   choice that looks best now may force worse ones later
    beam_search    keep the B most likely partial outputs (the beam) at every step, extend
                   each by every token, keep the B best of the B V extensions; B = 1 is
                   greedy, B = V^{T_y - 1} is exhaustive (exact)
    sequence_log_prob  the log-probability of a given output: to score any decoder's answer

Both decoders talk to the model through one function

    step(tokens, state) -> (log_probs, new_state)

tokens (k,) int: the last token of each of k partial outputs (the start token at the first
step); state: the model's state for those k outputs (a numpy array, or a tuple/list of them,
with k on axis 0); log_probs (k, V): log P(next token | each partial output). The search
reorders the state with ``reorder(state, rows)`` (default: take rows on axis 0 of every
array).
"""

import numpy as np


def _take_rows(state, rows):
    if isinstance(state, (tuple, list)):
        return type(state)(_take_rows(s, rows) for s in state)
    return np.asarray(state)[rows]


def _check(func, max_len, eos, width=1):
    for name, v in (("max_len", max_len), ("beam_width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{func}: {name} must be a positive integer, got {v!r}")
    if eos is not None and (isinstance(eos, bool) or not isinstance(eos, (int, np.integer))):
        raise ValueError(f"{func}: eos must be a token index or None, got {eos!r}")


def _log_probs(func, out, k):
    logp, state = out
    logp = np.asarray(logp, dtype=np.float64)
    if logp.ndim != 2 or logp.shape[0] != k:
        raise ValueError(f"{func}: step returned log_probs of shape {logp.shape}, expected "
                         f"(k, V) with k = {k} partial outputs")
    return logp, state


def greedy_decode(step, state, start, max_len, eos=None):
    """The most likely token at every step, fed back in, until ``eos`` or ``max_len`` tokens.

    ``state`` is the state for one output (k = 1 on axis 0). Returns (tokens, log-prob): the
    list of output indices (ending with ``eos`` if it was chosen) and Σ_t log P(y<t> | ...).
    """
    func = "greedy_decode"
    _check(func, max_len, eos)
    tokens, total, last = [], 0.0, np.array([start])
    for _ in range(max_len):
        logp, state = _log_probs(func, step(last, state), 1)
        tok = int(np.argmax(logp[0]))
        total += float(logp[0, tok])
        tokens.append(tok)
        if tok == eos:
            break
        last = np.array([tok])
    return tokens, total


def beam_search(step, state, start, beam_width, max_len, eos=None, reorder=_take_rows):
    """The ``beam_width`` most likely outputs that beam search finds, best first.

    At every step each partial output in the beam is extended by every token and scored by
    its log-probability Σ_t log P(y<t> | ...); the ``beam_width`` best extensions stay. An
    extension that ends with ``eos`` is finished and leaves the beam. The search stops after
    ``max_len`` tokens, or once ``beam_width`` finished outputs score at least as high as every
    partial one (log-probabilities only fall as an output grows). Ties keep the lower token index.

    Returns a list of (tokens, log-prob), at most ``beam_width`` long, sorted by log-prob,
    highest first. tokens[0] of the first entry is the search's answer.
    """
    func = "beam_search"
    _check(func, max_len, eos, beam_width)
    beams = [[]]                       # partial outputs
    scores = np.zeros(1)               # their log-probabilities
    last = np.array([start])
    finished = []
    for _ in range(max_len):
        logp, state = _log_probs(func, step(last, state), len(beams))
        V = logp.shape[1]
        cand = (scores[:, None] + logp).ravel()            # (k V,): every extension's score
        order = np.argsort(-cand, kind="stable")[:beam_width]
        rows, toks = order // V, order % V
        keep = []
        for r, tok, s in zip(rows, toks, cand[order], strict=True):
            seq = beams[r] + [int(tok)]
            if eos is not None and tok == eos:
                finished.append((seq, float(s)))
            else:
                keep.append((r, seq, s))
        if not keep:
            break
        rows = np.array([r for r, _, _ in keep])
        beams = [seq for _, seq, _ in keep]
        scores = np.array([s for _, _, s in keep])
        state = reorder(state, rows)
        last = np.array([seq[-1] for seq in beams])
        best = sorted((s for _, s in finished), reverse=True)
        if len(best) >= beam_width and best[beam_width - 1] >= scores.max():
            break  # no partial output can overtake the beam_width best finished ones
    else:
        finished += [(seq, float(s)) for seq, s in zip(beams, scores, strict=True)]
    finished.sort(key=lambda pair: -pair[1])
    return finished[:beam_width]


def sequence_log_prob(step, state, start, tokens):
    """Σ_t log P(tokens[t] | tokens[:t]): the model's log-probability of one given output."""
    if not len(tokens):
        raise ValueError("sequence_log_prob: tokens is empty")
    total, last = 0.0, np.array([start])
    for tok in tokens:
        logp, state = _log_probs("sequence_log_prob", step(last, state), 1)
        total += float(logp[0, tok])
        last = np.array([tok])
    return total
