# %% [markdown]
# # Assignment 3: a character-level language model
#
# A language model gives a probability to every sequence. Trained on a list of names, an RNN
# learns which character tends to follow which: at step $t$ it reads character
# $x^{\langle t \rangle}$ and predicts $\hat y^{\langle t \rangle}$, a distribution over the
# next one. Sampling from those predictions, one character at a time, makes up new names.
#
# The vocabulary is the course's: the 26 letters (indices 1 to 26) and the end of a name,
# written `"\n"` (index 0, the notes' `<EOS>`). A name such as "anna" is one training example:
#
# ```
# X = [None, a, n, n, a]      x<1> = 0 (no character yet), then the characters
# Y = [a, n, n, a, "\n"]      y<t> = x<t+1>: predict the next character, then the end
# ```
#
# The forward and backward passes are the ones you wrote in the previous assignments; here
# they come from `rnnlib` (`loss_and_gradients`). You write:
#
# 1. `clip`: gradient clipping against exploding gradients (3 points);
# 2. `sample`: generate a name from the model (4 points);
# 3. `optimize`: one training step (3 points);
#
# and then train the model on names and read its samples. In each function, replace
# `raise NotImplementedError()` with your code.

# %% setup
import numpy as np

from rnnlib import grading
from rnnlib.data import names_corpus
from rnnlib.language_model import initialize_parameters, loss_and_gradients
from rnnlib.optim import update_parameters
from rnnlib.rnn import rnn_cell_forward

# %% [markdown]
# ## 1. Gradient clipping
#
# Gradients that flow back through many time steps can grow very large (they *explode*), and a
# single huge update ruins the weights. The simplest cure clips every entry of every gradient
# into $[-\text{maxValue}, \text{maxValue}]$ before the update. `gradients` is a dict
# (`"dWax"`, `"dWaa"`, `"dWya"`, `"dba"`, `"dby"`): clip every one of its arrays and return the
# dict of clipped gradients. The tests read the dict you return: clipping in place
# (`np.clip(g, -maxValue, maxValue, out=g)`, as the course does) and returning a new dict of
# clipped copies both earn full marks.

# %% solution clip
def clip(gradients, maxValue):
    """Clip every gradient, entry by entry, into [-maxValue, maxValue].

    Arguments:
        gradients  dict of arrays: dWax, dWaa, dWya, dba, dby
        maxValue   the bound

    Returns:
        gradients  the clipped gradients (the same dict clipped in place, or a new one)
    """
    ### BEGIN SOLUTION
    for gradient in gradients.values():
        np.clip(gradient, -maxValue, maxValue, out=gradient)
    return gradients
    ### END SOLUTION

# %% test clip_values points=2
grading.check_clip(clip, "values")

