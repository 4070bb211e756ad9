# %% [markdown]
# # Assignment 5: long short-term memory (LSTM)
#
# The LSTM keeps a memory cell $c^{\langle t \rangle}$ next to its hidden state
# $a^{\langle t \rangle}$ and controls it with three gates: the update gate $\Gamma_u$ (how much
# of the candidate to write), the forget gate $\Gamma_f$ (how much of the old memory to keep)
# and the output gate $\Gamma_o$ (how much of the memory to show). Unlike the GRU, the LSTM
# writes and keeps with two separate gates. The gates and the candidate all read
# $[a^{\langle t-1 \rangle}, x^{\langle t \rangle}]$, the state first, of shape
# $(n_a + n_x, m)$:
#
# $$\tilde c^{\langle t \rangle} = \tanh\left(W_c\, [a^{\langle t-1 \rangle},
# x^{\langle t \rangle}] + b_c\right)$$
#
# $$\Gamma_u = \sigma\left(W_u\, [a^{\langle t-1 \rangle}, x^{\langle t \rangle}] + b_u\right)
# \quad \Gamma_f = \sigma\left(W_f\, [a^{\langle t-1 \rangle}, x^{\langle t \rangle}] + b_f\right)
# \quad \Gamma_o = \sigma\left(W_o\, [a^{\langle t-1 \rangle}, x^{\langle t \rangle}] + b_o\right)$$
#
# $$c^{\langle t \rangle} = \Gamma_u \odot \tilde c^{\langle t \rangle}
# + \Gamma_f \odot c^{\langle t-1 \rangle} \qquad
# a^{\langle t \rangle} = \Gamma_o \odot \tanh(c^{\langle t \rangle}) \qquad
# \hat y^{\langle t \rangle} = \operatorname{softmax}(W_y\, a^{\langle t \rangle} + b_y)$$
#
# with $W_f, W_u, W_c, W_o$ of shape $(n_a, n_a + n_x)$, their biases $(n_a, 1)$,
# $W_y$ $(n_y, n_a)$, $b_y$ $(n_y, 1)$, under the keys `"Wf"`, `"bf"`, `"Wu"`, `"bu"`, `"Wc"`,
# `"bc"`, `"Wo"`, `"bo"`, `"Wy"`, `"by"`. (The course's assignment calls the update gate
# "i", for input: code ported from it reads `"Wi"`, `"bi"` and returns `"dWi"`, `"dbi"`; here
# they are `"Wu"`, `"bu"`, `"dWu"`, `"dbu"`.) The memory starts empty:
# $c^{\langle 0 \rangle} = 0$. You write:
#
# 1. `lstm_cell_forward` (4 points) and `lstm_forward` (4 points);
# 2. `lstm_cell_backward` (4 points) and `lstm_backward` (3 points).
#
# In each function, replace `raise NotImplementedError()` with your code, using numpy and the
# `sigmoid` and `softmax` imported below.

# %% setup
import numpy as np

from rnnlib import grading
from rnnlib.activations import sigmoid, softmax

# %% [markdown]
# ## 1. One time step
#
# Return also the cache `(a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters)`,
# where `ft`, `ut`, `ot` are $\Gamma_f$, $\Gamma_u$, $\Gamma_o$ and `cct` is
# $\tilde c^{\langle t \rangle}$: the backward pass needs them.

