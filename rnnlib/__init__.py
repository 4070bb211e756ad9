"""rnnlib: reference numpy implementations of the recurrent networks of the course notes.

Every model is a forward/backward pair with an explicit cache, in the notes' notation and the
course assignment's shapes (features, examples, time): x (n_x, m, T_x), a (n_a, m, T_x).
Each is checked against PyTorch in ``tests/``.
"""

from .activations import relu, sigmoid, softmax, tanh
from .brnn import bidirectional_backward, bidirectional_forward, brnn_backward, brnn_forward
from .cells import CELLS, get_cell, output_backward, output_forward
from .data import adding_problem, dates_dataset, names_corpus
from .deep import deep_backward, deep_forward, stacked_backward, stacked_forward
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
from .language_model import char_vocabulary, perplexity
from .losses import cross_entropy, mean_squared_error, softmax_cross_entropy
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .optim import SGD, Adam, clip, clip_by_norm, update_parameters
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward
from .text import EOS, UNK, Vocabulary, one_hot, pad_sequences, tokenize
from .train import History, train

__all__ = [
    "relu", "sigmoid", "softmax", "tanh",
    "check_gradients", "numerical_gradient", "rel_error",
    "rnn_backward", "rnn_cell_backward", "rnn_cell_forward", "rnn_forward",
    "lstm_backward", "lstm_cell_backward", "lstm_cell_forward", "lstm_forward",
    "gru_backward", "gru_cell_backward", "gru_cell_forward", "gru_forward",
    "simple_gru_backward", "simple_gru_cell_backward", "simple_gru_cell_forward",
    "simple_gru_forward", "torch_gru_backward", "torch_gru_cell_backward",
    "torch_gru_cell_forward", "torch_gru_forward",
    "adding_problem", "dates_dataset", "names_corpus",
    "char_vocabulary", "perplexity",
    "cross_entropy", "mean_squared_error", "softmax_cross_entropy",
    "SGD", "Adam", "clip", "clip_by_norm", "update_parameters",
    "EOS", "UNK", "Vocabulary", "one_hot", "pad_sequences", "tokenize",
    "History", "train",
    "bidirectional_backward", "bidirectional_forward", "brnn_backward", "brnn_forward",
    "CELLS", "get_cell", "output_backward", "output_forward",
    "deep_backward", "deep_forward", "stacked_backward", "stacked_forward",
]
