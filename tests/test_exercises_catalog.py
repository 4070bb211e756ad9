"""A catalog of mistaken submissions, made from the solutions, and what grading says about them.

Each entry changes one line (or a few) of one solution function into a mistake students make,
and names a fragment of the sentence the tests must answer with. This file checks every entry
quickly, in the kernel-side check and in the out-of-kernel judge; the end-to-end test
(``test_exercises_e2e.py``) sends them through nbgrader and reads the feedback.
"""

import copy
import re
from collections import namedtuple
from pathlib import Path

import nbformat
import pytest

from rnnlib import grading

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("rnn", "bptt", "language_model", "gru", "lstm", "brnn_deep")

# part: the test part whose message names the mistake; loses: when given, exactly the parts of
# the function that fail (the others keep their points); when None, "values" and "random" fail.
Entry = namedtuple("Entry", "assignment function name edits fragment kind part loses",
                   defaults=("values", None))

# kind: the category of the issue this mistake stands for.
_C = [
    # --- rnn --------------------------------------------------------------------------------
    ("rnn", "one_hot", "index_off_by_one", [("x[i, t] = 1.0", "x[i - 1, t] = 1.0")],
     "each 1 sits one row off", "off-by-one"),
    ("rnn", "one_hot", "transposed", [("    return x", "    return x.T")],
     "x has shape (5, 6), expected (n, T) = (6, 5)", "wrong shape"),
    ("rnn", "rnn_cell_forward", "sigmoid_for_tanh",
     [("a_next = np.tanh(Waa @ a_prev + Wax @ xt + ba)",
       "a_next = 1 / (1 + np.exp(-(Waa @ a_prev + Wax @ xt + ba)))")],
     "a_next uses σ (sigmoid)", "wrong activation"),
    ("rnn", "rnn_cell_forward", "missing_bias", [("Wax @ xt + ba)", "Wax @ xt)")],
     "a_next is missing the bias ba", "missing bias"),
    ("rnn", "rnn_cell_forward", "missing_softmax",
     [("yt_pred = softmax(Wya @ a_next + by)", "yt_pred = Wya @ a_next + by")],
     "yt_pred is not a probability distribution", "missing softmax"),
    ("rnn", "rnn_cell_forward", "swapped_weights",
     [("Waa @ a_prev + Wax @ xt", "Wax @ a_prev + Waa @ xt")],
     "Wax and Waa are swapped", "swapped weights"),
    ("rnn", "rnn_cell_forward", "transposed_weight", [("Wax @ xt", "Wax.T @ xt")],
     "Wax is used transposed", "transposed weight"),
    ("rnn", "rnn_cell_forward", "transposed_output",
     [("yt_pred = softmax(Wya @ a_next + by)", "yt_pred = softmax(a_next.T @ Wya.T + by.T)")],
     "yt_pred has shape (4, 2), expected (n_y, m) = (2, 4): did you transpose Wya?",
     "wrong shape"),
    ("rnn", "rnn_forward", "state_not_carried",
     [("rnn_cell_forward(x[:, :, t], a_next, parameters)",
       "rnn_cell_forward(x[:, :, t], a0, parameters)")],
     "the state is not carried from step to step", "state not carried"),
    ("rnn", "rnn_forward", "input_off_by_one", [("x[:, :, t]", "x[:, :, t - 1]")],
     "step t reads x<t-1>", "off-by-one"),
    ("rnn", "rnn_forward", "stores_previous_state",
     [("a[:, :, t] = a_next", "a[:, :, t] = cache[1]")],
     "(a<t-1> instead of a<t>)", "a<t> for a<t-1>"),
    ("rnn", "rnn_forward", "cache_holds_a_view",
     [("    a_next = a0\n", "    a[:, :, -1] = a0\n"),
      ("rnn_cell_forward(x[:, :, t], a_next, parameters)",
       "rnn_cell_forward(x[:, :, t], a[:, :, t - 1], parameters)")],
     "the cache of step 1 holds a<6> where a<0> belongs (a_prev): it is a view of an array "
     "you overwrite later", "aliasing", "cache", {"cache"}),
    # --- bptt -------------------------------------------------------------------------------
    ("bptt", "rnn_cell_backward", "a_next_for_a_prev",
     [('"dWaa": dz @ a_prev.T', '"dWaa": dz @ a_next.T')],
     "dWaa uses a<t> (a_next) where it needs a<t-1>", "a<t> for a<t-1>"),
    ("bptt", "rnn_cell_backward", "missing_tanh_derivative",
     [("dz = da_next * (1 - a_next ** 2)", "dz = da_next")],
     "the tanh derivative is missing", "wrong activation"),
    ("bptt", "rnn_cell_backward", "bias_not_summed",
     [('"dba": dz.sum(axis=1, keepdims=True)', '"dba": dz')],
     "dba is not summed over the m examples", "wrong shape"),
    ("bptt", "rnn_cell_backward", "transposed_weight_gradient",
     [('"dWax": dz @ xt.T', '"dWax": xt @ dz.T')],
     "dWax is transposed", "transposed weight"),
    ("bptt", "rnn_backward", "gradient_not_carried",
     [("rnn_cell_backward(da[:, :, t] + da_prevt, cell_caches[t])",
       "rnn_cell_backward(da[:, :, t], cell_caches[t])")],
     "the gradient is not carried back through time", "state not carried"),
    ("bptt", "rnn_backward", "not_accumulated",
     [('dWax += grads["dWax"]', 'dWax = grads["dWax"]'),
      ('dWaa += grads["dWaa"]', 'dWaa = grads["dWaa"]'),
      ('dba += grads["dba"]', 'dba = grads["dba"]')],
     "keep only one step", "off-by-one"),
    ("bptt", "rnn_backward", "forward_in_time",
     [("for t in reversed(range(T_x)):", "for t in range(T_x):")],
     "the loop runs forward in time", "off-by-one"),
    ("bptt", "numerical_gradient", "one_sided",
     [("grad[i] = (f_plus - f_minus) / (2 * h)", "grad[i] = (f_plus - f()) / h")],
     "one-sided difference", "wrong formula"),
    ("bptt", "numerical_gradient", "no_half", [("/ (2 * h)", "/ h")],
     "twice too large", "wrong formula"),
    ("bptt", "numerical_gradient", "not_restored", [("        x[i] = old\n", "")],
     "restore each entry", "state not restored"),
    # --- language_model ---------------------------------------------------------------------
    ("language_model", "clip", "lower_bound_zero",
     [("np.clip(gradient, -maxValue, maxValue, out=gradient)",
       "np.clip(gradient, 0, maxValue, out=gradient)")],
     "the lower bound is wrong", "wrong formula"),
    ("language_model", "clip", "hard_coded",
     [("np.clip(gradient, -maxValue, maxValue, out=gradient)",
       "np.clip(gradient, -5, 5, out=gradient)")],
     "maxValue is hard-coded to 5", "wrong formula"),
    ("language_model", "sample", "not_fed_back", [("        x[idx] = 1.0\n", "")],
     "the drawn character is not fed back", "state not carried"),
    ("language_model", "sample", "argmax",
     [("int(rng.choice(vocab_size, p=y.ravel()))", "int(np.argmax(y))")],
     "most likely index every time (argmax)", "wrong formula", "draws",
     {"values", "draws", "random"}),
    ("language_model", "sample", "no_eos_stop",
     [("        if idx == newline:\n            break\n", "")],
     "sampling does not stop at the end of a name", "off-by-one"),
    ("language_model", "sample", "state_not_carried",
     [("a, y, _ = rnn_cell_forward(x, a, parameters)",
       "_, y, _ = rnn_cell_forward(x, a, parameters)")],
     "the hidden state is not carried", "state not carried"),
    ("language_model", "sample", "newline_at_cap",
     [("        x[idx] = 1.0\n    return indices",
       "        x[idx] = 1.0\n    if len(indices) == 50 and indices[-1] != newline:\n"
       "        indices.append(newline)\n    return indices")],
     "do not append '\\n' when the cap is reached", "convention", "cap", {"cap"}),
    ("language_model", "sample", "global_seed",
     [("rng = np.random.default_rng(seed)", "np.random.seed(seed)"),
      ("int(rng.choice(vocab_size, p=y.ravel()))",
       "int(np.random.choice(vocab_size, p=y.ravel()))")],
     "the draws come from numpy's global generator (np.random.seed", "convention", "draws",
     {"draws"}),
    ("language_model", "clip", "course_gradient_names",
     [("    for gradient in gradients.values():",
       "    dWaa, dWax, dWya = gradients['dWaa'], gradients['dWax'], gradients['dWya']\n"
       "    db, dby = gradients['db'], gradients['dby']\n"
       "    for gradient in gradients.values():")],
     "use gradients['dba'] (the course's db)", "renamed key", "values", {"values", "random"}),
    ("language_model", "optimize", "no_clip", [("    gradients = clip(gradients, 5)\n", "")],
     "the gradients are not clipped", "missing step"),
    ("language_model", "optimize", "uphill",
     [("update_parameters(parameters, gradients, learning_rate)",
       "for key in parameters:\n"
       "        parameters[key] += learning_rate * gradients['d' + key]")],
     "the update goes uphill", "wrong sign"),
    ("language_model", "optimize", "first_state",
     [("a[:, :, -1]", "a[:, :, 0]")], "a_last is the first hidden state", "off-by-one"),
    # --- gru --------------------------------------------------------------------------------
    ("gru", "gru_cell_forward", "reset_after_matmul",
     [('cct = np.tanh(p["Wc"] @ np.concatenate((rt * c_prev, xt), axis=0) + p["bc"])',
       'n_a = c_prev.shape[0]\n'
       '    cct = np.tanh(rt * (p["Wc"][:, :n_a] @ c_prev) + p["Wc"][:, n_a:] @ xt + p["bc"])')],
     "Γr is applied after the matmul", "gate mix-up"),
    ("gru", "gru_cell_forward", "update_direction",
     [("c_next = ut * cct + (1 - ut) * c_prev", "c_next = (1 - ut) * cct + ut * c_prev")],
     "Γu interpolates the wrong way round", "Γu direction"),
    ("gru", "gru_cell_forward", "update_gate_uses_relevance_weights",
     [('ut = sigmoid(p["Wu"] @ concat + p["bu"])', 'ut = sigmoid(p["Wr"] @ concat + p["br"])')],
     "Γu looks like Γr: the update gate uses Wu and bu", "gate mix-up"),
    ("gru", "gru_cell_forward", "sigmoid_candidate", [("cct = np.tanh(", "cct = sigmoid(")],
     "c̃ uses σ", "wrong activation"),
    ("gru", "gru_cell_forward", "no_relevance_gate",
     [('np.concatenate((rt * c_prev, xt), axis=0)', 'concat')],
     "c̃ ignores Γr", "gate mix-up"),
    ("gru", "gru_forward", "state_not_carried",
     [("gru_cell_forward(x[:, :, t], c_next, parameters)",
       "gru_cell_forward(x[:, :, t], c0, parameters)")],
     "the state is not carried from step to step", "state not carried"),
    ("gru", "gru_forward", "first_step_skipped", [("range(T_x)", "range(1, T_x)")],
     "the first time step is missing", "off-by-one"),
    ("gru", "gru_forward", "cache_holds_a_view",
     [("    c_next = c0\n", "    c[:, :, -1] = c0\n"),
      ("gru_cell_forward(x[:, :, t], c_next, parameters)",
       "gru_cell_forward(x[:, :, t], c[:, :, t - 1], parameters)")],
     "the cache of step 1 holds c<6> where c<0> belongs (c_prev): it is a view of an array "
     "you overwrite later", "aliasing", "cache", {"cache"}),
    # --- lstm -------------------------------------------------------------------------------
    ("lstm", "lstm_cell_forward", "forget_gate_uses_update_weights",
     [('ft = sigmoid(p["Wf"] @ concat + p["bf"])', 'ft = sigmoid(p["Wu"] @ concat + p["bu"])')],
     "Γf looks like Γu: the forget gate uses Wf and bf", "gate mix-up"),
    ("lstm", "lstm_cell_forward", "gates_swapped_in_memory",
     [("c_next = ut * cct + ft * c_prev", "c_next = ft * cct + ut * c_prev")],
     "Γf and Γu are swapped in c<t>", "gate mix-up"),
    ("lstm", "lstm_cell_forward", "missing_tanh",
     [("a_next = ot * np.tanh(c_next)", "a_next = ot * c_next")],
     "a_next is missing the tanh", "wrong activation"),
    ("lstm", "lstm_cell_forward", "old_memory_for_output",
     [("a_next = ot * np.tanh(c_next)", "a_next = ot * np.tanh(c_prev)")],
     "a_next uses c<t-1> (c_prev)", "a<t> for a<t-1>"),
    ("lstm", "lstm_forward", "memory_not_carried",
     [("lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)",
       "lstm_cell_forward(x[:, :, t], a_next, np.zeros((n_a, m)), parameters)")],
     "the memory cell is not carried", "state not carried"),
    ("lstm", "lstm_forward", "memory_starts_from_a0",
     [("a_next, c_next = a0, np.zeros((n_a, m))", "a_next, c_next = a0, a0")],
     "c<0> must be zeros", "wrong initial state"),
    ("lstm", "lstm_forward", "cache_holds_a_view",
     [("a_next, c_next = a0, np.zeros((n_a, m))", "a_next, c_next = a0, c[:, :, 0]")],
     "the cache of step 1 holds c<1> where c<0> belongs (c_prev): it is a view of an array "
     "you overwrite later", "aliasing", "cache", {"cache"}),
    ("lstm", "lstm_cell_forward", "course_update_gate_name",
     [('ut = sigmoid(p["Wu"] @ concat + p["bu"])', 'ut = sigmoid(p["Wi"] @ concat + p["bi"])')],
     "use parameters['Wu'] (the course's Wi)", "renamed key", "values",
     {"shapes", "values", "random"}),
    ("lstm", "lstm_cell_backward", "course_gradient_names",
     [('        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)\n',
       '        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)\n'
       '    grads["dWi"], grads["dbi"] = grads.pop("dWu"), grads.pop("dbu")\n')],
     "name the returned gradients 'dWu' and 'dbu' (the course's 'dWi' and 'dbi')",
     "renamed key", "values", {"shapes", "values", "random"}),
    ("lstm", "lstm_cell_backward", "no_gradient_through_a",
     [("dc = dc_next + da_next * ot * (1 - tanh_c ** 2)", "dc = dc_next")],
     "c<t> also gets gradient through a<t>", "missing path"),
    ("lstm", "lstm_cell_backward", "dc_prev_without_forget_gate",
     [('"dc_prev": dc * ft', '"dc_prev": dc')],
     "dc_prev is missing the forget gate", "gate mix-up"),
    ("lstm", "lstm_cell_backward", "a_next_in_concat",
     [("concat = np.concatenate((a_prev, xt), axis=0)",
       "concat = np.concatenate((a_next, xt), axis=0)")],
     "use a<t> (a_next) where they need a<t-1>", "a<t> for a<t-1>"),
    ("lstm", "lstm_backward", "memory_gradient_not_carried",
     [("lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, cell_caches[t])",
       "lstm_cell_backward(da[:, :, t] + da_prevt, np.zeros((n_a, m)), cell_caches[t])")],
     "the memory cell's gradient is not carried back through time", "state not carried"),
    # --- brnn_deep --------------------------------------------------------------------------
    ("brnn_deep", "brnn_forward", "not_flipped_back",
     [('parameters["rev"])[:, :, ::-1]', 'parameters["rev"])')],
     "the backward states are not flipped back", "off-by-one"),
    ("brnn_deep", "brnn_forward", "reverse_reads_forward",
     [("rnn_layer_forward(x[:, :, ::-1], a0[1]", "rnn_layer_forward(x, a0[1]")],
     "the backward direction reads x left to right", "off-by-one"),
    ("brnn_deep", "brnn_forward", "stacked_backwards",
     [("np.concatenate((a_fwd, a_rev), axis=0)", "np.concatenate((a_rev, a_fwd), axis=0)")],
     "the two directions are stacked in the wrong order", "swapped weights"),
    ("brnn_deep", "brnn_forward", "shared_weights",
     [('a0[1], parameters["rev"]', 'a0[1], parameters["fwd"]')],
     "the backward direction uses the forward parameters", "swapped weights"),
    ("brnn_deep", "deep_forward", "every_layer_reads_x",
     [("h = rnn_layer_forward(h, a0_layer, layer)", "h = rnn_layer_forward(x, a0_layer, layer)")],
     "every layer reads x", "state not carried"),
    ("brnn_deep", "deep_forward", "output_from_first_layer",
     [('parameters["Wy"] @ h[:, :, t]', 'parameters["Wy"] @ a[0][:, :, t]')],
     "y_hat is computed from the first layer", "wrong state"),
    ("brnn_deep", "deep_forward", "missing_softmax",
     [('softmax(parameters["Wy"] @ h[:, :, t] + parameters["by"])',
       '(parameters["Wy"] @ h[:, :, t] + parameters["by"])')],
     "y_hat is not a probability distribution", "missing softmax"),
]
CATALOG = [Entry(*row) for row in _C]

