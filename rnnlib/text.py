"""Text for sequence models: tokenising, a vocabulary with <EOS> and <UNK>, one-hot vectors.

The notes build a dictionary of the corpus's tokens, give each an index, and feed the model
one-hot vectors x<t>. Two special tokens: <EOS> ends a sentence (the model learns when to stop)
and <UNK> stands for any token not in the dictionary. A character-level model needs no <UNK>
(every character is known); the course's character model writes <EOS> as a newline "\\n".

    tokenize("Cats average 15 hours of sleep a day.")
        -> ['Cats', 'average', '15', 'hours', 'of', 'sleep', 'a', 'day', '.']
    vocab = Vocabulary.build(["anna", "bob"], level="char", eos="\\n", unk=None)
        -> index 0 is "\\n", then the characters in sorted order: a=1, b=2, n=3, o=4
    vocab.encode("bob") -> [2, 4, 2];  vocab.decode([2, 4, 2, 0]) -> "bob"
    one_hot([None, 2, 4], len(vocab))  -> (5, 3): a zero column, then the one-hot columns
"""

import re
from collections import Counter

import numpy as np

EOS = "<EOS>"
UNK = "<UNK>"
LEVELS = ("char", "word")

# Words (with an inner apostrophe: "don't"), numbers, and each punctuation mark on its own.
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def _check_level(func, level):
    if level not in LEVELS:
        raise ValueError(f"{func}: level must be 'char' or 'word', got {level!r}")


def tokenize(text, level="word", lowercase=False):
    """Split ``text`` into tokens: characters (level="char") or words and punctuation ("word").

    Whitespace separates words and is dropped at word level; at character level every
    character, spaces included, is a token.
    """
    _check_level("tokenize", level)
    if not isinstance(text, str):
        raise ValueError(f"tokenize: text must be a str, got {type(text).__name__}")
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else _WORD.findall(text)


