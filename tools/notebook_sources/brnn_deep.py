# %% [markdown]
# # Assignment 6: bidirectional and deep RNNs
#
# An RNN that reads left to right predicts $\hat y^{\langle t \rangle}$ from the past and the
# present only. To know whether "Teddy" is a name, the words that follow matter as much as
# those before. A *bidirectional* RNN (BRNN) runs two RNNs over the sequence, one forwards and
# one backwards, and predicts from both:
#
# $$\overrightarrow a^{\langle t \rangle} = g\left(\overrightarrow a^{\langle t-1 \rangle},
# x^{\langle t \rangle}\right) \qquad \overleftarrow a^{\langle t \rangle} =
# g\left(\overleftarrow a^{\langle t+1 \rangle}, x^{\langle t \rangle}\right) \qquad
# \hat y^{\langle t \rangle} = \operatorname{softmax}\left(W_y\,
# [\overrightarrow a^{\langle t \rangle}; \overleftarrow a^{\langle t \rangle}] + b_y\right)$$
#
# A *deep* RNN stacks layers: layer $l$ reads, at each step, the state of layer $l-1$ at the
# same step ($a^{[0]\langle t \rangle} = x^{\langle t \rangle}$), and the output reads the top
# layer $L$:
#
# $$a^{[l]\langle t \rangle} = \tanh\left(W_{aa}^{[l]}\, a^{[l]\langle t-1 \rangle}
# + W_{ax}^{[l]}\, a^{[l-1]\langle t \rangle} + b_a^{[l]}\right) \qquad
# \hat y^{\langle t \rangle} = \operatorname{softmax}\left(W_y\, a^{[L]\langle t \rangle}
# + b_y\right)$$
#
# Both are built from whole RNN layers, so the setup cell gives you one:
# `rnn_layer_forward(x, a0, layer)` runs a tanh RNN (the one of assignment 1, without its
# output layer) over a sequence and returns all its states. You write:
#
# 1. `brnn_forward`: a bidirectional forward pass (4 points);
# 2. `deep_forward`: a deep forward pass (4 points).
#
# In each function, replace `raise NotImplementedError()` with your code.

# %% setup
import numpy as np

from rnnlib import grading
from rnnlib.activations import softmax
from rnnlib.rnn import rnn_forward


def rnn_layer_forward(x, a0, layer):
    """The hidden states of one tanh RNN layer over a sequence (no output layer).

    Arguments:
        x      (n_in, m, T_x)  the layer's inputs
        a0     (n_a, m)        its initial state
        layer  dict: Wax (n_a, n_in), Waa (n_a, n_a), ba (n_a, 1)

    Returns:
        a  (n_a, m, T_x)  the states a<1> ... a<T_x>
    """
    n_a = a0.shape[0]
    no_output = {"Wya": np.zeros((1, n_a)), "by": np.zeros((1, 1))}
    a, _, _ = rnn_forward(x, a0, {**layer, **no_output})
    return a


# %% [markdown]
# ## 1. A bidirectional RNN
#
# `parameters` is `{"fwd": layer, "rev": layer, "Wy": ..., "by": ...}`: each direction has its
# own weights. `a0` is the pair $(\overrightarrow a^{\langle 0 \rangle},
# \overleftarrow a^{\langle T_x+1 \rangle})$.
#
# The backward direction is the same kind of layer run over the sequence reversed in time,
# `x[:, :, ::-1]`; its states then come out in reversed order too, so reverse them back: after
# that, index $t$ holds $\overleftarrow a^{\langle t \rangle}$, the state after reading
# $x^{\langle T_x \rangle}, \dots, x^{\langle t \rangle}$. Stack the two directions, forward
# first: `a` has shape $(2 n_a, m, T_x)$, and $W_y$ $(n_y, 2 n_a)$.