# Correct code in other styles (the course's own, CS231n's: np.dot, loops, other names, other
# generators' conventions that the exercises accept): each earns every point of its function.
# ("REPLACE", code) replaces the whole solution cell.
_SAMPLER_OTHER_STYLE = '''def sample(parameters, char_to_ix, seed):
    Waa, Wax, Wya = parameters['Waa'], parameters['Wax'], parameters['Wya']
    by, b = parameters['by'], parameters['ba']
    vocab_size = by.shape[0]
    n_a = Waa.shape[1]
    rng = np.random.default_rng(seed)
    x = np.zeros((vocab_size, 1))
    a_prev = np.zeros((n_a, 1))
    indices = []
    idx = -1
    counter = 0
    newline_character = char_to_ix['\\n']
    while idx != newline_character and counter != 50:
        a = np.tanh(np.dot(Wax, x) + np.dot(Waa, a_prev) + b)
        z = np.dot(Wya, a) + by
        e = np.exp(z - np.max(z))
        y = e / np.sum(e, axis=0)
        idx = rng.choice(list(range(vocab_size)), p=np.squeeze(y).reshape(-1))
        indices.append(idx)
        x = np.zeros((vocab_size, 1))
        x[idx] = 1
        a_prev = a
        counter += 1
    return indices
'''

