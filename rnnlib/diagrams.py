"""Figures of the book, drawn with matplotlib at build time (no image files are stored).

Every diagram is one call and labels things with the notes' symbols::

    from rnnlib import diagrams
    diagrams.unrolled_rnn(T=4)      # the RNN unrolled in time
    diagrams.rnn_cell()             # one step: a<t-1>, x<t> -> a<t> -> ŷ<t>
    diagrams.bptt(T=4)              # forward and backward flow, losses summed over time
    diagrams.rnn_types()            # the five types of RNN, side by side
    diagrams.gru_cell()             # full GRU (simplified=True: without Γr)
    diagrams.lstm_cell()            # LSTM (peepholes=True: with the peephole connections)
    diagrams.brnn(T=4)              # bidirectional RNN
    diagrams.deep_rnn(L=3, T=4)     # stacked layers a[l]<t>

Plotting helpers for experiments: ``one_hot_matrix``, ``loss_curve``, ``gate_heatmap``,
``gradient_norms``, ``bar_table``. Every function takes an optional ``ax`` (drawing into it)
and returns the matplotlib ``Figure``.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

# Figures are read on a phone too: there the book's text column is about PHONE_COLUMN_PX CSS
# pixels wide and a figure shrinks to it. ``readable`` raises every text of a figure so that it
# is at least MIN_TEXT_PX there (and never smaller than MIN_TEXT_PX at the figure's own size).
PHONE_COLUMN_PX = 343
MIN_TEXT_PX = 9.0

# One colour per kind of quantity, used in every figure.
COLORS = {
    "x": "#d8efd3",       # inputs
    "a": "#cfe2f3",       # hidden states / cells
    "y": "#fde0c5",       # outputs
    "loss": "#f4cccc",    # losses
    "gate": "#e1d5e7",    # gates (σ)
    "tanh": "#fff2cc",    # tanh layers
    "op": "#ffffff",      # pointwise operations
    "back": "#c0392b",    # backward (gradient) flow
    "edge": "#333333",
    "cell": "#f4f8fc",
}


def _t(sym, t):
    """Mathtext for sym<t>: ``_t('a', 't-1')`` -> ``$a^{<\\!t-1\\!>}$``.

    Plain < and > pulled close with negative spaces: at figure sizes, mathtext's langle and
    rangle look like parentheses.
    """
    return rf"${sym}^{{<\!{t}\!>}}$"


def _canvas(width, height, ax=None, scale=0.62, pad=0.15):
    """An axes with equal aspect spanning [0, width] x [0, height] in data units."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(width * scale, height * scale))
    else:
        fig = ax.figure
    ax.set_xlim(-pad, width + pad)
    ax.set_ylim(-pad, height + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, text, w=1.2, h=0.8, fc=COLORS["a"], fontsize=12, round_=0.12, lw=1.2,
         ec=COLORS["edge"], ls="-", zorder=3):
    """A rounded box centred at (x, y)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle=f"round,pad=0,rounding_size={round_}",
                                fc=fc, ec=ec, lw=lw, ls=ls, zorder=zorder))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=zorder + 1)
    return (x, y, w, h)


def _circle(ax, x, y, text, r=0.28, fc=COLORS["op"], fontsize=12, zorder=3):
    ax.add_patch(Circle((x, y), r, fc=fc, ec=COLORS["edge"], lw=1.2, zorder=zorder))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=zorder + 1)


def _arrow(ax, p, q, color=COLORS["edge"], lw=1.4, style="-|>", rad=0.0, ls="-",
           shrink=0.0, mutation=12, zorder=2):
    """An arrow from point p to point q (optionally curved by ``rad``)."""
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=mutation, color=color,
                                 lw=lw, ls=ls, shrinkA=shrink, shrinkB=shrink,
                                 connectionstyle=f"arc3,rad={rad}", zorder=zorder))


def _path(ax, points, color=COLORS["edge"], lw=1.4, arrow=True, ls="-", zorder=2, halo=False):
    """A polyline through ``points`` with an arrowhead on its last segment.

    ``halo=True`` draws it over a white band, so lines it crosses show a gap.
    """
    pts = np.asarray(points, dtype=float)
    if halo:
        ax.plot(pts[:, 0], pts[:, 1], color="white", lw=lw + 5, zorder=zorder + 0.5,
                solid_capstyle="butt")
        zorder = zorder + 0.6
    if len(pts) > 2:
        ax.plot(pts[:-1, 0], pts[:-1, 1], color=color, lw=lw, ls=ls, zorder=zorder,
                solid_capstyle="butt")
    if arrow:
        _arrow(ax, tuple(pts[-2]), tuple(pts[-1]), color=color, lw=lw, ls=ls, zorder=zorder)
    else:
        ax.plot(pts[-2:, 0], pts[-2:, 1], color=color, lw=lw, ls=ls, zorder=zorder)


def _edge_top(b):
    return (b[0], b[1] + b[3] / 2)


def _edge_bottom(b):
    return (b[0], b[1] - b[3] / 2)


def _edge_left(b):
    return (b[0] - b[2] / 2, b[1])


def _edge_right(b):
    return (b[0] + b[2] / 2, b[1])


def min_font_pt(fig, column_px=PHONE_COLUMN_PX, min_px=MIN_TEXT_PX):
    """The smallest font size (points) that shows at ``min_px`` CSS pixels or more when the
    figure, saved as SVG, is shown at its own size or shrunk to a ``column_px`` column."""
    width_pt = fig.get_figwidth() * 72                 # an SVG's width is in points
    shown_px = min(width_pt * 4 / 3, column_px)        # 1 pt = 4/3 CSS px at its own size
    return min_px * width_pt / shown_px


def readable(fig, column_px=PHONE_COLUMN_PX, min_px=MIN_TEXT_PX):
    """Raise every text of ``fig`` below ``min_font_pt`` to it; return the figure."""
    # (a few percent above: the SVG's tight bounding box can come out wider than the figure)
    floor = 1.04 * min_font_pt(fig, column_px, min_px)
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < floor:
            text.set_fontsize(floor)
    return fig


def _finish(fig, title=None, ax=None):
    if title:
        (ax or fig.axes[0]).set_title(title, fontsize=12)
    if ax is None or ax.figure.axes == [ax]:
        readable(fig)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the basic RNN

def unrolled_rnn(T=4, ax=None, weights=True, title=None, inputs=None, outputs=None):
    """The RNN unrolled over T steps: a<0> -> a<1> -> ... with x<t> below and ŷ<t> above.

    ``weights=True`` labels the arrows with the shared parameters W_ax, W_aa, W_ya.
    ``inputs`` / ``outputs``: T labels written under x<t> / over ŷ<t> (e.g. the tokens of a
    sentence), which also shows every step (no "..." for T > 3).
    """
    for name, labels in (("inputs", inputs), ("outputs", outputs)):
        if labels is not None and len(labels) != T:
            raise ValueError(f"unrolled_rnn: {name} must have T = {T} labels, got {len(labels)}")
    labelled = inputs is not None or outputs is not None
    dx = 2.3
    width = 1.0 + dx * T + 0.3
    fig, ax = _canvas(width, 5.2, ax)
    _box(ax, 0.5, 2.6, _t("a", 0), w=0.9, h=0.7, fc="#eeeeee")
    prev = (0.95, 2.6)
    for i in range(T):
        t = i + 1
        x0 = 1.0 + dx * i + dx / 2
        tt = "T_x" if (i == T - 1 and T > 3 and not labelled) else str(t)
        cell = _box(ax, x0, 2.6, _t("a", tt), w=1.1, h=0.9)
        xin = _box(ax, x0, 0.5, _t("x", tt), w=1.0, h=0.65, fc=COLORS["x"])
        yout = _box(ax, x0, 4.6, _t(r"\hat{y}", tt), w=1.0, h=0.65, fc=COLORS["y"])
        _arrow(ax, _edge_top(xin), _edge_bottom(cell))
        _arrow(ax, _edge_top(cell), _edge_bottom(yout))
        _arrow(ax, prev, _edge_left(cell))
        if inputs is not None:
            ax.text(x0, -0.15, inputs[i], ha="center", va="top", fontsize=11, color="#38761d")
        if outputs is not None:
            ax.text(x0, 5.05, outputs[i], ha="center", va="bottom", fontsize=11,
                    color="#b45f06")
        if weights:
            ax.text(x0 + 0.1, 1.5, r"$W_{ax}$", fontsize=10, va="center", color="#555555")
            ax.text(x0 + 0.1, 3.6, r"$W_{ya}$", fontsize=10, va="center", color="#555555")
            ax.text((prev[0] + _edge_left(cell)[0]) / 2, 2.78, r"$W_{aa}$", fontsize=10,
                    ha="center", va="bottom", color="#555555")
        prev = _edge_right(cell)
    if labelled:                        # room for the labels: a taller figure, same scale
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.7, hi + 0.5)
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h * (hi - lo + 1.2) / (hi - lo))
    if T > 3 and not labelled:
        ax.text(1.0 + dx * (T - 1) - 0.05, 2.6, r"$\cdots$", fontsize=14, ha="center",
                va="center", bbox=dict(fc="white", ec="none", pad=0.5), zorder=5)
    return _finish(fig, title, ax)


def rnn_cell(ax=None, activation="tanh", title=None):
    """Inside one RNN step: a<t> = g(Waa a<t-1> + Wax x<t> + ba), ŷ<t> = softmax(Wya a<t> + by)."""
    fig, ax = _canvas(11.6, 5.6, ax)
    ax.add_patch(FancyBboxPatch((1.6, 0.9), 8.1, 3.9, boxstyle="round,pad=0,rounding_size=0.3",
                                fc=COLORS["cell"], ec="#7f9db9", lw=1.2, ls="--", zorder=1))
    a_prev = _box(ax, 0.75, 2.2, _t("a", "t-1"), w=1.5, h=0.7)
    xin = _box(ax, 3.85, 0.2, _t("x", "t"), w=1.0, h=0.6, fc=COLORS["x"])
    lin = _box(ax, 3.85, 2.2, "$W_{aa}a^{<\\!t-1\\!>}$\n$+\\; W_{ax}x^{<\\!t\\!>} + b_a$",
               w=3.5, h=1.25, fc="white", fontsize=11)
    g = _box(ax, 6.7, 2.2, rf"$g = \{activation}$" if activation == "tanh" else r"$g$ = ReLU",
             w=1.8, h=0.7, fc=COLORS["tanh"], fontsize=11)
    a_next = _box(ax, 10.65, 2.2, _t("a", "t"), w=1.1, h=0.7)
    out = _box(ax, 8.05, 3.95, "softmax\n$(W_{ya}a^{<\\!t\\!>} + b_y)$", w=3.1, h=1.1,
               fc="white", fontsize=10)
    yhat = _box(ax, 8.05, 5.3, _t(r"\hat{y}", "t"), w=1.0, h=0.6, fc=COLORS["y"])
    _arrow(ax, _edge_right(a_prev), _edge_left(lin))
    _arrow(ax, _edge_top(xin), _edge_bottom(lin))
    _arrow(ax, _edge_right(lin), _edge_left(g))
    _arrow(ax, _edge_right(g), _edge_left(a_next))
    _path(ax, [(8.05, 2.2), (8.05, 3.4)])
    _arrow(ax, _edge_top(out), _edge_bottom(yhat))
    ax.text(5.65, 1.05, "one time step: the same weights at every t", fontsize=10,
            color="#4a6a8a", ha="center")
    return _finish(fig, title, ax)


def bptt(T=4, ax=None, title=None):
    """Forward propagation (black) and backpropagation through time (red).

    Each output ŷ<t> is compared with y<t> by a loss L<t>; the losses are summed into L; the
    gradient flows back from every L<t> and along the chain a<T_x> -> ... -> a<1>. The shared
    parameters (W_a, b_a) and (W_y, b_y) are nodes of their own, on the left: every step uses
    them (grey dashed lines), so their gradients are sums over the steps.
    """
    dx = 2.5
    width = 0.8 + dx * T + 1.2
    fig, ax = _canvas(width, 7.6, ax)
    grey = "#777777"
    for y, label in [(1.45, r"$W_a, b_a$"), (3.45, r"$W_y, b_y$")]:
        _box(ax, 0.45, y, label, w=0.85, h=0.55, fc="#eeeeee", fontsize=10)
        x_end = 1.2 + dx * (T - 1) + dx / 2 + 0.38
        ax.plot([0.88, x_end], [y, y], color=grey, lw=1.0, ls="--", zorder=1)
        for i in range(T):
            xi = 1.2 + dx * i + dx / 2 + 0.38
            _arrow(ax, (xi, y), (xi, y + (0.55 if y < 2 else 0.55)), color=grey, lw=1.0,
                   ls="--", mutation=8, zorder=1)
    red = COLORS["back"]
    cells = []
    for i in range(T):
        t = i + 1
        x0 = 1.2 + dx * i + dx / 2
        cell = _box(ax, x0, 2.4, _t("a", t), w=1.1, h=0.8)
        _box(ax, x0, 0.45, _t("x", t), w=1.0, h=0.6, fc=COLORS["x"])
        _box(ax, x0, 4.3, _t(r"\hat{y}", t), w=1.0, h=0.6, fc=COLORS["y"])
        loss = _box(ax, x0, 5.9, rf"$\mathcal{{L}}^{{<\!{t}\!>}}$", w=1.0, h=0.6,
                    fc=COLORS["loss"])
        ax.text(x0 + 0.55, 5.25, _t("y", t), fontsize=10, ha="left", va="center")
        _arrow(ax, (x0 + 0.55, 5.45), (x0 + 0.25, 5.62), lw=1.0, mutation=9)
        # forward
        _arrow(ax, (x0 - 0.15, 0.75), (x0 - 0.15, 2.0))
        _arrow(ax, (x0 - 0.15, 2.8), (x0 - 0.15, 4.0))
        _arrow(ax, (x0 - 0.15, 4.6), (x0 - 0.15, 5.6))
        # backward
        _arrow(ax, (x0 + 0.15, 5.6), (x0 + 0.15, 4.6), color=red)
        _arrow(ax, (x0 + 0.15, 4.0), (x0 + 0.15, 2.8), color=red)
        cells.append((cell, loss))
    _box(ax, 0.45, 2.4, _t("a", 0), w=0.8, h=0.7, fc="#eeeeee")
    _arrow(ax, (0.85, 2.52), _edge_left(cells[0][0])[0:1] + (2.52,))
    for (c1, _), (c2, _) in zip(cells[:-1], cells[1:], strict=True):
        _arrow(ax, (_edge_right(c1)[0], 2.55), (_edge_left(c2)[0], 2.55))
        _arrow(ax, (_edge_left(c2)[0], 2.22), (_edge_right(c1)[0], 2.22), color=red)
    _arrow(ax, (_edge_left(cells[0][0])[0], 2.22), (0.85, 2.22), color=red)
    # total loss
    xl = 1.2 + dx * T / 2
    _box(ax, xl, 7.2, r"$\mathcal{L} = \sum_t \mathcal{L}^{<\!t\!>}$",
                 w=2.6, h=0.65, fc=COLORS["loss"], fontsize=11)
    for _, loss in cells:
        _arrow(ax, _edge_top(loss), (xl + (loss[0] - xl) * 0.15, 6.87), lw=1.0, mutation=9)
    ax.text(width - 0.1, 7.3, "forward", color=COLORS["edge"], ha="right", fontsize=10)
    ax.text(width - 0.1, 6.95, "backward (BPTT)", color=red, ha="right", fontsize=10)
    ax.text(width - 0.1, 6.6, "shared parameters", color=grey, ha="right", fontsize=10)
    return _finish(fig, title, ax)


# --------------------------------------------------------------------------- RNN types

_TYPES = {
    "many-to-many": r"many-to-many, $T_x = T_y$",
    "many-to-one": "many-to-one",
    "one-to-one": "one-to-one",
    "one-to-many": "one-to-many",
    "encoder-decoder": r"many-to-many, $T_x \neq T_y$",
}
_EXAMPLES = {
    "many-to-many": "named entity recognition",
    "many-to-one": "sentiment classification",
    "one-to-one": "a standard network",
    "one-to-many": "music generation",
    "encoder-decoder": "machine translation",
}


def rnn_type(kind, ax=None, example=True):
    """One of the five RNN architectures of the notes (``kind`` is a key of ``_TYPES``)."""
    if kind not in _TYPES:
        raise ValueError(f"rnn_type: kind must be one of {sorted(_TYPES)}, got {kind!r}")
    # (has input, has output) per step
    steps = {
        "many-to-many": [(1, 1)] * 4,
        "many-to-one": [(1, 0), (1, 0), (1, 0), (1, 1)],
        "one-to-one": [(1, 1)],
        "one-to-many": [(1, 1), (0, 1), (0, 1), (0, 1)],
        "encoder-decoder": [(1, 0), (1, 0), (1, 0), (0, 1), (0, 1)],
    }[kind]
    dx = 1.3
    n = len(steps)
    W = 5 * dx + 0.4
    fig, ax = _canvas(W, 4.4, ax, scale=0.5)
    off = (W - n * dx) / 2
    prev = None
    xin_n = yout_n = 0
    for i, (has_x, has_y) in enumerate(steps):
        x0 = off + dx * i + dx / 2
        fc = COLORS["a"]
        if kind == "encoder-decoder":
            fc = "#cfe2f3" if has_x else "#d9d2e9"
        cell = _box(ax, x0, 2.2, "", w=0.8, h=0.7, fc=fc)
        if has_x:
            xin_n += 1
            xin = _box(ax, x0, 0.55, rf"$x^{{<\!{xin_n}\!>}}$", w=1.22, h=0.7,
                       fc=COLORS["x"], fontsize=10)
            _arrow(ax, _edge_top(xin), _edge_bottom(cell), mutation=9, lw=1.1)
        if has_y:
            yout_n += 1
            yout = _box(ax, x0, 3.85, rf"$\hat{{y}}^{{<\!{yout_n}\!>}}$", w=1.22,
                        h=0.7, fc=COLORS["y"], fontsize=10)
            _arrow(ax, _edge_top(cell), _edge_bottom(yout), mutation=9, lw=1.1)
            if kind == "one-to-many" and i + 1 < n:
                # the sampled output is fed to the next step
                _arrow(ax, (x0 + 0.4, 3.65), (x0 + dx - 0.3, 1.85), color="#999999", lw=0.9,
                       mutation=8, rad=-0.25, ls="--")
        if prev is not None:
            _arrow(ax, prev, _edge_left(cell), mutation=9, lw=1.1)
        prev = _edge_right(cell)
    ax.set_title(_TYPES[kind] + ("\n(" + _EXAMPLES[kind] + ")" if example else ""), fontsize=10)
    return fig


def rnn_types(examples=True):
    """The five types of RNN of the notes in one figure."""
    kinds = list(_TYPES)
    # three rows of two: in one row of five, or two of three, a phone's column shrinks the
    # labels below reading size
    fig, axes = plt.subplots(3, 2, figsize=(5.2, 6.6))
    for kind, ax in zip(kinds, axes.flat, strict=False):
        rnn_type(kind, ax=ax, example=examples)
    axes.flat[-1].set_axis_off()
    readable(fig)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- GRU and LSTM

def _op(ax, x, y, kind):
    sym = {"mul": r"$\times$", "add": r"$+$", "one_minus": r"$1-$"}[kind]
    _circle(ax, x, y, sym, r=0.3 if kind != "one_minus" else 0.34, fontsize=11)


def gru_cell(simplified=False, ax=None, title=None):
    """The GRU of the notes (Cho et al.): c<t> = Γu * c̃<t> + (1 - Γu) * c<t-1>, a<t> = c<t>.

    ``simplified=True`` draws the simplified GRU without the relevance gate Γr.
    """
    fig, ax = _canvas(12.6, 7.6, ax)
    ax.add_patch(FancyBboxPatch((1.3, 0.9), 10.0, 5.9, boxstyle="round,pad=0,rounding_size=0.4",
                                fc=COLORS["cell"], ec="#7f9db9", lw=1.3, zorder=0))
    top, bus = 5.8, 1.5
    # memory cell line c<t-1> -> c<t>
    ax.text(0.0, top + 0.3, _t("c", "t-1"), fontsize=13)
    ax.text(12.6, top + 0.3, _t("c", "t"), fontsize=13, ha="right")
    _path(ax, [(0.0, top), (7.1, top)])
    _op(ax, 7.4, top, "mul")
    _path(ax, [(7.7, top), (9.5, top)])
    _op(ax, 9.8, top, "add")
    _path(ax, [(10.1, top), (12.6, top)])
    _path(ax, [(11.0, top), (11.0, 7.5)])
    ax.text(11.15, 7.2, r"$a^{<\!t\!>} = c^{<\!t\!>}$", fontsize=11)
    # c<t-1> drops to the bus where x<t> joins: [c<t-1>, x<t>]
    _path(ax, [(1.8, top), (1.8, bus)], arrow=False)
    ax.text(2.35, 0.05, _t("x", "t"), fontsize=13)
    _path(ax, [(2.2, -0.1), (2.2, bus)], arrow=False)
    _path(ax, [(1.8, bus), (10.1, bus)], arrow=False)
    ax.text(2.5, bus - 0.42, r"$[c^{<\!t-1\!>}, x^{<\!t\!>}]$", fontsize=10,
            color="#555555")
    # update gate Γu: (1 - Γu) scales the old value, Γu the candidate
    gu = _box(ax, 5.6, 3.0, r"$\sigma$", w=0.9, h=0.7, fc=COLORS["gate"])
    _arrow(ax, (5.6, bus), _edge_bottom(gu))
    ax.text(6.15, 2.45, r"$\Gamma_u$", fontsize=12, color="#5b3f7a")
    _path(ax, [(5.6, 3.35), (5.6, 4.0), (9.0, 4.0), (9.0, 4.6), (9.5, 4.6)])
    _op(ax, 7.4, 4.6, "one_minus")
    _path(ax, [(7.4, 4.0), (7.4, 4.26)])
    _path(ax, [(7.4, 4.94), (7.4, top - 0.3)])
    # candidate c̃<t> and Γu * c̃<t>
    _box(ax, 9.8, 3.0, r"$\tanh$", w=1.0, h=0.7, fc=COLORS["tanh"])
    ax.text(10.4, 3.75, r"$\tilde c^{<\!t\!>}$", fontsize=12)
    _op(ax, 9.8, 4.6, "mul")
    _path(ax, [(9.8, 3.35), (9.8, 4.3)])
    _path(ax, [(9.8, 4.9), (9.8, top - 0.3)])
    if simplified:
        _path(ax, [(9.8, bus), (9.8, 2.65)])
    else:
        gr = _box(ax, 3.2, 3.0, r"$\sigma$", w=0.9, h=0.7, fc=COLORS["gate"])
        _arrow(ax, (3.2, bus), _edge_bottom(gr))
        ax.text(3.75, 2.45, r"$\Gamma_r$", fontsize=12, color="#5b3f7a")
        _op(ax, 3.2, 4.6, "mul")
        _path(ax, [(3.2, 3.35), (3.2, 4.3)])
        _path(ax, [(3.2, top), (3.2, 4.9)])
        # Γr * c<t-1> goes to the candidate, crossing the Γu input (drawn with a gap)
        _path(ax, [(3.5, 4.6), (4.3, 4.6), (4.3, 2.15), (9.55, 2.15), (9.55, 2.65)], halo=True)
        ax.text(3.45, 4.85, r"$\Gamma_r * c^{<\!t-1\!>}$", fontsize=10,
                color="#555555")
        _path(ax, [(10.05, bus), (10.05, 2.65)])
        ax.text(10.2, 1.75, r"$x^{<\!t\!>}$", fontsize=10, color="#555555")
    return _finish(fig, title or ("simplified GRU" if simplified else "full GRU (the notes)"), ax)


def lstm_cell(peepholes=False, ax=None, title=None):
    """The LSTM of the notes: c<t> = Γu * c̃<t> + Γf * c<t-1>, a<t> = Γo * tanh(c<t>).

    ``peepholes=True`` adds the peephole connections: every gate also sees c<t-1>
    (as ``rnnlib.lstm`` implements them).
    """
    fig, ax = _canvas(12.6, 7.4, ax)
    ax.add_patch(FancyBboxPatch((1.3, 0.7), 10.0, 5.9, boxstyle="round,pad=0,rounding_size=0.4",
                                fc=COLORS["cell"], ec="#7f9db9", lw=1.3, zorder=0))
    top, bot = 5.7, 1.3
    # memory cell line
    ax.text(0.0, top + 0.3, _t("c", "t-1"), fontsize=13)
    ax.text(12.6, top + 0.3, _t("c", "t"), fontsize=13, ha="right")
    _path(ax, [(0.0, top), (3.7, top)], arrow=True)
    _op(ax, 4.0, top, "mul")
    _path(ax, [(4.3, top), (6.7, top)])
    _op(ax, 7.0, top, "add")
    _path(ax, [(7.3, top), (12.6, top)])
    # hidden line a<t-1> joins x<t>
    ax.text(0.0, bot + 0.25, _t("a", "t-1"), fontsize=13)
    _path(ax, [(0.0, bot), (8.5, bot)], arrow=False)
    ax.text(1.95, -0.15, _t("x", "t"), fontsize=13)
    _path(ax, [(1.8, -0.2), (1.8, bot)], arrow=False)
    ax.text(2.2, bot - 0.45, r"$[a^{<\!t-1\!>}, x^{<\!t\!>}]$", fontsize=10,
            color="#555555")
    gates = {"f": (4.0, r"$\Gamma_f$"), "u": (5.4, r"$\Gamma_u$"), "o": (8.5, r"$\Gamma_o$")}
    for gx, label in gates.values():
        b = _box(ax, gx, 3.0, r"$\sigma$", w=0.9, h=0.7, fc=COLORS["gate"])
        _arrow(ax, (gx, bot), _edge_bottom(b))
        ax.text(gx + 0.5, 2.35, label, fontsize=12, color="#5b3f7a")
    cand = _box(ax, 7.0, 3.0, r"$\tanh$", w=1.0, h=0.7, fc=COLORS["tanh"])
    _arrow(ax, (7.0, bot), _edge_bottom(cand))
    ax.text(7.2, 3.5, r"$\tilde c^{<\!t\!>}$", fontsize=12)
    # forget
    _path(ax, [(4.0, 3.35), (4.0, top - 0.3)])
    # update * candidate
    _op(ax, 7.0, 4.6, "mul")
    _path(ax, [(7.0, 3.35), (7.0, 4.3)])
    _path(ax, [(5.4, 3.35), (5.4, 4.6), (6.7, 4.6)])
    _path(ax, [(7.0, 4.9), (7.0, top - 0.3)])
    # output: a<t> = Γo * tanh(c<t>)
    ct = _box(ax, 9.8, 4.5, r"$\tanh$", w=0.9, h=0.6, fc=COLORS["tanh"])
    _path(ax, [(9.8, top), (9.8, 4.8)])
    _op(ax, 9.8, 3.0, "mul")
    _path(ax, [_edge_bottom(ct), (9.8, 3.3)])
    _path(ax, [(8.95, 3.0), (9.5, 3.0)])
    _path(ax, [(9.8, 2.7), (9.8, bot), (12.6, bot)])
    ax.text(12.6, bot + 0.25, _t("a", "t"), fontsize=13, ha="right")
    _path(ax, [(10.9, bot), (10.9, 7.3)])
    ax.text(11.0, 7.0, r"$\to \hat y^{<\!t\!>}$", fontsize=11)
    if peepholes:
        blue = "#1f77b4"
        _path(ax, [(2.6, top), (2.6, 3.95), (8.8, 3.95)], color=blue, ls="--", lw=1.2,
              arrow=False, halo=True, zorder=4)
        for gx, _ in gates.values():
            _path(ax, [(gx + 0.3, 3.95), (gx + 0.3, 3.36)], color=blue, lw=1.2, zorder=4)
        # in the free space inside the cell, between the candidate's x and the output tanh
        ax.text(7.5, 4.05, "peepholes:\n" + _t("c", "t-1") + r"$\to$" + "\n"
                + r"$\Gamma_f, \Gamma_u, \Gamma_o$", fontsize=9, color=blue, ha="left",
                va="bottom")
    return _finish(fig, title or ("LSTM with peephole connections" if peepholes else "LSTM"), ax)


# --------------------------------------------------------------------------- BRNN, deep RNN

def brnn(T=4, ax=None, title=None):
    """A bidirectional RNN: a forward chain left to right, a backward chain right to left;
    ŷ<t> = g(Wy [→a<t>, ←a<t>] + by) sees the whole sequence.

    The two chains are on two rows, in two colours, with their arrows between the boxes. The
    lines from x<t> up to the backward row and from the forward row up to ŷ<t> cross the other
    chain's arrow in the middle of its shaft, with a gap cut into the arrow, so no line runs
    into an arrowhead or along a box."""
    dx, off = 2.5, 0.5
    width = 0.6 + dx * T + 0.6
    fig, ax = _canvas(width, 6.4, ax)
    fwd_c, bwd_c = "#1f5f9f", "#38761d"
    fwd, bwd = [], []
    for i in range(T):
        t = i + 1
        x0 = 0.6 + dx * i + dx / 2
        f = _box(ax, x0 - off, 2.2, rf"$\overrightarrow{{a}}^{{\,<\!{t}\!>}}$",
                 w=0.95, h=0.75, fc="#cfe2f3", ec=fwd_c)
        b = _box(ax, x0 + off, 3.9, rf"$\overleftarrow{{a}}^{{\,<\!{t}\!>}}$",
                 w=0.95, h=0.75, fc="#d9ead3", ec=bwd_c)
        _box(ax, x0, 0.45, _t("x", t), w=1.0, h=0.6, fc=COLORS["x"])
        _box(ax, x0, 5.85, _t(r"\hat{y}", t), w=1.0, h=0.6, fc=COLORS["y"])
        # x<t> feeds both rows; both rows feed ŷ<t> (lines in the edge colour, over a halo
        # where they cross the other row's arrow)
        _path(ax, [(x0 - 0.2, 0.75), (x0 - off, 1.1), (x0 - off, 1.825)], lw=1.2)
        _path(ax, [(x0 + 0.2, 0.75), (x0 + off, 1.1), (x0 + off, 3.525)], lw=1.2, halo=True)
        _path(ax, [(x0 - off, 2.575), (x0 - off, 5.15), (x0 - 0.2, 5.55)], lw=1.2, halo=True)
        _path(ax, [(x0 + off, 4.275), (x0 + off, 5.15), (x0 + 0.2, 5.55)], lw=1.2)
        fwd.append(f)
        bwd.append(b)
    for f1, f2 in zip(fwd[:-1], fwd[1:], strict=True):
        _arrow(ax, _edge_right(f1), _edge_left(f2), color=fwd_c, lw=2.2, mutation=15, zorder=1)
    for b1, b2 in zip(bwd[:-1], bwd[1:], strict=True):
        _arrow(ax, _edge_left(b2), _edge_right(b1), color=bwd_c, lw=2.2, mutation=15, zorder=1)
    ax.text(0.1, 2.2, "forward", fontsize=10, color=fwd_c, va="center", ha="center",
            rotation=90)
    ax.text(width - 0.1, 3.9, "backward", fontsize=10, color=bwd_c, va="center", ha="center",
            rotation=90)
    return _finish(fig, title, ax)


def deep_rnn(L=3, T=4, ax=None, title=None):
    """A deep RNN: L recurrent layers stacked; a[l]<t> gets a[l]<t-1> and a[l-1]<t>."""
    dx, dy = 2.2, 1.5
    width = 1.3 + dx * T + 0.2
    height = 0.6 + dy * (L + 1) + 0.4
    fig, ax = _canvas(width, height, ax)
    shades = ["#cfe2f3", "#b4d0ea", "#9fc2e4", "#8ab4dd", "#75a6d6"]
    for l in range(1, L + 1):
        y = 0.6 + dy * l
        _box(ax, 0.55, y, rf"$a^{{[{l}]<\!0\!>}}$", w=0.95, h=0.65, fc="#eeeeee",
             fontsize=10)
        prev = (1.03, y)
        for i in range(T):
            t = i + 1
            x0 = 1.3 + dx * i + dx / 2
            c = _box(ax, x0, y, rf"$a^{{[{l}]<\!{t}\!>}}$", w=1.2, h=0.75,
                     fc=shades[(l - 1) % len(shades)], fontsize=11)
            _arrow(ax, prev, _edge_left(c))
            prev = _edge_right(c)
            below = (x0, y - dy + (0.3 if l == 1 else 0.375))
            _arrow(ax, below, _edge_bottom(c))
    for i in range(T):
        t = i + 1
        x0 = 1.3 + dx * i + dx / 2
        _box(ax, x0, 0.6 + 0.0, _t("x", t), w=0.9, h=0.6, fc=COLORS["x"])
        ytop = 0.6 + dy * (L + 1)
        _box(ax, x0, ytop, _t(r"\hat{y}", t), w=0.9, h=0.6, fc=COLORS["y"])
        _arrow(ax, (x0, 0.6 + dy * L + 0.375), (x0, ytop - 0.3))
    return _finish(fig, title, ax)


# --------------------------------------------------------------------------- plots for experiments

def one_hot_matrix(x, vocab=None, tokens=None, ax=None, title=None, max_rows=40):
    """Show one example's one-hot inputs x(i) of shape (n_x, T_x) as a 0/1 image.

    Rows are vocabulary entries (only rows that are used, at most ``max_rows``), columns are
    time steps labelled with ``tokens``.
    """
    x = np.asarray(x)
    used = np.flatnonzero(x.sum(axis=1))[:max_rows]
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.4 * x.shape[1] + 1.8, 0.3 * len(used) + 1.6))
    else:
        fig = ax.figure
    ax.imshow(x[used], cmap="Blues", aspect="auto", vmin=0, vmax=1.3)
    ax.set_yticks(range(len(used)))
    ax.set_yticklabels([f"{j}: {vocab[j]}" if vocab is not None else str(j) for j in used],
                       fontsize=9)
    ax.set_xticks(range(x.shape[1]))
    ax.set_xticklabels([f"{t + 1}\n{tokens[t]}" if tokens is not None else str(t + 1)
                        for t in range(x.shape[1])], fontsize=9)
    ax.set_xlabel(r"time step $t$ (and the token $x^{<\!t\!>}$ encodes)")
    ax.set_ylabel("row of the one-hot vector")
    for (r, c), v in np.ndenumerate(x[used]):
        if v:
            ax.text(c, r, "1", ha="center", va="center", fontsize=8, color="white")
    return _finish(fig, title, ax)


def loss_curve(losses, ax=None, label=None, smooth=0, xlabel="iteration", ylabel="loss",
               title=None, baseline=None, baseline_label=None, logy=False):
    """Plot a loss history (optionally smoothed by a moving average of ``smooth`` points)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.3))
    else:
        fig = ax.figure
    y = np.asarray(losses, dtype=float)
    ax.plot(np.arange(len(y)), y, alpha=0.35 if smooth else 1.0, lw=1.0,
            label=None if smooth else label)
    if smooth and len(y) > smooth:
        k = np.ones(smooth) / smooth
        ys = np.convolve(y, k, mode="valid")
        ax.plot(np.arange(smooth - 1, len(y)), ys, lw=2.0, label=label,
                color=ax.lines[-1].get_color())
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1.0, label=baseline_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if label or baseline_label:
        ax.legend()
    return _finish(fig, title, ax)


