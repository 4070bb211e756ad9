"""An encoder-decoder (many-to-many, T_x ≠ T_y) in PyTorch, for the dates of rnnlib.data.

The encoder, an nn.LSTM, reads the T_x characters of a human-written date; its last state
a<T_x> summarises the input (the "context"). The decoder, another nn.LSTM, starts from that
state and writes the T_y = 10 characters of the ISO date, reading at each step the previous
output character and the context. Index 0 of the target vocabulary (<EOS>) is the start
symbol that the decoder reads at t = 1.

Teacher forcing: in training the decoder reads the *correct* previous character y<t-1>,
whatever it would have written itself, so all T_y steps run in one call and the loss is
the cross-entropy of every step. When translating, it reads its *own* previous output.

    EncoderDecoder      the model (forward = teacher forcing; greedy = its own outputs)
    train_translator    minibatch training with Adam and teacher forcing
    decoder_step        a numpy step function for rnnlib.decoding (greedy or beam search)
"""

import numpy as np
import torch
from torch import nn

from .text import pad_sequences


class EncoderDecoder(nn.Module):
    """x (m, T_x) source indices with mask (m, T_x) -> logits (m, T_y, n_tgt)."""

    def __init__(self, n_src, n_tgt, n_a=64, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.n_src, self.n_tgt, self.n_a = n_src, n_tgt, n_a
        self.encoder = nn.LSTM(n_src, n_a, batch_first=True)
        self.decoder = nn.LSTM(n_tgt + n_a, n_a, batch_first=True)
        self.out = nn.Linear(n_a, n_tgt)

    def encode(self, x, mask):
        """The context: a<T_x> of each example (its last real character), (m, n_a)."""
        a, _ = self.encoder(nn.functional.one_hot(x, self.n_src).to(self.out.weight.dtype))
        return a[torch.arange(len(x)), mask.sum(1) - 1]

    def decode(self, prev, context, state):
        """One or more decoder steps: prev (m, T) previous characters -> (a, state)."""
        x = torch.cat([nn.functional.one_hot(prev, self.n_tgt).to(context.dtype),
                       context[:, None].expand(-1, prev.shape[1], -1)], dim=-1)
        return self.decoder(x, state)

    def forward(self, x, mask, y):
        """Teacher forcing: the decoder reads [start, y<1>, ..., y<T_y - 1>]."""
        context = self.encode(x, mask)
        prev = torch.cat([torch.zeros_like(y[:, :1]), y[:, :-1]], dim=1)
        state = (context[None], torch.zeros_like(context[None]))
        a, _ = self.decode(prev, context, state)
        return self.out(a)

    @torch.no_grad()
    def greedy(self, x, mask, T_y=10):
        """Batched greedy decoding: each step's most likely character is fed back in."""
        context = self.encode(x, mask)
        state = (context[None], torch.zeros_like(context[None]))
        prev, out = torch.zeros(len(x), 1, dtype=torch.long), []
        for _ in range(T_y):
            a, state = self.decode(prev, context, state)
            prev = self.out(a).argmax(-1)
            out.append(prev)
        return torch.cat(out, dim=1)


def batch_arrays(batch, src_vocab, tgt_vocab):
    """(x, mask, y) tensors of a list of (human, iso) pairs."""
    idx, mask = pad_sequences([src_vocab.encode(h) for h, _ in batch])
    y = torch.tensor([tgt_vocab.encode(iso) for _, iso in batch])
    return torch.tensor(idx), torch.tensor(mask), y


def train_translator(model, pairs, src_vocab, tgt_vocab, steps=500, m=64, lr=0.01, seed=0):
    """Adam on random minibatches of ``m`` pairs, teacher forcing; returns the losses."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, mask, y = batch_arrays([pairs[i] for i in rng.integers(0, len(pairs), m)],
                                  src_vocab, tgt_vocab)
        logits = model(x, mask, y)
        loss = nn.functional.cross_entropy(logits.reshape(-1, model.n_tgt), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses


def decoder_step(model, x, mask):
    """(step, state0) for rnnlib.decoding, for one source example x (1, T_x).

    step(tokens (k,), (h, c) each (k, n_a)) -> (log_probs (k, n_tgt), new state): k partial
    outputs share the one context.
    """
    with torch.no_grad():
        context = model.encode(x, mask)                                     # (1, n_a)

    @torch.no_grad()
    def step(tokens, state):
        h, c = (torch.from_numpy(np.ascontiguousarray(s)).to(context.dtype)[None] for s in state)
        ctx = context.expand(len(tokens), -1)
        a, (h, c) = model.decode(torch.as_tensor(tokens, dtype=torch.long)[:, None], ctx,
                                 (h, c))
        logp = torch.log_softmax(model.out(a[:, 0]), dim=-1)
        return logp.double().numpy(), (h[0].numpy(), c[0].numpy())

    h0 = context.numpy()
    return step, (h0, np.zeros_like(h0))
