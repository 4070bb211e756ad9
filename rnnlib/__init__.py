"""rnnlib: reference numpy implementations of the recurrent networks of the course notes.

Every model is a forward/backward pair with an explicit cache, in the notes' notation and the
course assignment's shapes (features, examples, time): x (n_x, m, T_x), a (n_a, m, T_x).
Each is checked against PyTorch in ``tests/``.
"""

from .activations import relu, sigmoid, softmax, tanh
from .gradcheck import check_gradients, numerical_gradient, rel_error
from .gru import (
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    simple_gru_backward,
    simple_gru_cell_backward,
    simple_gru_cell_forward,
    simple_gru_forward,
    torch_gru_backward,
    torch_gru_cell_backward,
    torch_gru_cell_forward,
    torch_gru_forward,
)
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward

__all__ = [
    "relu", "sigmoid", "softmax", "tanh",
    "check_gradients", "numerical_gradient", "rel_error",
    "rnn_backward", "rnn_cell_backward", "rnn_cell_forward", "rnn_forward",
    "lstm_backward", "lstm_cell_backward", "lstm_cell_forward", "lstm_forward",
    "gru_backward", "gru_cell_backward", "gru_cell_forward", "gru_forward",
    "simple_gru_backward", "simple_gru_cell_backward", "simple_gru_cell_forward",
    "simple_gru_forward", "torch_gru_backward", "torch_gru_cell_backward",
    "torch_gru_cell_forward", "torch_gru_forward",
]