def gate_heatmap(values, tokens, names=None, ax=None, title=None, max_units=None,
                 cmap="viridis"):
    """Gate activations over a sequence: one panel per gate, units as rows, time as columns.

    ``values`` maps a label (e.g. ``r"$\\Gamma_u$"``) to an array (n_a, T) with values in [0, 1].
    """
    items = list(values.items())
    n = len(items)
    T = len(tokens)
    rows = [min(v.shape[0], max_units or v.shape[0]) for _, v in items]
    # labels wider than a character or two (numbers) would run into each other: stand them up
    longest = max((len(line) for t in tokens for line in str(t).split("\n")), default=0)
    rotation = 90 if longest > 2 else 0
    if ax is None:
        label_height = (0.1 * max(len(str(t).replace("\n", " ")) for t in tokens)
                        if rotation else 0.0)
        fig, axes = plt.subplots(n, 1, figsize=(min(4.9, 0.19 * T + 1.5),
                                                sum(0.22 * r + 0.6 for r in rows) + 0.3
                                                + label_height),
                                 squeeze=False, layout="constrained",
                                 gridspec_kw={"height_ratios": rows})
        axes = axes[:, 0]
    else:
        fig, axes = ax.figure, np.atleast_1d(ax)
    for axi, (label, v), r in zip(axes, items, rows, strict=True):
        im = axi.imshow(np.asarray(v)[:r], aspect="auto", cmap=cmap, vmin=0, vmax=1)
        axi.set_ylabel(label + "\nunit", fontsize=10)
        axi.set_xticks(range(T))
        axi.set_xticklabels([str(t).replace("\n", " ") if rotation else t for t in tokens],
                            fontsize=10, rotation=rotation)
        axi.set_yticks(range(r))
        axi.tick_params(axis="y", labelsize=10, length=0)
    for axi in axes[:-1]:  # the panels share their time axis: label it once, at the bottom
        axi.tick_params(labelbottom=False)
    fig.colorbar(im, ax=list(axes), shrink=0.8, pad=0.02, label="gate value")
    if title:
        axes[0].set_title(title, fontsize=11)
    if ax is None:
        readable(fig)
    return fig