_CLIP_NOT_IN_PLACE = '''def clip(gradients, maxValue):
    return {name: np.clip(g, -maxValue, maxValue) for name, g in gradients.items()}
'''

_RNN_FORWARD_COURSE = '''def rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    a_next = a0
    for t in range(T_x):
        xt = x[:,:,t]
        a_next, yt_pred, cache = rnn_cell_forward(xt, a_next, parameters)
        a[:,:,t] = a_next
        y_pred[:,:,t] = yt_pred
        caches.append(cache)
    caches = (caches, x)
    return a, y_pred, caches
'''

_RNN_FORWARD_CS231N = '''def rnn_forward(x, a0, parameters):
    Wx, Wh, Wy = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    b, by = parameters["ba"], parameters["by"]
    h = a0
    hs, scores, cache_list = [], [], []
    for t in range(x.shape[2]):
        prev_h = h
        h = np.tanh(np.dot(Wx, x[:, :, t]) + np.dot(Wh, prev_h) + b)
        s = np.dot(Wy, h) + by
        p = np.exp(s - s.max(axis=0, keepdims=True))
        p /= p.sum(axis=0, keepdims=True)
        hs.append(h)
        scores.append(p)
        cache_list.append((h, prev_h, x[:, :, t], parameters))
    return np.stack(hs, axis=2), np.stack(scores, axis=2), (cache_list, x)
'''

