# %% [markdown]
# # Assignment 1: a recurrent neural network, step by step
#
# A recurrent neural network (RNN) reads a sequence $x^{\langle 1 \rangle}, \dots,
# x^{\langle T_x \rangle}$ one element at a time. At every step it combines the new input with
# a hidden state $a^{\langle t-1 \rangle}$ that summarises everything read so far, and passes
# the new state $a^{\langle t \rangle}$ on to the next step. The same weights are used at every
# step: that is what lets one network read sequences of any length.
#
# In this assignment you write the forward pass of the basic RNN of the notes:
#
# 1. `one_hot`: turn a sequence of symbols into the vectors $x^{\langle t \rangle}$ (2 points);
# 2. `rnn_cell_forward`: one time step (4 points);
# 3. `rnn_forward`: the whole sequence (5 points).
#
# **Shapes.** Features come first, examples second, time last: $x^{\langle t \rangle}$ is
# `xt` of shape $(n_x, m)$ for a batch of $m$ examples, $a^{\langle t \rangle}$ has shape
# $(n_a, m)$, and a whole sequence `x` has shape $(n_x, m, T_x)$. Biases have shape $(n, 1)$
# and numpy broadcasts them over the $m$ columns.
#
# **Tests.** Each test cell checks one part of a function: the shapes first, then the values on
# a small fixed example. When something is wrong it tells you what it looks like (a transposed
# weight, a missing bias, the wrong activation...). Hidden tests run when the assignment is
# graded: they compare your function with the reference on random shapes. In each function,
# replace `raise NotImplementedError()` with your code, using numpy only.

# %% setup
import numpy as np

from rnnlib import grading
from rnnlib.activations import softmax

# %% [markdown]
# ## 1. One-hot encoding
#
# A character-level model reads symbols from a vocabulary of $n$ symbols, each identified by
# its index $0, \dots, n-1$. The input $x^{\langle t \rangle}$ is the *one-hot* vector of the
# symbol read at step $t$: $n$ entries, all zero except a 1 at the symbol's index. A sequence
# of $T$ indices becomes an array of shape $(n, T)$, one column per time step.
#
# As in the course's language model, the index `None` stands for the zero vector: the first
# input $x^{\langle 1 \rangle} = \vec 0$ of a generated name is "no character yet".
#
# For example, with $n = 4$, `one_hot([2, None, 0], 4)` is
#
# ```
# [[0., 0., 1.],
#  [0., 0., 0.],
#  [1., 0., 0.],
#  [0., 0., 0.]]
# ```

# %% solution one_hot
def one_hot(indices, n):
    """One-hot vectors of a sequence of indices.

    Arguments:
        indices  a list of T indices in [0, n), or None for a zero vector
        n        the number of symbols

    Returns:
        x  (n, T)  float array: column t is the one-hot vector of indices[t]
    """
    ### BEGIN SOLUTION
    x = np.zeros((n, len(indices)))
    for t, i in enumerate(indices):
        if i is not None:
            x[i, t] = 1.0
    return x
    ### END SOLUTION

# %% test one_hot_values points=1
grading.check_one_hot(one_hot, "values")

