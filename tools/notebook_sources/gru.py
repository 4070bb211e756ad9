# %% [markdown]
# # Assignment 4: the gated recurrent unit (GRU)
#
# A basic RNN forgets quickly: every step squashes the whole state through a tanh, and the
# gradients that flow back through many steps vanish. The GRU adds a memory cell
# $c^{\langle t \rangle}$ (for the GRU, $a^{\langle t \rangle} = c^{\langle t \rangle}$) and
# *gates*, vectors of numbers between 0 and 1 that decide, unit by unit, how much of the memory
# to keep. You write the full GRU of the notes:
#
# $$\Gamma_r = \sigma\left(W_r\, [c^{\langle t-1 \rangle}, x^{\langle t \rangle}] + b_r\right)
# \qquad \text{(relevance gate)}$$
#
# $$\Gamma_u = \sigma\left(W_u\, [c^{\langle t-1 \rangle}, x^{\langle t \rangle}] + b_u\right)
# \qquad \text{(update gate)}$$
#
# $$\tilde c^{\langle t \rangle} = \tanh\left(W_c\, [\Gamma_r \odot c^{\langle t-1 \rangle},
# x^{\langle t \rangle}] + b_c\right) \qquad \text{(candidate)}$$
#
# $$c^{\langle t \rangle} = \Gamma_u \odot \tilde c^{\langle t \rangle}
# + (1 - \Gamma_u) \odot c^{\langle t-1 \rangle}$$
#
# $$\hat y^{\langle t \rangle} = \operatorname{softmax}\left(W_y\, c^{\langle t \rangle}
# + b_y\right)$$
#
# $[c^{\langle t-1 \rangle}, x^{\langle t \rangle}]$ stacks the two vertically, the state first:
# shape $(n_a + n_x, m)$, so $W_r$, $W_u$, $W_c$ have shape $(n_a, n_a + n_x)$ and $b_r$, $b_u$,
# $b_c$ $(n_a, 1)$. $\odot$ is the elementwise product (`*` in numpy).
#
# Two details matter. $\Gamma_u = 1$ *writes* the candidate and $\Gamma_u = 0$ *keeps* the old
# memory. And $\Gamma_r$ multiplies $c^{\langle t-1 \rangle}$ *before* the product with $W_c$
# (PyTorch's `nn.GRU` applies its reset gate after the product instead: a different function).
#
# 1. `gru_cell_forward`: one time step (5 points);
# 2. `gru_forward`: the whole sequence (5 points).
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
# `parameters` holds `"Wr"`, `"br"`, `"Wu"`, `"bu"`, `"Wc"`, `"bc"`, `"Wy"`, `"by"`. Stack the
# state and the input with `np.concatenate((c_prev, xt), axis=0)`. Return also the cache
# `(c_next, c_prev, ut, rt, cct, xt, parameters)`, where `ut`, `rt` are $\Gamma_u$, $\Gamma_r$
# and `cct` is $\tilde c^{\langle t \rangle}$.

# %% solution gru_cell_forward
def gru_cell_forward(xt, c_prev, parameters):
    """One step of the GRU of the notes.

    Arguments:
        xt          (n_x, m)  the input x<t>
        c_prev      (n_a, m)  the memory c<t-1>
        parameters  dict: Wr, Wu, Wc (n_a, n_a + n_x); br, bu, bc (n_a, 1);
                    Wy (n_y, n_a), by (n_y, 1)

    Returns:
        c_next   (n_a, m)  c<t>
        yt_pred  (n_y, m)  ŷ<t>
        cache    (c_next, c_prev, ut, rt, cct, xt, parameters)
    """
    ### BEGIN SOLUTION
    p = parameters
    concat = np.concatenate((c_prev, xt), axis=0)
    rt = sigmoid(p["Wr"] @ concat + p["br"])
    ut = sigmoid(p["Wu"] @ concat + p["bu"])
    cct = np.tanh(p["Wc"] @ np.concatenate((rt * c_prev, xt), axis=0) + p["bc"])
    c_next = ut * cct + (1 - ut) * c_prev
    yt_pred = softmax(p["Wy"] @ c_next + p["by"])
    return c_next, yt_pred, (c_next, c_prev, ut, rt, cct, xt, parameters)
    ### END SOLUTION