_GRU_FORWARD_OTHER = '''def gru_forward(x, c0, parameters):
    T_x = x.shape[2]
    outs = [gru_cell_forward(x[:, :, 0], c0, parameters)]
    for t in range(1, T_x):
        outs.append(gru_cell_forward(x[:, :, t], outs[-1][0], parameters))
    c = np.stack([o[0] for o in outs], axis=-1)
    y_pred = np.stack([o[1] for o in outs], axis=-1)
    return c, y_pred, (tuple(o[2] for o in outs), x)
'''

_LSTM_FORWARD_COURSE = '''def lstm_forward(x, a0, parameters):
    caches = []
    Wy = parameters['Wy']
    n_x, m, T_x = x.shape
    n_y, n_a = Wy.shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros(a_next.shape)
    for t in range(T_x):
        xt = x[:,:,t]
        a_next, c_next, yt, cache = lstm_cell_forward(xt, a_next, c_next, parameters)
        a[:,:,t] = a_next
        c[:,:,t]  = c_next
        y[:,:,t] = yt
        caches.append(cache)
    caches = (caches, x)
    return a, y, c, caches
'''

Accepted = namedtuple("Accepted", "assignment function name edits")
ACCEPTED = [Accepted(*row) for row in (
    ("language_model", "sample", "other_style_sampler", [("REPLACE", _SAMPLER_OTHER_STYLE)]),
    ("language_model", "clip", "not_in_place", [("REPLACE", _CLIP_NOT_IN_PLACE)]),
    ("rnn", "rnn_forward", "course_style", [("REPLACE", _RNN_FORWARD_COURSE)]),
    ("rnn", "rnn_forward", "cs231n_style", [("REPLACE", _RNN_FORWARD_CS231N)]),
    ("gru", "gru_forward", "tuples_and_stack", [("REPLACE", _GRU_FORWARD_OTHER)]),
    ("lstm", "lstm_forward", "course_style", [("REPLACE", _LSTM_FORWARD_COURSE)]),
)]

