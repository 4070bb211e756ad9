"""The course's character-level language model ("Dinosaurus Island"), on rnnlib.rnn.

A name such as "anna" becomes one training sequence (m = 1):

    X = [None, a, n, n, a]        x<1> = 0 (a zero vector), then the characters
    Y = [a, n, n, a, <EOS>]       y<t> = x<t+1>: predict the next character, then the end

The RNN is rnnlib.rnn's: a<t> = tanh(Waa a<t-1> + Wax x<t> + ba), ŷ<t> = softmax(Wya a<t> + by),
parameters Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya (n_y, n_a), by (n_y, 1), with
n_x = n_y = the vocabulary size. The loss of a name is the cross-entropy summed over time,
L = -Σ_t log ŷ<t>[y<t>].

    optimize  one step: forward, backward, clip (every gradient into [-maxValue, maxValue]),
              update; returns (loss, gradients, a<T_x>)
    sample    draw a name character by character from x<1> = 0, a<0> = 0, feeding each drawn
              character back in, until <EOS> or the length cap
    model     the training loop over a list of names, printing samples as it goes
    perplexity  exp(mean cross-entropy per predicted character) over a list of names

``vocab`` is a ``rnnlib.text.Vocabulary`` (its <EOS> has index 0) or, as in the course, a
``char_to_ix`` dict whose end token is the newline "\\n".
"""

import math

import numpy as np

from .cells import output_backward
from .losses import cross_entropy
from .optim import SGD, clip
from .rnn import rnn_backward, rnn_cell_forward, rnn_forward
from .text import Vocabulary, one_hot, pad_sequences
from .train import train

COURSE_EOS = "\n"


def char_vocabulary(names):
    """The course's vocabulary of a list of names: "\\n" (the end) = 0, then the characters in
    sorted order (a = 1 ... z = 26 for lowercase names), no <UNK>."""
    return Vocabulary.build(names, level="char", eos=COURSE_EOS, unk=None)


def _lookup(func, vocab):
    """(char_to_ix, ix_to_char, eos index) of a Vocabulary or a course-style dict."""
    if isinstance(vocab, Vocabulary):
        return vocab.stoi, vocab.itos, vocab.eos_index, vocab
    if isinstance(vocab, dict):
        if COURSE_EOS not in vocab:
            raise ValueError(
                f"{func}: a char_to_ix dict must map the end token '\\n' to an index "
                f"(the course uses 0)"
            )
        itos = {i: c for c, i in vocab.items()}
        return vocab, itos, vocab[COURSE_EOS], None
    raise ValueError(
        f"{func}: vocab must be a rnnlib.text.Vocabulary or a char_to_ix dict, "
        f"got {type(vocab).__name__}"
    )


def _param_spec_check(func, parameters):
    """n_a and the vocabulary size n_x = n_y of a character model's parameters."""
    if not isinstance(parameters, dict):
        raise ValueError(f"{func}: parameters must be a dict, got {type(parameters).__name__}")
    missing = [k for k in ("Wax", "Waa", "ba", "Wya", "by") if k not in parameters]
    if missing:
        raise ValueError(f"{func}: parameters is missing key(s) {', '.join(map(repr, missing))}")
    n_a, n_x = np.shape(parameters["Wax"])
    n_y = np.shape(parameters["Wya"])[0]
    if n_x != n_y:
        raise ValueError(
            f"{func}: a character model reads and predicts the same symbols, but "
            f"parameters['Wax'] has n_x = {n_x} columns and parameters['Wya'] n_y = {n_y} rows"
        )
    return n_a, n_x