class Vocabulary:
    """A bijection between tokens and indices 0 ... len - 1.

    Index 0 is <EOS> (``eos``), index 1 is <UNK> (``unk``) unless ``unk`` is None, then the
    tokens in the order given (duplicates dropped). ``level`` says how ``encode`` splits a
    string and how ``decode`` joins tokens ("char": no separator; "word": spaces);
    ``lowercase`` makes ``encode`` lowercase strings first.

    Course-style views: ``char_to_ix`` (dict token -> index) and ``ix_to_char``
    (dict index -> token).
    """

    def __init__(self, tokens, eos=EOS, unk=UNK, level="char", lowercase=False):
        _check_level("Vocabulary", level)
        if not isinstance(eos, str) or not eos:
            raise ValueError(f"Vocabulary: eos must be a non-empty str, got {eos!r}")
        if unk is not None and (not isinstance(unk, str) or not unk or unk == eos):
            raise ValueError(f"Vocabulary: unk must be None or a str other than eos, got {unk!r}")
        if isinstance(tokens, str):
            tokens = list(tokens) if level == "char" else tokenize(tokens)
        specials = [eos] + ([unk] if unk is not None else [])
        itos = list(specials)
        for tok in dict.fromkeys(tokens):
            if not isinstance(tok, str):
                raise ValueError(f"Vocabulary: tokens must be strings, got {tok!r}")
            if tok not in specials:
                itos.append(tok)
        self.eos, self.unk, self.level, self.lowercase = eos, unk, level, lowercase
        self.itos = itos
        self.stoi = {tok: i for i, tok in enumerate(itos)}

    @classmethod
    def build(cls, texts, level="char", lowercase=False, eos=EOS, unk=UNK, max_size=None,
              min_count=1):
        """The vocabulary of a corpus (a list of strings), tokens in sorted order.

        ``min_count`` drops rarer tokens and ``max_size`` keeps only the most frequent ones
        (ties broken alphabetically); ``max_size`` counts the special tokens too. Dropped
        tokens encode as <UNK>, so they need ``unk``.
        """
        if isinstance(texts, str):
            raise ValueError("Vocabulary.build: texts must be a list of strings, not one str")
        counts = Counter()
        for text in texts:
            counts.update(tokenize(text, level, lowercase))
        kept = sorted((t for t, c in counts.items() if c >= min_count),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            n_special = 1 + (unk is not None)
            if not isinstance(max_size, int) or max_size < n_special:
                raise ValueError(
                    f"Vocabulary.build: max_size must be an integer >= {n_special} "
                    f"(the special tokens), got {max_size!r}"
                )
            kept = kept[: max_size - n_special]
        if len(kept) < len(counts) and unk is None:
            raise ValueError(
                "Vocabulary.build: min_count/max_size drop tokens, which then need unk; "
                "pass unk='<UNK>' or keep every token"
            )
        return cls(sorted(kept), eos=eos, unk=unk, level=level, lowercase=lowercase)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __repr__(self):
        head = ", ".join(map(repr, self.itos[:8]))
        return f"Vocabulary({len(self)} tokens: {head}{', ...' if len(self) > 8 else ''})"

    @property
    def eos_index(self):
        return 0

    @property
    def unk_index(self):
        return 1 if self.unk is not None else None

    @property
    def char_to_ix(self):
        return dict(self.stoi)

    @property
    def ix_to_char(self):
        return dict(enumerate(self.itos))

    def encode(self, text, add_eos=False):
        """Indices of a string (tokenised at this vocabulary's level) or of a list of tokens.

        Unknown tokens become <UNK>'s index; without ``unk`` they raise ``ValueError``.
        ``add_eos`` appends <EOS>'s index.
        """
        if isinstance(text, str):
            tokens = tokenize(text, self.level, self.lowercase)
        else:
            tokens = list(text)
        out = []
        for pos, tok in enumerate(tokens):
            i = self.stoi.get(tok, self.unk_index)
            if i is None:
                raise ValueError(
                    f"Vocabulary.encode: token {tok!r} at position {pos} is not in the "
                    f"vocabulary, which has no unk token"
                )
            out.append(i)
        if add_eos:
            out.append(self.eos_index)
        return out

    def decode(self, indices, stop_at_eos=True):
        """The text of a sequence of indices: joined without a separator at character level,
        with spaces at word level. Stops at the first <EOS> (not included) unless
        ``stop_at_eos`` is False."""
        tokens = []
        for pos, i in enumerate(indices):
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not (
                    0 <= i < len(self)):
                raise ValueError(
                    f"Vocabulary.decode: indices[{pos}] = {i!r}, expected an integer in "
                    f"[0, {len(self)})"
                )
            if i == self.eos_index and stop_at_eos:
                break
            tokens.append(self.itos[i])
        return ("" if self.level == "char" else " ").join(tokens)


def one_hot(indices, n):
    """One-hot vectors of a sequence (or a batch of sequences) of indices in [0, n).

    Arguments:
        indices  T indices (a list may hold None: a zero vector, as the course's x<1> = 0),
                 or an integer array (m, T)
        n        the number of classes (n_x, the vocabulary size)

    Returns:
        (n, T) for a sequence, or (n, m, T) for a batch: column t of example i is x<t>
        (float64). For rnn_forward with m = 1 use ``one_hot(seq, n)[:, None, :]``.
    """
    func = "one_hot"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{func}: n must be a positive integer, got {n!r}")
    if isinstance(indices, np.ndarray):
        if not np.issubdtype(indices.dtype, np.integer) or indices.ndim not in (1, 2):
            raise ValueError(
                f"{func}: indices has dtype {indices.dtype} and shape {indices.shape}, "
                f"expected integers of shape (T,) or (m, T)"
            )
        idx = indices
        present = np.ones(idx.shape, dtype=bool)
    else:
        seq = list(indices)
        for pos, i in enumerate(seq):
            if i is not None and (isinstance(i, bool) or not isinstance(i, (int, np.integer))):
                raise ValueError(f"{func}: indices[{pos}] = {i!r}, expected an integer or None")
        present = np.array([i is not None for i in seq], dtype=bool)
        idx = np.array([0 if i is None else i for i in seq], dtype=np.int64)
    bad = present & ((idx < 0) | (idx >= n))
    if bad.any():
        where = tuple(int(w) for w in np.argwhere(bad)[0])
        raise ValueError(
            f"{func}: index {idx[where]} at position {where} is out of range [0, {n})"
        )
    out = np.zeros((n,) + idx.shape)
    out[(idx,) + tuple(np.indices(idx.shape))] = present
    return out


def pad_sequences(sequences, value=0):
    """Stack sequences of different lengths into one array, padded at the end.

    Returns:
        indices  (m, T) int64, T the longest length; positions past an end hold ``value``
        mask     (m, T) bool, True where example i has a step t (for the losses' ``mask``)
    """
    seqs = [list(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequences: sequences is empty")
    T = max(len(s) for s in seqs)
    indices = np.full((len(seqs), T), value, dtype=np.int64)
    mask = np.zeros((len(seqs), T), dtype=bool)
    for i, s in enumerate(seqs):
        indices[i, : len(s)] = s
        mask[i, : len(s)] = True
    return indices, mask
