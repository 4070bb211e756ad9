"""rnnlib.pytorch: converters round-trip and reproduce nn.RNN/GRU/LSTM exactly (multi-layer and
bidirectional too), the notes' cells as torch modules agree with rnnlib and with nn.*Cell where
the variant matches, the notes' GRU is refused by the nn.GRU converter, and the sequence model
trains."""

import numpy as np
import pytest
import torch

from rnnlib.deep import stacked_forward
from rnnlib.gru import gru_cell_forward, simple_gru_cell_forward, torch_gru_cell_forward
from rnnlib.lstm import lstm_cell_forward
from rnnlib.pytorch import (
    GRUCell,
    LSTMCell,
    Recurrent,
    RNNCell,
    SequenceModel,
    SimpleGRUCell,
    TorchGRUCell,
    adding_batch,
    from_torch,
    from_torch_sequence,
    to_torch,
    to_torch_sequence,
)
from rnnlib.rnn import rnn_cell_forward
from torch_refs import NN_CELLS, random_bi_layer, random_layer

NN = {"rnn": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "torch_gru": torch.nn.GRU,
      "lstm": torch.nn.LSTM}
STRUCTURES = [(1, False), (1, True), (2, False), (3, True)]  # (num_layers, bidirectional)


def make_structure(cell, n_x, n_a, L, bidirectional, rng):
    layers, n_in = [], n_x
    for _ in range(L):
        layers.append(random_bi_layer(cell, n_a, n_in, rng) if bidirectional
                      else random_layer(cell, n_a, n_in, rng))
        n_in = (2 if bidirectional else 1) * n_a
    return layers[0] if L == 1 else {"layers": layers}


def nn_of(cell, n_x, n_a, L, bidirectional, seed):
    torch.manual_seed(seed)
    kw = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
    module = NN[cell](n_x, n_a, num_layers=L, bidirectional=bidirectional, **kw)
    with torch.no_grad():  # torch initialises small; spread the weights to exercise the maths
        for p in module.parameters():
            p.mul_(3.0)
    return module


def assert_same_structure(got, expected):
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for k in expected:
            assert_same_structure(got[k], expected[k])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert_same_structure(g, e)
    else:
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("L", "bidirectional"), STRUCTURES)
@pytest.mark.parametrize("cell", NN_CELLS)
def test_rnnlib_to_torch_to_rnnlib_round_trip(rng, cell, L, bidirectional):
    p = make_structure(cell, 3, 4, L, bidirectional, rng)
    module = to_torch(p, cell)
    assert isinstance(module, NN[cell]) and module.num_layers == L
    assert module.bidirectional == bidirectional and module.weight_ih_l0.dtype == torch.float64
    back, back_cell = from_torch(module)
    assert back_cell == cell
    assert_same_structure(back, p)


@pytest.mark.parametrize(("L", "bidirectional"), STRUCTURES)
@pytest.mark.parametrize("cell", NN_CELLS)
def test_torch_to_rnnlib_gives_identical_outputs(rng, cell, L, bidirectional):
    """from_torch(nn module) -> rnnlib computes the module's output; to_torch gives it back."""
    n_x, n_a, m, T_x = 3, 4, 2, 5
    module = nn_of(cell, n_x, n_a, L, bidirectional, seed=L + 2 * bidirectional)
    p, c = from_torch(module)
    layers = p["layers"] if L > 1 else [p]
    x = rng.standard_normal((n_x, m, T_x))
    D = 2 if bidirectional else 1
    h0 = rng.standard_normal((L * D, m, n_a))
    h0_arg = torch.tensor(h0)
    h0_arg = (h0_arg, torch.zeros_like(h0_arg)) if cell == "lstm" else h0_arg
    out, _ = module(to_torch_sequence(x), h0_arg)

    a0 = [tuple(h0[D * l + d].T for d in range(D)) if bidirectional else h0[l].T
          for l in range(L)]
    a, _ = stacked_forward(x, a0, layers, c)
    np.testing.assert_allclose(a[-1], from_torch_sequence(out), rtol=0, atol=1e-10)

    again = to_torch(p, c)
    out2, _ = again(to_torch_sequence(x), h0_arg)
    np.testing.assert_allclose(out2.detach().numpy(), out.detach().numpy(), rtol=0, atol=1e-12)
    rec, _ = Recurrent.from_numpy(p, c), None
    out3, _ = rec(to_torch_sequence(x), h0_arg)
    np.testing.assert_allclose(out3.detach().numpy(), out.detach().numpy(), rtol=0, atol=1e-12)


