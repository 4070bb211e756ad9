# %% [markdown]
# # Assignment 2: backpropagation through time
#
# Training an RNN needs the gradient of the loss with respect to its weights. The forward pass
# unrolls the network over time, so the backward pass runs over the unrolled network from the
# last step to the first: *backpropagation through time* (BPTT). You write:
#
# 1. `rnn_cell_backward`: the gradients of one time step (4 points);
# 2. `rnn_backward`: the gradients of a whole sequence (4 points);
# 3. `numerical_gradient`: a gradient computed from the loss alone, by finite differences
#    (3 points), with which you then check your own `rnn_backward`.
#
# Shapes are those of the previous assignment: `xt` $(n_x, m)$, `a_prev` $(n_a, m)$,
# `x` $(n_x, m, T_x)$, $W_{ax}$ $(n_a, n_x)$, $W_{aa}$ $(n_a, n_a)$, $b_a$ $(n_a, 1)$.
# A gradient has the shape of what it is the gradient of: `dWax` has the shape of `Wax`.
# In each function, replace `raise NotImplementedError()` with your code, using numpy only.

# %% setup
import numpy as np

from rnnlib import grading
from rnnlib.gradcheck import rel_error
from rnnlib.rnn import rnn_forward

# %% [markdown]
# ## 1. One time step
#
# Forward, the cell computes $z = W_{aa}\, a^{\langle t-1 \rangle} + W_{ax}\, x^{\langle t
# \rangle} + b_a$ and $a^{\langle t \rangle} = \tanh(z)$. Given `da_next`
# $= \partial L / \partial a^{\langle t \rangle}$, the chain rule gives, with
# $\tanh'(z) = 1 - \tanh(z)^2 = 1 - (a^{\langle t \rangle})^2$:
#
# $$dz = da_{next} \odot \left(1 - (a^{\langle t \rangle})^2\right)$$
#
# $$dx^{\langle t \rangle} = W_{ax}^T\, dz \qquad da^{\langle t-1 \rangle} = W_{aa}^T\, dz$$
#
# $$dW_{ax} = dz\, (x^{\langle t \rangle})^T \qquad dW_{aa} = dz\, (a^{\langle t-1 \rangle})^T
# \qquad db_a = \sum_{\text{examples}} dz$$
#
# The bias is added to every example (column), so its gradient sums $dz$ over the $m$
# examples: `dz.sum(axis=1, keepdims=True)` keeps the shape $(n_a, 1)$.
# The `cache` is what `rnn_cell_forward` returned: `(a_next, a_prev, xt, parameters)`.

