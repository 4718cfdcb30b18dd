"""Tests for proximal.helpers.text: the generated lyric corpus and the character tokenizer."""

from __future__ import annotations

import pytest

from proximal.helpers.text import ALPHABET, CHARS, CharVocab, make_text


def test_same_seed_gives_the_same_text_and_other_seeds_differ():
    """Is the corpus a function of its seed alone?"""
    assert make_text(5, seed=3) == make_text(5, seed=3)
    assert make_text(5, seed=3) != make_text(5, seed=4)


def test_verses_have_four_lines_and_are_separated_by_blank_lines():
    """Does make_text write n verses of four non-empty lines each?"""
    verses = make_text(7, seed=1).split("\n\n")
    assert len(verses) == 7
    for verse in verses:
        lines = verse.strip("\n").split("\n")
        assert len(lines) == 4 and all(lines)


def test_every_character_is_in_the_alphabet_and_round_trips():
    """Can every generated character be encoded, and does decoding give the text back?"""
    text = make_text(50, seed=0)
    assert set(text) <= set(ALPHABET)
    ids = CHARS.encode(text)
    assert min(ids) >= 0 and max(ids) < len(CHARS)
    assert CHARS.decode(ids) == text


def test_the_corpus_is_big_enough_to_train_on_and_uses_most_letters():
    """Does a default corpus give thousands of characters over most of the alphabet?"""
    text = make_text()
    assert len(text) > 5000
    assert len(set(text)) >= 25


def test_unknown_characters_and_repeated_alphabets_are_refused():
    """Does the tokenizer name a character it cannot encode, and refuse an alphabet with repeats?"""
    with pytest.raises(KeyError, match="'Q'"):
        CHARS.encode("Queen")
    with pytest.raises(ValueError):
        CharVocab("abca")
    with pytest.raises(ValueError):
        make_text(-1)


def test_decode_accepts_tensors_and_arrays():
    """Does decode take any iterable of integer-like ids (a tensor, a NumPy array)?"""
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    ids = CHARS.encode("rock on")
    assert CHARS.decode(torch.tensor(ids)) == "rock on"
    assert CHARS.decode(np.array(ids)) == "rock on"
    assert repr(CHARS).startswith("CharVocab(33 characters")