def initialize_parameters(n_a, n_x, n_y, seed=1):
    """Small random weights (standard normal × 0.01) and zero biases, as the course.

    Returns a dict: Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a), ba (n_a, 1), by (n_y, 1).
    """
    for name, v in (("n_a", n_a), ("n_x", n_x), ("n_y", n_y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"initialize_parameters: {name} must be a positive integer, got {v!r}")
    rng = np.random.default_rng(seed)
    return {
        "Wax": rng.standard_normal((n_a, n_x)) * 0.01,
        "Waa": rng.standard_normal((n_a, n_a)) * 0.01,
        "Wya": rng.standard_normal((n_y, n_a)) * 0.01,
        "ba": np.zeros((n_a, 1)),
        "by": np.zeros((n_y, 1)),
    }


def make_xy(example, vocab):
    """The course's training pair of one name: X = [None] + indices, Y = indices + [<EOS>]."""
    char_to_ix, _, eos, v = _lookup("make_xy", vocab)
    if not isinstance(example, str):
        raise ValueError(f"make_xy: example must be a str, got {type(example).__name__}")
    if v is not None:
        ids = v.encode(example)
    else:
        unknown = [c for c in example if c not in char_to_ix]
        if unknown:
            raise ValueError(f"make_xy: character {unknown[0]!r} of {example!r} is not in vocab")
        ids = [char_to_ix[c] for c in example]
    return [None] + ids, ids + [eos]


def loss_and_gradients(X, Y, a_prev, parameters):
    """Forward and backward pass of one sequence, without clipping or update.

    Arguments:
        X           T_x input indices; None is a zero vector (the course's x<1>)
        Y           T_x target indices
        a_prev      (n_a, 1)  the state a<0> the sequence starts from
        parameters  Wax, Waa, ba, Wya, by

    Returns:
        loss       -Σ_t log ŷ<t>[Y[t]]
        gradients  dict dWax, dWaa, dba, dWya, dby
        a          (n_a, 1, T_x)  the hidden states a<1> ... a<T_x>
    """
    func = "loss_and_gradients"
    n_a, n_x = _param_spec_check(func, parameters)
    X, Y = list(X), list(Y)
    if len(X) != len(Y) or not X:
        raise ValueError(
            f"{func}: X and Y must be equally long non-empty sequences, "
            f"got len(X) = {len(X)}, len(Y) = {len(Y)}"
        )
    if any(y is None for y in Y):
        raise ValueError(f"{func}: Y may not hold None: every step has a target")
    x = one_hot(X, n_x)[:, None, :]
    a, y_hat, caches = rnn_forward(x, a_prev, parameters)
    loss, dz = cross_entropy(y_hat, np.asarray(Y, dtype=np.int64)[None, :])
    da, dWya, dby = output_backward(dz, a, parameters["Wya"])  # the output layer
    g = rnn_backward(da, caches)
    gradients = {"dWax": g["dWax"], "dWaa": g["dWaa"], "dba": g["dba"], "dWya": dWya,
                 "dby": dby}
    return loss, gradients, a


def optimize(X, Y, a_prev, parameters, learning_rate=0.01, maxValue=5, optimizer=None):
    """One optimisation step, as the course: forward, backward, clip, update.

    Arguments:
        X, Y           the training pair of one name (see ``make_xy``)
        a_prev         (n_a, 1)  starting state
        parameters     dict, updated in place
        learning_rate  step size of the plain gradient-descent update
        maxValue       gradients are clipped to [-maxValue, maxValue]
        optimizer      optional object with ``step(parameters, gradients)`` (e.g. rnnlib.optim.Adam)
                       used instead of gradient descent

    Returns:
        loss       the loss before the update (cross-entropy summed over time)
        gradients  dict dWax, dWaa, dba, dWya, dby, after clipping
        a_last     (n_a, 1)  a<T_x>, the last hidden state
    """
    loss, gradients, a = loss_and_gradients(X, Y, a_prev, parameters)
    clip(gradients, maxValue)
    (optimizer or SGD(learning_rate)).step(parameters, gradients)
    return loss, gradients, a[:, :, -1]


def sample(parameters, vocab, seed=0, temperature=1.0, max_length=50):
    """Sample a sequence of indices from the model, one character at a time.

    Starts from x<1> = 0 and a<0> = 0; at each step draws the next index from
    softmax(z<t> / temperature) (z<t> the logits of ŷ<t>), feeds its one-hot vector back in as
    x<t+1>, and stops after drawing <EOS> or after ``max_length`` indices.

    Arguments:
        parameters   Wax, Waa, ba, Wya, by
        vocab        Vocabulary or char_to_ix dict (for the <EOS> index)
        seed         seed of the random generator: same seed, same sample
        temperature  > 0: below 1 sharper (more likely names), above 1 more varied;
                     0: greedy (always the most likely index)
        max_length   the length cap

    Returns the list of indices, ending with <EOS>'s index unless the cap was reached
    (then it has exactly ``max_length`` indices and no <EOS>; unlike the course, no
    newline is appended). Decode it with ``vocab.decode``.
    """
    func = "sample"
    _, _, eos, _ = _lookup(func, vocab)
    n_a, n_x = _param_spec_check(func, parameters)
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
            and temperature >= 0):
        raise ValueError(f"{func}: temperature must be a number >= 0, got {temperature!r}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"{func}: max_length must be a positive integer, got {max_length!r}")
    rng = np.random.default_rng(seed)
    x = np.zeros((n_x, 1))
    a = np.zeros((n_a, 1))
    indices = []
    while len(indices) < max_length:
        a, y_hat, _ = rnn_cell_forward(x, a, parameters)
        p = y_hat[:, 0]
        if temperature == 0:
            idx = int(np.argmax(p))
        else:
            if temperature != 1:
                with np.errstate(divide="ignore"):
                    z = np.log(p) / temperature  # the logits up to a constant
                p = np.exp(z - z.max())
                p /= p.sum()
            idx = int(rng.choice(n_x, p=p))
        indices.append(idx)
        if idx == eos:
            break
        x = np.zeros((n_x, 1))
        x[idx] = 1.0
    return indices


def perplexity(parameters, data, vocab):
    """exp of the mean cross-entropy per predicted symbol over a list of names.

    Each name is scored as in training (from x<1> = 0, a<0> = 0, predicting every character
    and the final <EOS>). A model that spreads its probability evenly over n_y symbols has
    perplexity n_y; a perfect one has 1.
    """
    func = "perplexity"
    n_a, n_x = _param_spec_check(func, parameters)
    if isinstance(data, str) or not len(data):
        raise ValueError(f"{func}: data must be a non-empty list of strings")
    pairs = [make_xy(example, vocab) for example in data]
    # One batch: shorter names are padded at the end and masked out of the loss.
    X, _ = pad_sequences([[0 if i is None else i for i in X] for X, _ in pairs])
    Y, mask = pad_sequences([Y for _, Y in pairs])
    x = one_hot(X, n_x)
    x[:, :, 0] = 0.0  # x<1> = 0
    a, y_hat, _ = rnn_forward(x, np.zeros((n_a, len(pairs))), parameters)
    loss, _ = cross_entropy(y_hat, Y, mask=mask, reduction="mean")
    return float(np.exp(loss))


def model(data, vocab=None, num_iterations=35000, n_a=50, n_samples=7, print_every=2000,
          learning_rate=0.01, maxValue=5, seed=0, temperature=1.0, optimizer=None,
          carry_state=True, verbose=True, progress=False):
    """Train a character-level language model on a list of names, printing samples as it goes.

    As the course: the names are shuffled (seeded), and iteration j trains on name
    j mod len(data) with one ``optimize`` step; the loss is smoothed
    (smooth := 0.999 smooth + 0.001 loss, from -log(1/vocab_size) × n_samples); every
    ``print_every`` iterations (from 0) the smoothed loss and ``n_samples`` samples (seeds
    0 ... n_samples - 1) are printed. With ``carry_state`` (the course's choice) each name
    starts from the last state of the previous one; otherwise from zeros, as ``sample`` does.

    Arguments:
        data     list of names (strings); surrounding whitespace is stripped
        vocab    Vocabulary or char_to_ix dict; default ``char_vocabulary(data)``
        seed     seeds the weights and the shuffle

    Returns ``(parameters, history)``: ``history.loss`` holds every iteration's loss and
    ``history.smooth`` the smoothed loss.
    """
    func = "model"
    if isinstance(data, str) or not len(data):
        raise ValueError(f"{func}: data must be a non-empty list of names")
    examples = [str(name).strip() for name in data]
    vocab = char_vocabulary(examples) if vocab is None else vocab
    _, itos, _, v = _lookup(func, vocab)
    vocab_size = len(itos)
    pairs = [make_xy(example, vocab) for example in examples]  # raises on unknown characters
    order = np.random.default_rng(seed).permutation(len(pairs))
    parameters = initialize_parameters(n_a, vocab_size, vocab_size, seed=seed)
    state = {"a_prev": np.zeros((n_a, 1))}

    def step(j):
        X, Y = pairs[order[j % len(pairs)]]
        a_prev = state["a_prev"] if carry_state else np.zeros((n_a, 1))
        loss, _, state["a_prev"] = optimize(X, Y, a_prev, parameters, learning_rate,
                                            maxValue, optimizer)
        return loss

    def show(j, history):
        print(f"Iteration: {j}, Loss: {history.smooth[-1]:.6f}\n")
        for s in range(n_samples):
            ids = sample(parameters, vocab, seed=s, temperature=temperature)
            text = v.decode(ids) if v is not None else "".join(
                itos[i] for i in ids if itos[i] != COURSE_EOS)
            print(text[:1].upper() + text[1:])
        print()

    history = train(step, num_iterations, progress=progress, smoothing=0.999,
                    smooth_init=-math.log(1.0 / vocab_size) * n_samples,
                    callback=show if verbose else None, every=print_every,
                    desc="language model")
    return parameters, history