# The cheap tricks: each replaces (part of) a solution cell; the functions listed score 0, the
# others keep full marks.
TRICKS = {
    "rnn": ({
        "rnn_cell_forward": [(
            "    Wax, Waa, ba =",
            "    return _ref(xt, a_prev, parameters)\n    Wax, Waa, ba ="),
            ("PREPEND", "from rnnlib.rnn import rnn_cell_forward as _ref\n")],
        "rnn_forward": [("APPEND", "\nimport numpy.testing\n"
                                   "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                                   # after the tests above: are they in the kernel's history?
                                   "print('history:', globals().get('In'))\n")],
    }, ("rnn_cell_forward", "rnn_forward")),
    "gru": ({
        "gru_forward": [("APPEND", "\nimport sys\nimport types\n"
                                   "fake = types.SimpleNamespace(**{name: (lambda *a, **k: None)"
                                   " for name in dir(grading) if name.startswith('check_')})\n"
                                   "sys.modules['rnnlib.grading'] = fake\ngrading = fake\n")],
    }, ("gru_forward",)),
    "lstm": ({
        "lstm_cell_backward": [("    a_next, c_next, a_prev,",
                                "    import rnnlib\n"
                                "    return rnnlib.lstm_cell_backward(da_next, dc_next, cache)\n"
                                "    a_next, c_next, a_prev,")],
        "lstm_backward": [("    cell_caches, x = caches",
                           "    np.allclose = lambda *a, **k: True\n"
                           "    cell_caches, x = caches")],
    }, ("lstm_cell_backward", "lstm_backward")),
}