# %% test one_hot_random points=1
# Hidden tests at grading: one_hot against rnnlib on random sequences.
### BEGIN HIDDEN TESTS
grading.check_one_hot(one_hot, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One time step
#
# The RNN cell computes the new hidden state and the prediction of step $t$:
#
# $$a^{\langle t \rangle} = \tanh\left(W_{aa}\, a^{\langle t-1 \rangle}
#     + W_{ax}\, x^{\langle t \rangle} + b_a\right)$$
#
# $$\hat y^{\langle t \rangle} = \operatorname{softmax}\left(W_{ya}\, a^{\langle t \rangle}
#     + b_y\right)$$
#
# with $W_{ax}$ of shape $(n_a, n_x)$, $W_{aa}$ $(n_a, n_a)$, $b_a$ $(n_a, 1)$,
# $W_{ya}$ $(n_y, n_a)$ and $b_y$ $(n_y, 1)$, stored in the dict `parameters` under the keys
# `"Wax"`, `"Waa"`, `"ba"`, `"Wya"`, `"by"`. The softmax turns each column into a probability
# distribution over the $n_y$ classes: `softmax` (imported above) normalises over axis 0.
#
# Return also a `cache`, the tuple `(a_next, a_prev, xt, parameters)`: the backward pass (next
# assignment) needs these values.

# %% solution rnn_cell_forward
def rnn_cell_forward(xt, a_prev, parameters):
    """One step of the RNN.

    Arguments:
        xt          (n_x, m)  the input x<t>
        a_prev      (n_a, m)  the hidden state a<t-1>
        parameters  dict: Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya (n_y, n_a),
                    by (n_y, 1)

    Returns:
        a_next   (n_a, m)  a<t>
        yt_pred  (n_y, m)  ŷ<t>
        cache    (a_next, a_prev, xt, parameters)
    """
    ### BEGIN SOLUTION
    Wax, Waa, ba = parameters["Wax"], parameters["Waa"], parameters["ba"]
    Wya, by = parameters["Wya"], parameters["by"]
    a_next = np.tanh(Waa @ a_prev + Wax @ xt + ba)
    yt_pred = softmax(Wya @ a_next + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache
    ### END SOLUTION

# %% test rnn_cell_forward_shapes points=1
grading.check_rnn_cell_forward(rnn_cell_forward, "shapes")

# %% test rnn_cell_forward_values points=2
grading.check_rnn_cell_forward(rnn_cell_forward, "values")

# %% test rnn_cell_forward_random points=1
# Hidden tests at grading: rnn_cell_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_rnn_cell_forward(rnn_cell_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The whole sequence
#
# The forward pass runs the cell $T_x$ times. Step $t$ reads $x^{\langle t \rangle}$ (the
# slice `x[:, :, t]`) and the state left by the step before; the first step starts from
# $a^{\langle 0 \rangle}$, the argument `a0` (the notes use zeros). Store every
# $a^{\langle t \rangle}$ in `a` and every $\hat y^{\langle t \rangle}$ in `y_pred`, and keep
# the cells' caches in a list.
#
# One test (1 point) reads those caches: the cache of step $t$ must hold $a^{\langle t-1 \rangle}$,
# $x^{\langle t \rangle}$ and $a^{\langle t \rangle}$ when `rnn_forward` returns, which is what
# `rnn_backward` will read. Pass each step the array the previous step returned (`a_next`), not
# a slice of `a` that a later step overwrites.
#
# Use your `rnn_cell_forward` for each step. (While `rnn_forward` is graded, the tests lend it
# the reference cell, so a mistake in the cell costs points only once.)

# %% solution rnn_forward
def rnn_forward(x, a0, parameters):
    """The RNN over a whole sequence, from a<0> = a0.

    Arguments:
        x           (n_x, m, T_x)  the inputs x<1> ... x<T_x>
        a0          (n_a, m)       the initial hidden state
        parameters  as for rnn_cell_forward

    Returns:
        a       (n_a, m, T_x)  the hidden states a<1> ... a<T_x>
        y_pred  (n_y, m, T_x)  the predictions ŷ<1> ... ŷ<T_x>
        caches  (list of the T_x caches of rnn_cell_forward, x)
    """
    ### BEGIN SOLUTION
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    n_y = parameters["Wya"].shape[0]
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    caches = []
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)
    ### END SOLUTION

# %% test rnn_forward_shapes points=1
grading.check_rnn_forward(rnn_forward, "shapes")

# %% test rnn_forward_values points=2
grading.check_rnn_forward(rnn_forward, "values")

# %% test rnn_forward_cache points=1
grading.check_rnn_forward(rnn_forward, "cache")

# %% test rnn_forward_random points=1
# Hidden tests at grading: rnn_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_rnn_forward(rnn_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Reading a word
#
# Here your functions read the word "recurrent", one character at a time, with random
# weights: the predictions are not trained yet, but each column of `y_pred` is already a
# probability distribution over the 26 letters.

# %% demo demo_read_word
alphabet = "abcdefghijklmnopqrstuvwxyz"
word = "recurrent"
x = one_hot([alphabet.index(c) for c in word], 26)[:, None, :]  # (n_x, m=1, T_x)
rng = np.random.default_rng(0)
n_a = 8
parameters = {"Wax": rng.standard_normal((n_a, 26)) * 0.5,
              "Waa": rng.standard_normal((n_a, n_a)) * 0.5, "ba": np.zeros((n_a, 1)),
              "Wya": rng.standard_normal((26, n_a)) * 0.5, "by": np.zeros((26, 1))}
a, y_pred, caches = rnn_forward(x, np.zeros((n_a, 1)), parameters)
print("x:", x.shape, " a:", a.shape, " y_pred:", y_pred.shape)
print("each column of y_pred sums to", np.round(y_pred.sum(axis=0), 6).ravel())
guess = "".join(alphabet[i] for i in y_pred[:, 0, :].argmax(axis=0))
print("most likely next letters (untrained):", guess)
