"""A real English text for language models, and minibatches cut from one long text.

    python_docs_text    the prose of the Python Language Reference and library topics that
                        CPython ships in its standard library (``pydoc_data.topics``, the text
                        ``help("class")`` prints): real English, written by people, licensed
                        under the PSF License; nothing is downloaded
    split_text          the first part for training, the rest held out (no shuffling: the
                        held-out text is text the model never read)
    sequential_batches  minibatches from one long sequence of token indices, by sequential
                        partitioning: row i of batch k+1 continues row i of batch k, so a
                        model may carry its state a<t> from one batch to the next

A language model reads one long text rather than separate examples. Cut into m streams of
equal length, each minibatch holds the next T tokens of every stream: X (m, T) the inputs
x<t>, Y (m, T) the targets y<t> = x<t+1>.
"""

import re

import numpy as np

# Typography the docs use, written in ASCII so that the character vocabulary stays small.
_ASCII = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                        "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "})
_HEADING_RULE = re.compile(r"^[*=\-~^\"+#]{3,}\s*$")
_FOOTNOTE = re.compile(r"\s*\[\d+\]")


def _paragraphs(doc):
    """The prose paragraphs of one topic: not indented (code, grammar), not a heading."""
    out = []
    for block in re.split(r"\n\s*\n", doc):
        lines = block.split("\n")
        if not lines or any(line.startswith((" ", "\t")) for line in lines):
            continue  # code examples, grammar rules, indented notes
        if len(lines) >= 2 and _HEADING_RULE.match(lines[1]):
            continue  # "Class definitions\n*****************"
        text = " ".join(line.strip() for line in lines).translate(_ASCII)
        text = _FOOTNOTE.sub("", text)
        text = re.sub(r"\s+", " ", text).strip()
        # Keep prose: a few words at least, no table ("+---+", "| a | b |", "=== ==="),
        # printable ASCII only.
        table = "+--" in text or "===" in text or text.count("|") > 2
        if len(text.split()) >= 6 and not table and text.isascii() and text.isprintable():
            out.append(text)
    return out


def python_docs_text():
    """The prose of CPython's ``pydoc_data.topics``, one paragraph a line.

    Source: the Python documentation (Language Reference and library topics) as shipped in
    the standard library's ``pydoc_data`` package of this interpreter; copyright the Python
    Software Foundation, PSF License Version 2. Code examples, grammar rules and headings are
    dropped; curly quotes and dashes are written in ASCII.

    Returns a str: paragraphs separated by "\\n", in the topics' alphabetical order (about
    166,000 characters and 35,000 words and punctuation marks on Python 3.11).
    """
    from pydoc_data.topics import topics

    paragraphs = []
    for key in sorted(topics):
        paragraphs += _paragraphs(topics[key])
    return "\n".join(dict.fromkeys(paragraphs))  # a paragraph repeated in two topics once


def split_text(tokens, held_out=0.1):
    """(train, held-out): the first ``1 - held_out`` of a sequence, and the rest."""
    if not 0 < held_out < 1:
        raise ValueError(f"split_text: held_out must be in (0, 1), got {held_out!r}")
    n = len(tokens)
    cut = int(round(n * (1 - held_out)))
    if cut < 1 or cut >= n:
        raise ValueError(f"split_text: {n} tokens are too few to split at {held_out}")
    return tokens[:cut], tokens[cut:]


def sequential_batches(ids, m, T):
    """Minibatches (X, Y) of one long sequence by sequential partitioning.

    Arguments:
        ids  1-D sequence of token indices (the whole text)
        m    the number of streams (examples per minibatch)
        T    the number of time steps per minibatch (the truncation length of BPTT)

    The text is cut into m streams of L = (len(ids) - 1) // m tokens (the last few tokens
    are dropped); batch k is X = streams[:, kT:(k+1)T], Y the same shifted by one. Only whole
    batches are returned, L // T of them.

    Returns X, Y of shape (n_batches, m, T), int64: X[k, i] continues X[k - 1, i].
    """
    func = "sequential_batches"
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{func}: ids must be a 1-D integer sequence, got dtype {ids.dtype} "
                         f"and shape {ids.shape}")
    for name, v in (("m", m), ("T", T)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{func}: {name} must be a positive integer, got {v!r}")
    L = (len(ids) - 1) // m
    n_batches = L // T
    if n_batches < 1:
        raise ValueError(f"{func}: {len(ids)} tokens make no batch of m={m} streams of T={T} "
                         f"steps (need at least m * T + 1 = {m * T + 1})")
    x = ids[: m * L].reshape(m, L)[:, : n_batches * T]
    y = ids[1: m * L + 1].reshape(m, L)[:, : n_batches * T]
    X = x.reshape(m, n_batches, T).transpose(1, 0, 2)
    Y = y.reshape(m, n_batches, T).transpose(1, 0, 2)
    return X.astype(np.int64), Y.astype(np.int64)