# ---------------------------------------------------------------------------------------------
# Building submissions


def solution_notebook(assignment):
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def release_notebook(assignment):
    return nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_code(assignment):
    """{grade id of a solution cell: its code with the solution delimiters removed}."""
    out = {}
    for cell in solution_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = re.sub(r"\n?[ \t]*### (BEGIN|END) SOLUTION", "", cell.source)
    return out


def apply_edits(code, edits):
    for old, new in edits:
        if old == "REPLACE":
            code = new
        elif old == "PREPEND":
            code = new + code
        elif old == "APPEND":
            code = code + new
        else:
            assert code.count(old) >= 1, f"{old!r} is not in the solution:\n{code}"
            code = code.replace(old, new)
    return code


def submission(assignment, edits_by_function=None):
    """A student's notebook: the release with every solution cell filled in from the
    solutions, changed by ``edits_by_function`` ({function: [(old, new)]})."""
    nb = copy.deepcopy(release_notebook(assignment))
    code = solution_code(assignment)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            cell.source = apply_edits(code[gid], (edits_by_function or {}).get(gid, []))
    return nb


def blank(assignment):
    return copy.deepcopy(release_notebook(assignment))


def grade_cells(assignment):
    """{function: [grade ids of its test cells]} from the instructor's notebook."""
    out = {}
    for cell in solution_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            for _, function, _ in grading.parse_checks(cell.source):
                out.setdefault(function, []).append(meta["grade_id"])
    return out