def test_recurrent_returns_what_nn_lstm_returns(rng):
    """Recurrent mirrors nn.LSTM's interface: output, (h_n, c_n), batch_first."""
    module = nn_of("lstm", 3, 4, 2, True, seed=5)
    rec = Recurrent.from_numpy(from_torch(module)[0], "lstm", batch_first=True)
    x = torch.tensor(rng.standard_normal((2, 6, 3)))
    out, (h_n, c_n) = module(x.transpose(0, 1))
    out_r, (h_r, c_r) = rec(x)
    torch.testing.assert_close(out_r, out.transpose(0, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(h_r, h_n, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_r, c_n, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "torch_gru", "lstm"])
def test_from_torch_cell_modules(rng, cell):
    """nn.RNNCell / nn.GRUCell / nn.LSTMCell -> rnnlib cell functions, same step."""
    torch.manual_seed(1)
    n_x, n_a, m = 3, 4, 5
    kw = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
    module = {"rnn": torch.nn.RNNCell, "rnn_relu": torch.nn.RNNCell,
              "torch_gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[cell](n_x, n_a, **kw)
    p, c = from_torch(module)
    assert c == cell
    p = {**p, "Wy": np.zeros((1, n_a)), "Wya": np.zeros((1, n_a)), "by": np.zeros((1, 1))}
    xt, a_prev = rng.standard_normal((n_x, m)), rng.standard_normal((n_a, m))
    if cell == "lstm":
        c_prev = rng.standard_normal((n_a, m))
        h, cc = module(torch.tensor(xt.T), (torch.tensor(a_prev.T), torch.tensor(c_prev.T)))
        a_next, c_next, _, _ = lstm_cell_forward(xt, a_prev, c_prev, p)
        np.testing.assert_allclose(c_next, cc.detach().numpy().T, atol=1e-12)
    else:
        h = module(torch.tensor(xt.T), torch.tensor(a_prev.T))
        a_next = (torch_gru_cell_forward(xt, a_prev, p)[0] if cell == "torch_gru" else
                  rnn_cell_forward(xt, a_prev, p, activation=kw.get("nonlinearity", "tanh"))[0])
    np.testing.assert_allclose(a_next, h.detach().numpy().T, atol=1e-12)


@pytest.mark.parametrize("cls", [RNNCell, GRUCell, SimpleGRUCell, TorchGRUCell, LSTMCell])
def test_notes_cell_modules_equal_rnnlib_cells(rng, cls):
    n_x, n_a, m = 3, 4, 5
    keys = ("Pf", "Po") if cls is LSTMCell else ()
    p = random_layer(cls.cell, n_a, n_x, rng, scale=1.0)
    p.update({k: rng.standard_normal((n_a, 1)) for k in keys})
    module = cls.from_numpy(p)
    assert {k for k, _ in module.named_parameters()} == set(p)
    for k, v in module.to_numpy().items():
        np.testing.assert_array_equal(v, p[k])
    out = {**p, "Wy": np.zeros((1, n_a)), "Wya": np.zeros((1, n_a)), "by": np.zeros((1, 1))}
    xt, s = rng.standard_normal((n_x, m)), rng.standard_normal((n_a, m))
    X, S = torch.tensor(xt.T), torch.tensor(s.T)
    if cls is LSTMCell:
        c_prev = rng.standard_normal((n_a, m))
        a_t, c_t = module(X, (S, torch.tensor(c_prev.T)))
        a_ref, c_ref, _, _ = lstm_cell_forward(xt, s, c_prev, out)
        np.testing.assert_allclose(c_t.detach().numpy().T, c_ref, atol=1e-12)
    else:
        a_t = module(X, S)
        a_ref = {RNNCell: rnn_cell_forward, GRUCell: gru_cell_forward,
                 SimpleGRUCell: simple_gru_cell_forward,
                 TorchGRUCell: torch_gru_cell_forward}[cls](xt, s, out)[0]
    np.testing.assert_allclose(a_t.detach().numpy().T, a_ref, atol=1e-12)


def test_notes_lstm_and_torch_gru_modules_equal_nn_cells(rng):
    """Independent of rnnlib's numpy code: the notes' LSTMCell = nn.LSTMCell, TorchGRUCell =
    nn.GRUCell, RNNCell = nn.RNNCell, once weights are mapped by the converter."""
    torch.manual_seed(3)
    x, h = torch.tensor(rng.standard_normal((5, 3))), torch.tensor(rng.standard_normal((5, 4)))
    c = torch.tensor(rng.standard_normal((5, 4)))
    for nn_cell, ours in [(torch.nn.LSTMCell(3, 4), LSTMCell), (torch.nn.GRUCell(3, 4),
                                                                TorchGRUCell),
                          (torch.nn.RNNCell(3, 4), RNNCell)]:
        module = ours.from_numpy(from_torch(nn_cell)[0])
        state = (h, c) if ours is LSTMCell else h
        got, want = module(x, state), nn_cell(x, state)
        for g, w in zip(got if ours is LSTMCell else [got], want if ours is LSTMCell else [want],
                        strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["gru", "simple_gru"])
def test_notes_gru_refused_by_the_nn_gru_converter(rng, cell):
    p = random_layer(cell, 4, 3, rng)
    with pytest.raises(ValueError, match="cannot be converted to torch.nn.GRU") as err:
        to_torch(p, cell)
    msg = str(err.value)
    assert "reset" in msg and "torch_gru" in msg and "Recurrent.from_numpy" in msg
    if cell == "gru":
        assert "before the matmul" in msg and "after" in msg
    # ... and the suggested way works: the notes' GRU in torch ops.
    out, h_n = Recurrent.from_numpy(p, cell)(torch.tensor(rng.standard_normal((5, 2, 3))))
    assert out.shape == (5, 2, 4) and h_n.shape == (1, 2, 4)


def test_converter_errors(rng):
    lstm_layer = random_layer("lstm", 4, 3, rng)
    with pytest.raises(ValueError, match="peephole"):
        to_torch({**lstm_layer, "Pf": np.zeros((4, 1))}, "lstm")
    with pytest.raises(ValueError, match="bidirectional in every layer or in none"):
        to_torch({"layers": [random_bi_layer("rnn", 4, 3, rng), random_layer("rnn", 4, 8, rng)]},
                 "rnn")
    with pytest.raises(ValueError, match="same n_a in every layer"):
        to_torch({"layers": [random_layer("rnn", 4, 3, rng), random_layer("rnn", 5, 4, rng)]},
                 "rnn")
    with pytest.raises(ValueError, match=r"layer 1: parameters\['Wax'\] has shape \(4, 3\), "
                                         r"expected \(n_a, n_x\) = \(4, 4\)"):
        to_torch({"layers": [random_layer("rnn", 4, 3, rng), random_layer("rnn", 4, 3, rng)]},
                 "rnn")
    with pytest.raises(ValueError, match="cell must be one of"):
        to_torch(lstm_layer, "LSTM")
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="module must be nn.RNN"):
        from_torch(torch.nn.Linear(3, 4))


def test_float32_converts_to_float32(rng):
    p = {k: v.astype(np.float32) for k, v in random_layer("torch_gru", 4, 3, rng).items()}
    module = to_torch(p, "torch_gru")
    assert module.weight_hh_l0.dtype == torch.float32
    back, _ = from_torch(module)
    assert all(v.dtype == np.float32 for v in back.values())
    assert Recurrent.from_numpy(p, "torch_gru").cells[0].Wz.dtype == torch.float32


def test_bias_free_modules_map_to_zero_biases():
    torch.manual_seed(0)
    p, _ = from_torch(torch.nn.LSTM(3, 4, bias=False))
    assert not any(p[k].any() for k in ("bf", "bu", "bc", "bo"))


def test_sequence_layout_helpers(rng):
    x = rng.standard_normal((3, 2, 5))
    assert to_torch_sequence(x).shape == (5, 2, 3)
    assert to_torch_sequence(x, batch_first=True).shape == (2, 5, 3)
    np.testing.assert_array_equal(from_torch_sequence(to_torch_sequence(x)), x)
    np.testing.assert_array_equal(
        from_torch_sequence(to_torch_sequence(x, batch_first=True), batch_first=True), x)


def test_adding_batch_is_the_data_module_in_torch_layout():
    from rnnlib.data import adding_problem

    x, y = adding_batch(50, 20, seed=3)
    assert x.shape == (50, 20, 2) and y.shape == (50, 1) and x.dtype == torch.float32
    x_np, y_np = adding_problem(50, 20, seed=3)
    np.testing.assert_allclose(x.numpy(), x_np.transpose(1, 2, 0), rtol=1e-7)
    np.testing.assert_allclose(y.numpy(), y_np.T, rtol=1e-7)
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(1))


@pytest.mark.parametrize(("cell", "bidirectional", "many"), [
    ("lstm", False, False), ("gru", True, False), ("torch_gru", False, True),
    ("rnn_relu", True, True),
])
def test_sequence_model_shapes(cell, bidirectional, many):
    torch.manual_seed(0)
    model = SequenceModel(cell, n_x=2, n_a=5, n_y=3, num_layers=2,
                          bidirectional=bidirectional, many_to_many=many).double()
    x = torch.randn(4, 7, 2)
    assert model(x).shape == ((4, 7, 3) if many else (4, 3))


def test_sequence_model_learns_the_adding_problem_a_little():
    """A few seconds of Adam on short sequences beat the predict-1 baseline (MSE 1/6)."""
    torch.manual_seed(0)
    model = SequenceModel("lstm", n_x=2, n_a=16, n_y=1).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        x, y = adding_batch(64, 10, seed=step)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = adding_batch(1000, 10, seed=10_000)
    with torch.no_grad():
        assert torch.nn.functional.mse_loss(model(x), y) < 0.05