# %% test clip_random points=1
# Hidden tests at grading: clip against rnnlib on random gradients and bounds.
### BEGIN HIDDEN TESTS
grading.check_clip(clip, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Sampling
#
# To generate a name, start from $x^{\langle 1 \rangle} = \vec 0$ and
# $a^{\langle 0 \rangle} = \vec 0$ (shapes $(n_x, 1)$ and $(n_a, 1)$: one example), then repeat:
#
# 1. one step of the RNN: `a, y, _ = rnn_cell_forward(x, a, parameters)`;
# 2. draw the next index from the distribution `y` (a column of $n_x$ probabilities):
#    `idx = rng.choice(vocab_size, p=y.ravel())`, with one generator
#    `rng = np.random.default_rng(seed)` created before the loop (so that the same seed gives
#    the same name);
# 3. append `idx` to the result; stop if it is the end of a name, `char_to_ix["\n"]`;
# 4. feed the character back in: `x` becomes the one-hot vector of `idx`.
#
# Stop also when the result has 50 indices, in case the model never draws the end. **At the
# cap, return those 50 indices as they are: do not append `char_to_ix["\n"]`** (the course's
# code appends one, giving 51 entries; here a sample is at most 50 indices long).
#
# The tests grade `sample` in four parts, one point each: every draw comes from the model's
# distribution for the state reached by feeding back the draws before it ("values": any
# random generator passes this part); the cap ("cap"); the exact draws of the generator stated
# above, `np.random.default_rng(seed)` and `rng.choice` ("draws": numpy's global generator,
# `np.random.seed`, draws other numbers and fails this part only); the first part again on
# random models (hidden).

# %% solution sample
def sample(parameters, char_to_ix, seed):
    """Draw a sequence of character indices from the model.

    Arguments:
        parameters  dict: Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya (n_y, n_a),
                    by (n_y, 1), with n_x = n_y = the vocabulary size
        char_to_ix  dict character -> index; "\\n" is the end of a name
        seed        seed of the random generator

    Returns:
        indices  list of the drawn indices: ends with char_to_ix["\\n"], or has 50 entries
    """
    ### BEGIN SOLUTION
    vocab_size = parameters["by"].shape[0]
    n_a = parameters["Waa"].shape[0]
    rng = np.random.default_rng(seed)
    x = np.zeros((vocab_size, 1))
    a = np.zeros((n_a, 1))
    newline = char_to_ix["\n"]
    indices = []
    while len(indices) < 50:
        a, y, _ = rnn_cell_forward(x, a, parameters)
        idx = int(rng.choice(vocab_size, p=y.ravel()))
        indices.append(idx)
        if idx == newline:
            break
        x = np.zeros((vocab_size, 1))
        x[idx] = 1.0
    return indices
    ### END SOLUTION

# %% test sample_values points=1
grading.check_sample(sample, "values")

# %% test sample_cap points=1
grading.check_sample(sample, "cap")

# %% test sample_draws points=1
grading.check_sample(sample, "draws")

# %% test sample_random points=1
# Hidden tests at grading: samples of random models, each draw from the model's distribution.
### BEGIN HIDDEN TESTS
grading.check_sample(sample, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. One optimisation step
#
# One step of training on one name: forward and backward pass (`loss_and_gradients(X, Y,
# a_prev, parameters)` returns the loss, the gradients and the hidden states
# `a` $(n_a, 1, T_x)$), clip the gradients at 5, then update the parameters by gradient
# descent, $W := W - \alpha\, dW$ (`update_parameters(parameters, gradients, learning_rate)`
# changes the dict in place). Return the loss, the clipped gradients and the last hidden state
# $a^{\langle T_x \rangle}$, from which the next name starts.

# %% solution optimize
def optimize(X, Y, a_prev, parameters, learning_rate=0.01):
    """One training step on one name: forward, backward, clip (at 5), update.

    Arguments:
        X, Y           input and target indices of one name (X[0] is None)
        a_prev         (n_a, 1)  the hidden state the name starts from
        parameters     dict of the model's parameters, updated in place
        learning_rate  the step size

    Returns:
        loss       the loss of the name before the update
        gradients  dict of the clipped gradients
        a_last     (n_a, 1)  the last hidden state a<T_x>
    """
    ### BEGIN SOLUTION
    loss, gradients, a = loss_and_gradients(X, Y, a_prev, parameters)
    gradients = clip(gradients, 5)
    update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[:, :, -1]
    ### END SOLUTION

# %% test optimize_values points=2
grading.check_optimize(optimize, "values")

# %% test optimize_random points=1
# Hidden tests at grading: optimize against rnnlib on random models and names.
### BEGIN HIDDEN TESTS
grading.check_optimize(optimize, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Training on names
#
# Here your `optimize` trains the model on names from the US census lists (the `names`
# package), one name per step, each starting from the last hidden state of the one before, as
# in the course. The loss shown is smoothed over the steps. Every 3,000 steps your `sample`
# makes up a few names: at first random strings of letters, then names that sound more and
# more like names.

# %% demo demo_train
names = names_corpus(seed=0)
char_to_ix = {"\n": 0, **{c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}}
ix_to_char = {i: c for c, i in char_to_ix.items()}
vocab_size, n_a = len(char_to_ix), 50
parameters = initialize_parameters(n_a, vocab_size, vocab_size, seed=0)
a_prev = np.zeros((n_a, 1))
smooth_loss = -np.log(1.0 / vocab_size) * 7
for step in range(12001):
    name = names[step % len(names)]
    X = [None] + [char_to_ix[c] for c in name]
    Y = X[1:] + [char_to_ix["\n"]]
    loss, _, a_prev = optimize(X, Y, a_prev, parameters, learning_rate=0.01)
    smooth_loss = 0.999 * smooth_loss + 0.001 * loss
    if step % 3000 == 0:
        made_up = ["".join(ix_to_char[i] for i in sample(parameters, char_to_ix, s)).strip()
                   for s in range(6)]
        print(f"step {step:5d}  loss {smooth_loss:6.2f}  ", ", ".join(made_up))
