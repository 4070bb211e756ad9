"""Activation functions of the notes, written to be numerically stable.

All functions work elementwise on arrays of any shape, except ``softmax`` which normalises
over axis 0: the class axis n_y of an output ``y_hat<t>`` of shape (n_y, m).
"""

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + exp(-z)), without overflow for large |z|.

    exp is only ever taken of a non-positive number, so it never overflows.
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z):
    """Softmax over axis 0 (the n_y classes) of z, shape (n_y, m) or (n_y, m, T).

    The column maximum is subtracted first, so large logits do not overflow.
    """
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def tanh(z):
    return np.tanh(z)


def relu(z):
    return np.maximum(z, 0.0)


# Derivatives written in terms of the activation's *output* g(z): that is what caches keep.
def tanh_grad_from_output(g):
    """d tanh(z)/dz = 1 - tanh(z)^2."""
    return 1.0 - g * g


def relu_grad_from_output(g):
    """d relu(z)/dz = 1 where relu(z) > 0, else 0."""
    return (g > 0).astype(g.dtype)


def sigmoid_grad_from_output(g):
    """dσ(z)/dz = σ(z) (1 - σ(z))."""
    return g * (1.0 - g)


# The hidden-state activations an RNN cell may use (the notes name tanh and ReLU).
HIDDEN_ACTIVATIONS = {
    "tanh": (tanh, tanh_grad_from_output),
    "relu": (relu, relu_grad_from_output),
}
