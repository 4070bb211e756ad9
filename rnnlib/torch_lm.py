"""A token-level language model in PyTorch, trained with truncated backpropagation through time.

The model is the notes' language model: ŷ<t> = softmax(Wy a<t> + by) is the distribution of
the next token given x<1> ... x<t>, with a<t> the state of an LSTM (nn.LSTM, which holds
exactly rnnlib's "lstm" cell; see rnnlib.pytorch). Inputs are token indices; an embedding
(a learned lookup, the same as a one-hot x<t> times a weight matrix) feeds the LSTM.

Truncated BPTT. A long text is cut into minibatches by sequential partitioning
(rnnlib.corpus.sequential_batches): row i of batch k+1 continues row i of batch k. The state
a<T> at the end of one batch is the initial state of the next, so the model reads every
stream from its start; but the state is *detached* first, so that backpropagation stops at
the batch boundary: gradients flow back at most T steps, and memory holds T steps.

    TokenLM          embedding -> nn.LSTM -> linear head; forward(X (m, T), state)
    train_tbptt      the training loop: state carried across batches and detached
    perplexity       exp(mean cross-entropy) of a held-out sequence, read as one stream
    sample           generate one token at a time at a temperature, rejecting some tokens
    bptt_gradient    the gradient of a stream's loss with truncation length k (None: full)
    saved_bytes      how many bytes autograd keeps for the backward pass of a function
"""

import math
import time

import numpy as np
import torch
from torch import nn


class TokenLM(nn.Module):
    """Embedding (V -> n_e), nn.LSTM (n_e -> n_a), linear head (n_a -> V).

    forward(X, state=None): X (m, T) int64 token indices; returns logits (m, T, V) (the
    softmax's input, Wy a<t> + by) and the final state (h, c), each (1, m, n_a).
    """

    def __init__(self, V, n_a=128, n_e=32, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.V, self.n_a = V, n_a
        self.embed = nn.Embedding(V, n_e)
        self.rnn = nn.LSTM(n_e, n_a, batch_first=True)
        self.head = nn.Linear(n_a, V)

    def forward(self, X, state=None):
        a, state = self.rnn(self.embed(X), state)
        return self.head(a), state


def _detach(state):
    return None if state is None else tuple(s.detach() for s in state)


def _loss(model, X, Y, state):
    logits, state = model(X, state)
    return nn.functional.cross_entropy(logits.reshape(-1, model.V), Y.reshape(-1)), state


def train_tbptt(model, X, Y, steps, lr=0.01, clip=1.0, eval_every=None, heldout=None,
                carry_state=True):
    """Train ``model`` on minibatches X, Y (n_batches, m, T) with truncated BPTT.

    Batches are taken in order, again from the first after the last (an epoch). With
    ``carry_state`` the state at the end of batch k, detached, starts batch k + 1 (and is
    reset to zero at the start of each epoch); without it every batch starts from zero.
    Gradients are clipped to norm ``clip``; the optimiser is Adam.

    Every ``eval_every`` steps (and at the last) the history records the step, the training
    perplexity (exp of the mean loss since the previous record) and, given ``heldout`` (1-D
    indices), the held-out perplexity.

    Returns a dict of lists: "step", "train", "heldout", and "seconds" (training time only).
    """
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    if X.shape != Y.shape or X.dim() != 3:
        raise ValueError(f"train_tbptt: X and Y must both be (n_batches, m, T), got "
                         f"{tuple(X.shape)} and {tuple(Y.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist = {"step": [], "train": [], "heldout": [], "seconds": []}
    state, losses, seconds = None, [], 0.0
    eval_every = eval_every or steps
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        k = (step - 1) % len(X)
        if k == 0 or not carry_state:
            state = None
        model.train()
        loss, state = _loss(model, X[k], Y[k], _detach(state))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        seconds += time.perf_counter() - t0
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            hist["step"].append(step)
            hist["train"].append(math.exp(np.mean(losses)))
            hist["heldout"].append(perplexity(model, heldout) if heldout is not None else None)
            hist["seconds"].append(seconds)
            losses = []
    return hist


@torch.no_grad()
def perplexity(model, ids, chunk=512):
    """exp(mean -log ŷ<t>[y<t>]) over ids[1:], reading ids as one stream (m = 1), the state
    carried from chunk to chunk: every prediction sees the whole text before it."""
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"perplexity: ids must be 1-D with at least 2 tokens, got shape "
                         f"{tuple(ids.shape)}")
    model.eval()
    state, total = None, 0.0
    for s in range(0, len(ids) - 1, chunk):
        x = ids[s: min(s + chunk, len(ids) - 1)][None]
        y = ids[s + 1: s + 1 + x.shape[1]][None]
        logits, state = model(x, state)
        total += nn.functional.cross_entropy(logits[0], y[0], reduction="sum").item()
    return math.exp(total / (len(ids) - 1))


@torch.no_grad()
def sample(model, prefix, n, temperature=1.0, reject=(), stop=None, seed=0):
    """Generate ``n`` tokens after the indices ``prefix``, feeding each drawn token back in.

    The next token is drawn from softmax(z / temperature), z the logits: a temperature below
    1 sharpens the distribution (towards the most likely token), above 1 flattens it.
    Tokens in ``reject`` (e.g. <UNK>'s index) get probability 0, which is the same as
    drawing again whenever one of them comes up. Generation ends early at token ``stop``.

    Returns the list of generated indices (without the prefix).
    """
    if temperature <= 0:
        raise ValueError(f"sample: temperature must be > 0, got {temperature!r}")
    if not len(prefix):
        raise ValueError("sample: prefix must hold at least one token")
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    logits, state = model(torch.as_tensor([list(prefix)], dtype=torch.long))
    z = logits[0, -1]
    out = []
    for _ in range(n):
        z = z / temperature
        if len(reject):
            z[list(reject)] = -math.inf
        tok = int(torch.multinomial(torch.softmax(z, dim=0), 1, generator=gen))
        if stop is not None and tok == stop:
            break
        out.append(tok)
        logits, state = model(torch.tensor([[tok]]), state)
        z = logits[0, -1]
    return out


def bptt_gradient(model, X, Y, k=None):
    """The gradient of the mean loss over streams X, Y (m, L) with truncation length k.

    k = None is full BPTT: one graph through all L steps. Otherwise the streams are read in
    chunks of k steps, the state carried and detached between chunks: every chunk's loss
    backpropagates only within its chunk. Both give the gradient of the same loss; they
    differ only in the paths through time that the truncated one cuts.

    Returns the gradient as one flat float64 numpy vector (the model's parameter order).
    """
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    L = X.shape[1]
    k = L if k is None else k
    model.zero_grad()
    state = None
    for s in range(0, L, k):
        loss, state = _loss(model, X[:, s:s + k], Y[:, s:s + k], _detach(state))
        (loss * X[:, s:s + k].shape[1] / L).backward()  # weight: the chunk's share of steps
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double().numpy()


def saved_bytes(fn):
    """Run ``fn()`` and return (its result, the bytes of the tensors autograd saved for the
    backward pass while it ran): the activation memory that backpropagation needs."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total[0]