def points(assignment):
    return {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
            for cell in solution_notebook(assignment).cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


def grouped(assignment):
    """The catalog entries of ``assignment`` packed into submissions with at most one mistake
    per function (the functions are graded independently, so each mistake costs its own
    function's points only)."""
    groups = []
    for entry in (e for e in CATALOG if e.assignment == assignment):
        for group in groups:
            # An aliased cache shows at grading only when the student's own cell runs (the
            # judge lends the reference cell as fresh arrays): keep it apart from cell mistakes.
            kinds = {entry.kind} | {e.kind for e in group}
            if entry.function not in {e.function for e in group} and "aliasing" not in kinds:
                group.append(entry)
                break
        else:
            groups.append([entry])
    return groups


# Kinds that the end-to-end test always sends through nbgrader (the conventions of code ported
# from the course), whatever group they fall in.
E2E_KINDS = ("convention", "aliasing", "renamed key")


def e2e_groups(assignment, at_least=5):
    """The first groups of ``grouped`` holding at least ``at_least`` mistakes in all, and every
    group holding a mistake of ``E2E_KINDS``: the part of the catalog that the end-to-end test
    sends through nbgrader."""
    out = []
    for group in grouped(assignment):
        if sum(len(g) for g in out) < at_least or any(e.kind in E2E_KINDS for e in group):
            out.append(group)
    return out


def run_in_process(assignment, edits_by_function=None):
    """Execute the setup and solution cells (edited) in a fresh namespace, as a kernel would;
    returns the namespace."""
    ns = {"__name__": "__main__"}
    for cell in submission(assignment, edits_by_function).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec(compile(cell.source, f"<{meta.get('grade_id')}>", "exec"), ns)  # noqa: S102
    return ns


def check_in_kernel(ns, function, part):
    """The message of the kernel-side check, or None when it passes."""
    failure = grading.in_kernel._check_in_kernel(function, ns[function], part)
    return None if failure is None else str(failure)


# ---------------------------------------------------------------------------------------------
# Tests


def test_catalog_covers_every_assignment_and_the_named_mistakes():
    for assignment in ASSIGNMENTS:
        assert len([e for e in CATALOG if e.assignment == assignment]) >= 5, assignment
    kinds = {e.kind for e in CATALOG}
    for kind in ("wrong shape", "wrong activation", "missing softmax", "missing bias",
                 "transposed weight", "swapped weights", "gate mix-up", "Γu direction",
                 "a<t> for a<t-1>", "off-by-one", "state not carried"):
        assert kind in kinds, kind
    assert len({(e.assignment, e.name) for e in CATALOG}) == len(CATALOG)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_every_part_in_the_kernel(assignment):
    ns = run_in_process(assignment)
    for function in grade_cells(assignment):
        for part in grading.SPECS[function].parts:
            assert check_in_kernel(ns, function, part) is None, (function, part)


def losing_parts(entry):
    """The parts of ``entry``'s function that its mistake must fail (the others pass)."""
    return entry.loses if entry.loses is not None else {"values", "random"}


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: f"{e.assignment}-{e.name}")
def test_mistake_is_named_in_the_kernel(entry):
    ns = run_in_process(entry.assignment, {entry.function: entry.edits})
    message = check_in_kernel(ns, entry.function, entry.part)
    assert message is not None, "the mistake passes the tests"
    assert entry.fragment in message, message
    for part in grading.SPECS[entry.function].parts:
        failed = check_in_kernel(ns, entry.function, part) is not None
        if part in losing_parts(entry):
            assert failed, part
        elif entry.loses is not None:  # exactly these parts lose their points
            assert not failed, (part, check_in_kernel(ns, entry.function, part))
    for other in grade_cells(entry.assignment):
        if other != entry.function:  # graded independently: no other function loses points
            assert check_in_kernel(ns, other, "values") is None, other