# %% solution lstm_cell_forward
def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One LSTM step.

    Arguments:
        xt          (n_x, m)  the input x<t>
        a_prev      (n_a, m)  the hidden state a<t-1>
        c_prev      (n_a, m)  the memory c<t-1>
        parameters  dict: Wf, Wu, Wc, Wo (n_a, n_a + n_x); bf, bu, bc, bo (n_a, 1);
                    Wy (n_y, n_a), by (n_y, 1)

    Returns:
        a_next   (n_a, m)  a<t>
        c_next   (n_a, m)  c<t>
        yt_pred  (n_y, m)  ŷ<t>
        cache    (a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters)
    """
    ### BEGIN SOLUTION
    p = parameters
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])
    ut = sigmoid(p["Wu"] @ concat + p["bu"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    ot = sigmoid(p["Wo"] @ concat + p["bo"])
    c_next = ut * cct + ft * c_prev
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])
    cache = (a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache
    ### END SOLUTION

# %% test lstm_cell_forward_shapes points=1
grading.check_lstm_cell_forward(lstm_cell_forward, "shapes")

# %% test lstm_cell_forward_values points=2
grading.check_lstm_cell_forward(lstm_cell_forward, "values")

# %% test lstm_cell_forward_random points=1
# Hidden tests at grading: lstm_cell_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_lstm_cell_forward(lstm_cell_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The whole sequence
#
# Both states travel from step to step: the hidden state starts from `a0`, the memory from
# zeros. Store every $a^{\langle t \rangle}$, $\hat y^{\langle t \rangle}$ and
# $c^{\langle t \rangle}$, and return the caches as `(list of the cells' caches, x)`. Use your
# `lstm_cell_forward` (while `lstm_forward` is graded, the tests lend it the reference cell).
# One test (1 point) reads the caches: the cache of step $t$ must still hold
# $a^{\langle t-1 \rangle}$ and $c^{\langle t-1 \rangle}$ when `lstm_forward` returns, so pass
# each step the arrays the previous step returned, not slices of `a` or `c` that a later step
# overwrites.

# %% solution lstm_forward
def lstm_forward(x, a0, parameters):
    """The LSTM over a whole sequence, from a<0> = a0 and c<0> = 0.

    Arguments:
        x           (n_x, m, T_x)  the inputs
        a0          (n_a, m)       the initial hidden state
        parameters  as for lstm_cell_forward

    Returns:
        a       (n_a, m, T_x)  a<1> ... a<T_x>
        y       (n_y, m, T_x)  ŷ<1> ... ŷ<T_x>
        c       (n_a, m, T_x)  c<1> ... c<T_x>
        caches  (list of the T_x cell caches, x)
    """
    ### BEGIN SOLUTION
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    n_y = parameters["Wy"].shape[0]
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    caches = []
    a_next, c_next = a0, np.zeros((n_a, m))
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    return a, y, c, (caches, x)
    ### END SOLUTION

# %% test lstm_forward_shapes points=1
grading.check_lstm_forward(lstm_forward, "shapes")

# %% test lstm_forward_values points=1
grading.check_lstm_forward(lstm_forward, "values")

# %% test lstm_forward_cache points=1
grading.check_lstm_forward(lstm_forward, "cache")

# %% test lstm_forward_random points=1
# Hidden tests at grading: lstm_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_lstm_forward(lstm_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. One step backwards
#
# The step receives `da_next` $= \partial L / \partial a^{\langle t \rangle}$ and `dc_next`,
# the gradient reaching $c^{\langle t \rangle}$ from the next step. The memory also gets
# gradient through $a^{\langle t \rangle} = \Gamma_o \odot \tanh(c^{\langle t \rangle})$, so in
# total
#
# $$dc = dc_{next} + da_{next} \odot \Gamma_o \odot \left(1 - \tanh^2(c^{\langle t
# \rangle})\right)$$
#
# Before each nonlinearity (with $\sigma' = \sigma (1 - \sigma)$ and $\tanh' = 1 - \tanh^2$):
#
# $$dz_o = da_{next} \odot \tanh(c^{\langle t \rangle}) \odot \Gamma_o (1 - \Gamma_o) \qquad
# dz_c = dc \odot \Gamma_u \odot (1 - (\tilde c^{\langle t \rangle})^2)$$
#
# $$dz_u = dc \odot \tilde c^{\langle t \rangle} \odot \Gamma_u (1 - \Gamma_u) \qquad
# dz_f = dc \odot c^{\langle t-1 \rangle} \odot \Gamma_f (1 - \Gamma_f)$$
#
# Then, with $\text{concat} = [a^{\langle t-1 \rangle}; x^{\langle t \rangle}]$, for each gate
# $g \in \{f, u, c, o\}$: $dW_g = dz_g\, \text{concat}^T$ and $db_g = \sum_{\text{examples}}
# dz_g$. The gradient of concat is $\sum_g W_g^T dz_g$: its first $n_a$ rows are `da_prev`, the
# rest `dxt`. Finally `dc_prev` $= dc \odot \Gamma_f$.

# %% solution lstm_cell_backward
def lstm_cell_backward(da_next, dc_next, cache):
    """Backward pass of one LSTM step.

    Arguments:
        da_next  (n_a, m)  gradient of the loss with respect to a<t>
        dc_next  (n_a, m)  gradient reaching c<t> from the next step
        cache    from lstm_cell_forward

    Returns a dict:
        dxt (n_x, m), da_prev (n_a, m), dc_prev (n_a, m),
        dWf, dWu, dWc, dWo (n_a, n_a + n_x), dbf, dbu, dbc, dbo (n_a, 1)
    """
    ### BEGIN SOLUTION
    a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, parameters = cache
    n_a = a_next.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c ** 2)
    dz = {"f": dc * c_prev * ft * (1 - ft),
          "u": dc * cct * ut * (1 - ut),
          "c": dc * ut * (1 - cct ** 2),
          "o": da_next * tanh_c * ot * (1 - ot)}
    concat = np.concatenate((a_prev, xt), axis=0)
    dconcat = sum(parameters["W" + g].T @ dz[g] for g in "fuco")
    grads = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc * ft}
    for g in "fuco":
        grads["dW" + g] = dz[g] @ concat.T
        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
    return grads
    ### END SOLUTION

# %% test lstm_cell_backward_shapes points=1
grading.check_lstm_cell_backward(lstm_cell_backward, "shapes")

# %% test lstm_cell_backward_values points=2
grading.check_lstm_cell_backward(lstm_cell_backward, "values")

# %% test lstm_cell_backward_random points=1
# Hidden tests at grading: lstm_cell_backward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_lstm_cell_backward(lstm_cell_backward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Backpropagation through time
#
# Run the steps backwards in time. Step $t$ receives `da[:, :, t]` plus the `da_prev` sent back
# by step $t+1$, and, as its `dc_next`, the `dc_prev` sent back by step $t+1$: *both* states
# carry gradient back in time (a widely copied version of this function forgets the memory's,
# and a numerical gradient check catches it). Weight gradients add up over time; `da0` is what
# the first step sends back. Use your `lstm_cell_backward` (while `lstm_backward` is graded, the
# tests lend it the reference cell).

# %% solution lstm_backward
def lstm_backward(da, caches):
    """Backpropagation through time for the LSTM.

    Arguments:
        da      (n_a, m, T_x)  gradient arriving at each a<t> from the outputs
        caches  (list of the T_x cell caches, x) from lstm_forward

    Returns a dict:
        dx (n_x, m, T_x), da0 (n_a, m), dWf, dWu, dWc, dWo (n_a, n_a + n_x),
        dbf, dbu, dbc, dbo (n_a, 1)
    """
    ### BEGIN SOLUTION
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    parameters = cell_caches[0][9]
    dx = np.zeros((n_x, m, T_x))
    grads = {"d" + k: np.zeros_like(parameters[k])
             for k in ("Wf", "bf", "Wu", "bu", "Wc", "bc", "Wo", "bo")}
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        step = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prevt, dc_prevt = step["da_prev"], step["dc_prev"]
        for k in grads:
            grads[k] += step[k]
    return {"dx": dx, "da0": da_prevt, **grads}
    ### END SOLUTION

# %% test lstm_backward_shapes points=1
grading.check_lstm_backward(lstm_backward, "shapes")

# %% test lstm_backward_values points=1
grading.check_lstm_backward(lstm_backward, "values")

# %% test lstm_backward_random points=1
# Hidden tests at grading: lstm_backward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_lstm_backward(lstm_backward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The forget gate keeps the memory
#
# How much does the last hidden state depend on the first input, 30 steps earlier? With a large
# forget bias $b_f$ ($\Gamma_f \approx 1$) the memory keeps what it wrote and the gradient
# flows back along it; with a negative one ($\Gamma_f \approx 0$) the memory is wiped at every
# step. Your `lstm_forward` and `lstm_backward`, with a loss on $a^{\langle 30 \rangle}$ only:

# %% demo demo_memory
rng = np.random.default_rng(0)
n_x, n_a, n_y, m, T_x = 2, 3, 2, 1, 30
params = {k: rng.standard_normal((n_a, n_a + n_x)) for k in ("Wf", "Wu", "Wc", "Wo")}
params.update(bu=np.zeros((n_a, 1)), bc=np.zeros((n_a, 1)), bo=np.zeros((n_a, 1)),
              Wy=rng.standard_normal((n_y, n_a)), by=np.zeros((n_y, 1)))
x = rng.standard_normal((n_x, m, T_x))
da = np.zeros((n_a, m, T_x))
da[:, :, -1] = 1.0  # a loss on the last hidden state only
for bf in (-5.0, 5.0):
    params["bf"] = np.full((n_a, 1), bf)
    a, y, c, caches = lstm_forward(x, np.zeros((n_a, m)), params)
    grads = lstm_backward(da, caches)
    print(f"bf = {bf:+.0f}: largest gradient reaching x<1> from a<30>: "
          f"{np.abs(grads['dx'][:, :, 0]).max():.2e}")