# %% test gru_cell_forward_shapes points=1
grading.check_gru_cell_forward(gru_cell_forward, "shapes")

# %% test gru_cell_forward_values points=3
grading.check_gru_cell_forward(gru_cell_forward, "values")

# %% test gru_cell_forward_random points=1
# Hidden tests at grading: gru_cell_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_gru_cell_forward(gru_cell_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The whole sequence
#
# As for the basic RNN: step $t$ reads `x[:, :, t]` and the memory left by the step before,
# starting from `c0`; store every $c^{\langle t \rangle}$ in `c` and every
# $\hat y^{\langle t \rangle}$ in `y_pred`, and return the caches as
# `(list of the cells' caches, x)`. Use your `gru_cell_forward` (while `gru_forward` is graded,
# the tests lend it the reference cell). One test (1 point) reads the caches: the cache of step
# $t$ must still hold $c^{\langle t-1 \rangle}$ and the step's gates when `gru_forward` returns,
# so pass each step the array the previous step returned, not a slice of `c` that a later step
# overwrites.

# %% solution gru_forward
def gru_forward(x, c0, parameters):
    """The GRU over a whole sequence, from c<0> = c0.

    Arguments:
        x           (n_x, m, T_x)  the inputs
        c0          (n_a, m)       the initial memory
        parameters  as for gru_cell_forward

    Returns:
        c       (n_a, m, T_x)  c<1> ... c<T_x>
        y_pred  (n_y, m, T_x)  ŷ<1> ... ŷ<T_x>
        caches  (list of the T_x cell caches, x)
    """
    ### BEGIN SOLUTION
    n_x, m, T_x = x.shape
    n_a = c0.shape[0]
    n_y = parameters["Wy"].shape[0]
    c = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    caches = []
    c_next = c0
    for t in range(T_x):
        c_next, yt_pred, cache = gru_cell_forward(x[:, :, t], c_next, parameters)
        c[:, :, t] = c_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    return c, y_pred, (caches, x)
    ### END SOLUTION

# %% test gru_forward_shapes points=1
grading.check_gru_forward(gru_forward, "shapes")

# %% test gru_forward_values points=2
grading.check_gru_forward(gru_forward, "values")

# %% test gru_forward_cache points=1
grading.check_gru_forward(gru_forward, "cache")

# %% test gru_forward_random points=1
# Hidden tests at grading: gru_forward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_gru_forward(gru_forward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The update gate is a memory switch
#
# With a very negative bias $b_u$, $\Gamma_u \approx 0$ and the GRU keeps its memory over the
# whole sequence, whatever it reads; with a very positive $b_u$, $\Gamma_u \approx 1$ and it
# overwrites its memory at every step. The first unit of $c$ over 8 steps, in both cases:

# %% demo demo_memory
rng = np.random.default_rng(0)
n_x, n_a, n_y, m, T_x = 2, 3, 2, 1, 8
base = {k: rng.standard_normal((n_a, n_a + n_x)) for k in ("Wr", "Wu", "Wc")}
base.update(br=np.zeros((n_a, 1)), bc=np.zeros((n_a, 1)),
            Wy=rng.standard_normal((n_y, n_a)), by=np.zeros((n_y, 1)))
x = rng.standard_normal((n_x, m, T_x))
c0 = np.ones((n_a, m))
for bias in (-10.0, 10.0):
    c, _, _ = gru_forward(x, c0, {**base, "bu": np.full((n_a, 1), bias)})
    print(f"bu = {bias:+.0f}:", np.round(c[0, 0, :], 3))