def gradient_norms(norms, ax=None, title=None, xlabel=None, ylabel=None):
    """Gradient norm against distance in time, one line per model, log scale.

    ``norms`` maps a label to an array whose entry k is the norm at distance k.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.4))
    else:
        fig = ax.figure
    for label, v in norms.items():
        v = np.asarray(v, dtype=float)
        ax.semilogy(np.arange(len(v)), np.maximum(v, 1e-300), lw=2, label=label)
    ax.set_xlabel(xlabel or r"distance in time $T_x - t$")
    ax.set_ylabel(ylabel or r"$\|\partial \mathcal{L} / \partial a^{<\!t\!>}\|$")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _finish(fig, title, ax)


def bar_table(table, row_labels, col_labels, ax=None, title=None, ylabel=None, baseline=None,
              baseline_label=None):
    """Grouped bars: ``table[i][j]`` is the value of row i (a group) for column j (a bar)."""
    table = np.asarray(table, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.9, 3.9))
    else:
        fig = ax.figure
    n_rows, n_cols = table.shape
    width = 0.8 / n_cols
    for j in range(n_cols):
        ax.bar(np.arange(n_rows) + (j - (n_cols - 1) / 2) * width, table[:, j], width,
               label=col_labels[j])
    ax.set_xticks(range(n_rows))
    ax.set_xticklabels(row_labels)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1.0, label=baseline_label)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    # below the axes: tall bars fill any corner inside them, and beside them the figure gets
    # too wide for a phone
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False,
              ncols=min(3, n_cols + (baseline_label is not None)))
    return _finish(fig, title, ax)