# %% solution brnn_forward
def brnn_forward(x, a0, parameters):
    """Forward pass of a bidirectional RNN.

    Arguments:
        x           (n_x, m, T_x)  the inputs
        a0          (a→<0>, a←<T_x+1>), each (n_a, m)
        parameters  {"fwd": layer, "rev": layer, "Wy": (n_y, 2 n_a), "by": (n_y, 1)}

    Returns:
        a      (2 n_a, m, T_x)  [a→<t>; a←<t>] for every t
        y_hat  (n_y, m, T_x)    ŷ<t>
    """
    ### BEGIN SOLUTION
    a_fwd = rnn_layer_forward(x, a0[0], parameters["fwd"])
    a_rev = rnn_layer_forward(x[:, :, ::-1], a0[1], parameters["rev"])[:, :, ::-1]
    a = np.concatenate((a_fwd, a_rev), axis=0)
    n_y, T_x = parameters["Wy"].shape[0], x.shape[2]
    y_hat = np.zeros((n_y, x.shape[1], T_x))
    for t in range(T_x):
        y_hat[:, :, t] = softmax(parameters["Wy"] @ a[:, :, t] + parameters["by"])
    return a, y_hat
    ### END SOLUTION

# %% test brnn_forward_shapes points=1
grading.check_brnn_forward(brnn_forward, "shapes")

# %% test brnn_forward_values points=2
grading.check_brnn_forward(brnn_forward, "values")

# %% test brnn_forward_random points=1
# Hidden tests at grading: brnn_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_brnn_forward(brnn_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A deep RNN
#
# `parameters` is `{"layers": [layer 1, ..., layer L], "Wy": ..., "by": ...}`, where layer $l$
# reads inputs of size $n_a^{[l-1]}$ ($n_a^{[0]} = n_x$). `a0` is the list of the $L$ initial
# states. Return the list of the $L$ layers' states (`a[l]` of shape
# $(n_a^{[l+1]}, m, T_x)$: Python counts from 0) and the predictions, made from the top layer.

# %% solution deep_forward
def deep_forward(x, a0, parameters):
    """Forward pass of a deep (stacked) RNN.

    Arguments:
        x           (n_x, m, T_x)  the inputs
        a0          list of L initial states, a0[l] of shape (n_a[l+1], m)
        parameters  {"layers": [L layer dicts], "Wy": (n_y, n_a[L]), "by": (n_y, 1)}

    Returns:
        a      list of the L layers' states, a[l] of shape (n_a[l+1], m, T_x)
        y_hat  (n_y, m, T_x)  ŷ<t>, from the top layer
    """
    ### BEGIN SOLUTION
    a, h = [], x
    for layer, a0_layer in zip(parameters["layers"], a0, strict=True):
        h = rnn_layer_forward(h, a0_layer, layer)
        a.append(h)
    n_y, m, T_x = parameters["Wy"].shape[0], x.shape[1], x.shape[2]
    y_hat = np.zeros((n_y, m, T_x))
    for t in range(T_x):
        y_hat[:, :, t] = softmax(parameters["Wy"] @ h[:, :, t] + parameters["by"])
    return a, y_hat
    ### END SOLUTION

# %% test deep_forward_shapes points=1
grading.check_deep_forward(deep_forward, "shapes")

# %% test deep_forward_values points=2
grading.check_deep_forward(deep_forward, "values")

# %% test deep_forward_random points=1
# Hidden tests at grading: deep_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_deep_forward(deep_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. What a bidirectional state knows
#
# Change only the last input of a sequence: the forward states cannot see it before the last
# step, the backward states see it at every step. The largest change of each direction's
# state, step by step:

# %% demo demo_future
rng = np.random.default_rng(0)
n_x, n_a, n_y, m, T_x = 3, 4, 2, 1, 6


def layer():
    return {"Wax": rng.standard_normal((n_a, n_x)), "Waa": rng.standard_normal((n_a, n_a)) * 0.5,
            "ba": np.zeros((n_a, 1))}


parameters = {"fwd": layer(), "rev": layer(), "Wy": rng.standard_normal((n_y, 2 * n_a)),
              "by": np.zeros((n_y, 1))}
x = rng.standard_normal((n_x, m, T_x))
a0 = (np.zeros((n_a, m)), np.zeros((n_a, m)))
a, _ = brnn_forward(x, a0, parameters)
x2 = x.copy()
x2[:, :, -1] += 1.0
a2, _ = brnn_forward(x2, a0, parameters)
change = np.abs(a2 - a)[:, 0, :]
print("forward states: ", np.round(change[:n_a].max(axis=0), 3))
print("backward states:", np.round(change[n_a:].max(axis=0), 3))
