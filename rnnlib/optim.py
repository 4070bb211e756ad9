"""Gradient clipping and optimisers for parameter dicts.

Course convention: the gradient of ``parameters['Wax']`` is ``gradients['dWax']``. Everything
here works on the arrays in place (so a model holding the dict sees the change) and also
returns them for convenience.

    clip(gradients, maxValue)          every entry into [-maxValue, maxValue] (the course's clip)
    clip_by_norm(gradients, max_norm)  rescale all together so their global L2 norm <= max_norm
    SGD(learning_rate, momentum=0)     W := W - α dW (with momentum: v := μ v + dW; W := W - α v)
    Adam(learning_rate, beta1, beta2, epsilon)

Optimisers update every key of ``parameters``; a parameter without its gradient is an error
(a silently frozen weight is a bug that is hard to see). Extra gradient keys (``dx``, ``da0``)
are ignored.
"""

import numpy as np


def _check_gradient_dict(func, gradients):
    if not isinstance(gradients, dict):
        raise ValueError(
            f"{func}: gradients must be a dict of numpy arrays (e.g. {{'dWax': ...}}), "
            f"got {type(gradients).__name__}"
        )
    for key, g in gradients.items():
        if not (isinstance(g, np.ndarray) and np.issubdtype(g.dtype, np.floating)):
            got = f"{g.dtype} array" if isinstance(g, np.ndarray) else type(g).__name__
            raise ValueError(
                f"{func}: gradients[{key!r}] must be a floating-point numpy array "
                f"(it is changed in place), got {got}"
            )


def _check_positive(func, name, value):
    if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{func}: {name} must be a positive number, got {value!r}")


def clip(gradients, maxValue):
    """Clip every gradient elementwise to [-maxValue, maxValue], as the course's ``clip``.

    Arguments:
        gradients  dict of arrays, e.g. dWax, dWaa, dWya, dba, dby (every entry is clipped)
        maxValue   positive number

    Returns ``gradients``: the same dict, whose arrays were clipped in place.
    """
    func = "clip"
    _check_gradient_dict(func, gradients)
    _check_positive(func, "maxValue", maxValue)
    for g in gradients.values():
        np.clip(g, -maxValue, maxValue, out=g)
    return gradients


def clip_by_norm(gradients, max_norm):
    """Rescale all gradients together when their global L2 norm exceeds ``max_norm``.

    total_norm = sqrt(Σ over every entry of every gradient of g²); when it is above ``max_norm``
    each gradient is multiplied by max_norm / (total_norm + 1e-6), as PyTorch's
    ``clip_grad_norm_``; the direction of the update is kept, unlike ``clip``.

    Returns ``(gradients, total_norm)``: the same dict (scaled in place) and the norm before
    clipping. Raises ``ValueError`` naming the first non-finite gradient.
    """
    func = "clip_by_norm"
    _check_gradient_dict(func, gradients)
    _check_positive(func, "max_norm", max_norm)
    for key, g in gradients.items():
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{func}: gradients[{key!r}] holds NaN or inf; its norm is undefined")
    total_norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in gradients.values())))
    scale = max_norm / (total_norm + 1e-6)
    if scale < 1.0:
        for g in gradients.values():
            g *= scale
    return gradients, total_norm


def _pairs(func, parameters, gradients):
    """[(name, parameter, gradient)] for every parameter, validated."""
    if not isinstance(parameters, dict):
        raise ValueError(f"{func}: parameters must be a dict, got {type(parameters).__name__}")
    if not isinstance(gradients, dict):
        raise ValueError(f"{func}: gradients must be a dict, got {type(gradients).__name__}")
    missing = [f"d{k}" for k in parameters if f"d{k}" not in gradients]
    if missing:
        raise ValueError(
            f"{func}: gradients is missing {', '.join(map(repr, missing))} "
            f"(the gradient of parameters['W'] is gradients['dW'])"
        )
    pairs = []
    for k, p in parameters.items():
        g = gradients[f"d{k}"]
        if not (isinstance(p, np.ndarray) and np.issubdtype(p.dtype, np.floating)):
            raise ValueError(
                f"{func}: parameters[{k!r}] must be a floating-point numpy array "
                f"(it is updated in place), got {type(p).__name__}"
            )
        if np.shape(g) != p.shape:
            raise ValueError(
                f"{func}: gradients['d{k}'] has shape {np.shape(g)}, expected the shape of "
                f"parameters[{k!r}] = {p.shape}"
            )
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{func}: gradients['d{k}'] holds NaN or inf")
        pairs.append((k, p, np.asarray(g)))
    return pairs


class SGD:
    """Gradient descent: W := W - α dW; with momentum μ > 0, v := μ v + dW and W := W - α v
    (PyTorch's ``torch.optim.SGD`` formulation, v starting at 0).

    ``step(parameters, gradients)`` updates the arrays in place and returns ``parameters``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0):
        _check_positive("SGD", "learning_rate", learning_rate)
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocity = {}

    def step(self, parameters, gradients):
        for k, p, g in _pairs("SGD.step", parameters, gradients):
            if self.momentum:
                v = self.velocity.setdefault(k, np.zeros_like(p))
                v *= self.momentum
                v += g
                g = v
            p -= self.learning_rate * g
        return parameters


def update_parameters(parameters, gradients, learning_rate):
    """The course's update: parameters['W'] -= learning_rate * gradients['dW'] for every W."""
    return SGD(learning_rate).step(parameters, gradients)


class Adam:
    """Adam (Kingma & Ba, 2015), with the moment estimates' bias correction.

    For each parameter W, at step t = 1, 2, ...:
        v := β1 v + (1 - β1) dW            s := β2 s + (1 - β2) dW²
        v̂ = v / (1 - β1^t)                 ŝ = s / (1 - β2^t)
        W := W - α v̂ / (sqrt(ŝ) + ε)

    ``step(parameters, gradients)`` updates the arrays in place and returns ``parameters``.
    The moments are kept per parameter name; ``t`` counts the steps taken.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        _check_positive("Adam", "learning_rate", learning_rate)
        _check_positive("Adam", "epsilon", epsilon)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
                raise ValueError(f"Adam: {name} must be in [0, 1), got {beta!r}")
        self.learning_rate, self.beta1, self.beta2, self.epsilon = (
            learning_rate, beta1, beta2, epsilon)
        self.v, self.s, self.t = {}, {}, 0

    def step(self, parameters, gradients):
        pairs = _pairs("Adam.step", parameters, gradients)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for k, p, g in pairs:
            v = self.v.setdefault(k, np.zeros_like(p))
            s = self.s.setdefault(k, np.zeros_like(p))
            if v.shape != p.shape:
                raise ValueError(
                    f"Adam.step: parameters[{k!r}] changed shape from {v.shape} to {p.shape} "
                    f"between steps; use a new Adam for a new model"
                )
            v *= b1
            v += (1 - b1) * g
            s *= b2
            s += (1 - b2) * g * g
            v_hat = v / (1 - b1 ** self.t)
            s_hat = s / (1 - b2 ** self.t)
            p -= self.learning_rate * v_hat / (np.sqrt(s_hat) + self.epsilon)
        return parameters