def _verdicts_by_function(verdicts):
    out = {}
    for results in verdicts.values():
        for r in results:
            out.setdefault(r["function"], []).append(r)
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_judge_names_every_mistake_outside_the_kernel(assignment):
    full = _verdicts_by_function(grading.judge_notebook(submission(assignment)))
    assert all(r["passed"] for rs in full.values() for r in rs), full
    empty = _verdicts_by_function(grading.judge_notebook(blank(assignment)))
    assert not any(r["passed"] for rs in empty.values() for r in rs)
    for group in grouped(assignment):
        nb = submission(assignment, {e.function: e.edits for e in group})
        verdicts = _verdicts_by_function(grading.judge_notebook(nb))
        for entry in group:
            named = [r for r in verdicts[entry.function] if r["part"] == entry.part]
            assert named and not named[0]["passed"], entry
            assert entry.fragment in named[0]["message"], (entry, named[0]["message"])
            for r in verdicts[entry.function]:
                if r["part"] in losing_parts(entry):
                    assert not r["passed"], (entry, r)
                elif entry.loses is not None:
                    assert r["passed"], (entry, r)
        wrong = {e.function for e in group}
        for function, results in verdicts.items():
            if function not in wrong:
                assert all(r["passed"] for r in results), (function, results)


@pytest.mark.parametrize("assignment", sorted(TRICKS))
def test_tricks_score_zero_for_the_function_outside_the_kernel(assignment):
    edits, cheated = TRICKS[assignment]
    verdicts = _verdicts_by_function(grading.judge_notebook(submission(assignment, edits)))
    for function, results in verdicts.items():
        if function in cheated:
            assert all(not r["passed"] and r["violation"] for r in results), results
            assert "no points for this test" in results[0]["message"]
        else:
            assert all(r["passed"] for r in results), (function, results)


def test_kernel_check_refuses_a_call_of_the_reference():
    edits, _ = TRICKS["rnn"]
    ns = run_in_process("rnn", {"rnn_cell_forward": edits["rnn_cell_forward"]})
    message = check_in_kernel(ns, "rnn_cell_forward", "values")
    assert "reaches rnnlib's reference (rnnlib.rnn.rnn_cell_forward" in message
    assert check_in_kernel(ns, "one_hot", "values") is None


def accepted_groups(assignment):
    """The accepted styles of ``assignment``, packed one per function into submissions."""
    groups = []
    for entry in (e for e in ACCEPTED if e.assignment == assignment):
        for group in groups:
            if entry.function not in {e.function for e in group}:
                group.append(entry)
                break
        else:
            groups.append([entry])
    return groups


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda e: f"{e.assignment}-{e.name}")
def test_other_correct_styles_earn_full_marks_in_the_kernel(entry):
    ns = run_in_process(entry.assignment, {entry.function: entry.edits})
    for part in grading.SPECS[entry.function].parts:
        assert check_in_kernel(ns, entry.function, part) is None, part


@pytest.mark.parametrize("assignment", sorted({e.assignment for e in ACCEPTED}))
def test_other_correct_styles_earn_full_marks_outside_the_kernel(assignment):
    for group in accepted_groups(assignment):
        nb = submission(assignment, {e.function: e.edits for e in group})
        verdicts = _verdicts_by_function(grading.judge_notebook(nb))
        for function, results in verdicts.items():
            assert all(r["passed"] for r in results), (function, results)