# %% solution rnn_cell_backward
def rnn_cell_backward(da_next, cache):
    """Backward pass of one RNN step.

    Arguments:
        da_next  (n_a, m)  gradient of the loss with respect to a<t>
        cache    (a_next, a_prev, xt, parameters) from rnn_cell_forward

    Returns a dict:
        dxt (n_x, m), da_prev (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1)
    """
    ### BEGIN SOLUTION
    a_next, a_prev, xt, parameters = cache
    dz = da_next * (1 - a_next ** 2)
    return {
        "dxt": parameters["Wax"].T @ dz,
        "da_prev": parameters["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }
    ### END SOLUTION

# %% test rnn_cell_backward_shapes points=1
grading.check_rnn_cell_backward(rnn_cell_backward, "shapes")

# %% test rnn_cell_backward_values points=2
grading.check_rnn_cell_backward(rnn_cell_backward, "values")

# %% test rnn_cell_backward_random points=1
# Hidden tests at grading: rnn_cell_backward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_rnn_cell_backward(rnn_cell_backward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The whole sequence
#
# `da` holds, for every step $t$, the gradient arriving at $a^{\langle t \rangle}$ from that
# step's output (`da[:, :, t]`). But $a^{\langle t \rangle}$ also feeds step $t+1$, so the
# gradient it receives in total is `da[:, :, t]` plus the `da_prev` that step $t+1$ sends back.
# That is why the loop runs backwards in time, from $t = T_x - 1$ down to $0$, carrying
# `da_prevt` from one step to the next. The weights are the same at every step: their
# gradients add up over time. What the last step processed ($t = 0$) sends back is
# `da0` $= \partial L / \partial a^{\langle 0 \rangle}$.
#
# `caches` is what `rnn_forward` returned: `(list of the cells' caches, x)`. Use your
# `rnn_cell_backward` for each step (while `rnn_backward` is graded, the tests lend it the
# reference cell).

# %% solution rnn_backward
def rnn_backward(da, caches):
    """Backpropagation through time over a whole sequence.

    Arguments:
        da      (n_a, m, T_x)  gradient arriving at each a<t> from the outputs
        caches  (list of the T_x cell caches, x) from rnn_forward

    Returns a dict:
        dx (n_x, m, T_x), da0 (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1)
    """
    ### BEGIN SOLUTION
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    parameters = cell_caches[0][3]
    dWax = np.zeros_like(parameters["Wax"])
    dWaa = np.zeros_like(parameters["Waa"])
    dba = np.zeros_like(parameters["ba"])
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        grads = rnn_cell_backward(da[:, :, t] + da_prevt, cell_caches[t])
        dx[:, :, t] = grads["dxt"]
        da_prevt = grads["da_prev"]
        dWax += grads["dWax"]
        dWaa += grads["dWaa"]
        dba += grads["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}
    ### END SOLUTION

# %% test rnn_backward_shapes points=1
grading.check_rnn_backward(rnn_backward, "shapes")

# %% test rnn_backward_values points=2
grading.check_rnn_backward(rnn_backward, "values")

# %% test rnn_backward_random points=1
# Hidden tests at grading: rnn_backward against rnnlib on random shapes and seeds.
### BEGIN HIDDEN TESTS
grading.check_rnn_backward(rnn_backward, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Checking gradients numerically
#
# A backward pass is easy to get subtly wrong, and a wrong gradient still trains, only badly.
# The standard check compares it with a gradient computed from the loss alone. For one entry
# $x_i$ of an array $x$, the *centred difference*
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}$$
#
# is accurate to $O(h^2)$ (a one-sided difference only to $O(h)$). Write
# `numerical_gradient(f, x, h)`: `f` is a function of no arguments that reads the array `x`
# (as a closure does), so you change one entry `x[i]` in place, call `f()`, and put the entry
# back before moving on. `np.ndindex(x.shape)` visits every index of an array of any shape.

# %% solution numerical_gradient
def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar function f() with respect to the array x.

    Arguments:
        f  a function of no arguments returning a float; it reads x
        x  a float array, perturbed in place one entry at a time and restored
        h  the step

    Returns:
        grad  an array of the shape of x
    """
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION

# %% test numerical_gradient_values points=2
grading.check_numerical_gradient(numerical_gradient, "values")

# %% test numerical_gradient_random points=1
# Hidden tests at grading: numerical_gradient against rnnlib on random arrays.
### BEGIN HIDDEN TESTS
grading.check_numerical_gradient(numerical_gradient, "random")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Checking your `rnn_backward`
#
# Take the loss $L = \sum_t \sum a^{\langle t \rangle} \odot da^{\langle t \rangle}$ for a
# fixed random `da`: its gradient with respect to each $a^{\langle t \rangle}$ is exactly
# `da[:, :, t]`, so `rnn_backward(da, caches)` must return its gradients with respect to the
# weights. Compare them with your numerical gradients: a relative error around $10^{-9}$ or
# below means the two agree; above $10^{-5}$ something is wrong.

# %% demo demo_gradient_check
rng = np.random.default_rng(1)
n_x, n_a, m, T_x = 3, 5, 2, 4
x = rng.standard_normal((n_x, m, T_x))
a0 = rng.standard_normal((n_a, m))
parameters = {"Wax": rng.standard_normal((n_a, n_x)) * 0.5,
              "Waa": rng.standard_normal((n_a, n_a)) * 0.5,
              "ba": rng.standard_normal((n_a, 1)) * 0.5,
              "Wya": np.zeros((2, n_a)), "by": np.zeros((2, 1))}
da = rng.standard_normal((n_a, m, T_x))


def loss():
    a, _, _ = rnn_forward(x, a0, parameters)
    return float(np.sum(a * da))


_, _, caches = rnn_forward(x, a0, parameters)
gradients = rnn_backward(da, caches)
for name in ("Wax", "Waa", "ba"):
    numerical = numerical_gradient(loss, parameters[name])
    print(f"d{name}: relative error {rel_error(gradients['d' + name], numerical):.2e}")
