"""rnnlib.text: tokenising, the vocabulary, one-hot vectors (against torch's one_hot), padding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlib.text import EOS, UNK, Vocabulary, one_hot, pad_sequences, tokenize


def test_tokenize_words_chars_and_lowercase():
    text = "Cats average 15 hours of sleep a day. Don't they?"
    assert tokenize(text) == ["Cats", "average", "15", "hours", "of", "sleep", "a", "day", ".",
                              "Don't", "they", "?"]
    assert tokenize(text, lowercase=True)[0] == "cats"
    assert tokenize("Ab c", level="char") == ["A", "b", " ", "c"]
    assert tokenize("Ab c", level="char", lowercase=True) == ["a", "b", " ", "c"]


def test_course_character_vocabulary():
    """newline = 0, a..z = 1..26, as the course's char_to_ix."""
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    vocab = Vocabulary.build(["zebra", alphabet[::-1]], level="char", eos="\n", unk=None)
    assert len(vocab) == 27
    assert vocab.char_to_ix == {"\n": 0, **{c: i + 1 for i, c in enumerate(alphabet)}}
    assert vocab.ix_to_char[0] == "\n" and vocab.ix_to_char[26] == "z"
    assert vocab.encode("zebra") == [26, 5, 2, 18, 1]
    assert vocab.encode("zebra", add_eos=True)[-1] == 0
    assert vocab.decode([26, 5, 2, 18, 1, 0, 3]) == "zebra"  # stops at <EOS>
    assert vocab.decode([1, 0, 3], stop_at_eos=False) == "a\nc"
    with pytest.raises(ValueError, match=r"token '!' at position 3 is not in the vocabulary, "
                                         r"which has no unk token"):
        vocab.encode("abc!")


def test_word_vocabulary_with_eos_unk_and_limits():
    corpus = ["The cat sat.", "The dog sat on the mat.", "A cat!"]
    vocab = Vocabulary.build(corpus, level="word", lowercase=True)
    assert vocab.itos[:2] == [EOS, UNK] and vocab.eos_index == 0 and vocab.unk_index == 1
    assert vocab.itos[2:] == sorted(vocab.itos[2:])
    ids = vocab.encode("The cat sat on a zebra.", add_eos=True)
    assert ids[-1] == 0 and ids[-2] == vocab.stoi["."]
    assert ids[5] == vocab.unk_index  # "zebra" is unknown
    assert vocab.decode(ids) == f"the cat sat on a {UNK} ."
    # The most frequent tokens survive max_size (specials count), ties alphabetically:
    # the (3), then ".", cat, sat (2 each) -> the, ".", cat.
    small = Vocabulary.build(corpus, level="word", lowercase=True, max_size=5)
    assert small.itos == [EOS, UNK, ".", "cat", "the"]
    assert "the" in small and "mat" not in small
    assert small.encode(["mat"]) == [1]
    rare = Vocabulary.build(corpus, level="word", lowercase=True, min_count=2)
    assert set(rare.itos[2:]) == {"the", "cat", "sat", "."}
    with pytest.raises(ValueError, match=r"drop tokens, which then need unk"):
        Vocabulary.build(corpus, level="word", unk=None, min_count=2)


def test_vocabulary_keeps_given_order_and_checks_arguments():
    vocab = Vocabulary(["b", "a", "b", "<EOS>"], level="char")
    assert vocab.itos == [EOS, UNK, "b", "a"]
    assert vocab.encode("abc") == [3, 2, 1]
    with pytest.raises(ValueError, match=r"level must be 'char' or 'word', got 'byte'"):
        Vocabulary("ab", level="byte")
    with pytest.raises(ValueError, match=r"indices\[1\] = 9, expected an integer in \[0, 4\)"):
        vocab.decode([2, 9])
    with pytest.raises(ValueError, match=r"texts must be a list of strings, not one str"):
        Vocabulary.build("hello")


@pytest.mark.parametrize("shape", [(7,), (3, 5), (1, 1)])
def test_one_hot_matches_torch(rng, shape):
    n = 6
    idx = rng.integers(0, n, size=shape)
    ref = F.one_hot(torch.tensor(idx), n).numpy()  # (..., n)
    out = one_hot(idx, n)
    assert out.dtype == np.float64 and out.shape == (n,) + shape
    np.testing.assert_array_equal(out, np.moveaxis(ref, -1, 0))
    if len(shape) == 1:  # a list gives the same as an array
        np.testing.assert_array_equal(one_hot(idx.tolist(), n), out)


def test_one_hot_none_is_a_zero_vector_and_errors_are_clear():
    out = one_hot([None, 2, 0], 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"index 3 at position \(1,\) is out of range \[0, 3\)"):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError, match=r"indices has dtype float64"):
        one_hot(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match=r"indices\[0\] = 'a', expected an integer or None"):
        one_hot(["a"], 3)


def test_pad_sequences_gives_indices_and_mask():
    idx, mask = pad_sequences([[3, 1], [4], [1, 5, 9]], value=-1)
    np.testing.assert_array_equal(idx, [[3, 1, -1], [4, -1, -1], [1, 5, 9]])
    np.testing.assert_array_equal(mask, [[1, 1, 0], [1, 0, 0], [1, 1, 1]])
    assert mask.dtype == bool and idx.dtype == np.int64
