"""A small generated text corpus (80s hard-rock lines) and a character tokenizer, for next-character models.

Module 06 trains its sequence models on guitar licks (:mod:`proximal.helpers.licks`) and on text. The
text is generated here from a small seeded grammar, so nothing is downloaded and every run sees the same
characters::

    >>> from proximal.helpers.text import CHARS, make_text
    >>> text = make_text(3, seed=0)
    >>> CHARS.decode(CHARS.encode(text)) == text
    True

The lines rhyme in pairs and some words recur within a verse, which gives a next-character model
something to learn beyond spelling. Nothing here needs torch: ids are plain ``int`` lists (cut them into
training windows with :func:`proximal.helpers.licks.windows`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

__all__ = ["ALPHABET", "CHARS", "CharVocab", "make_line", "make_text"]

ALPHABET = "\n !',-.abcdefghijklmnopqrstuvwxyz"  # every character make_text can write

_SUBJECTS = ("the night", "my guitar", "the city", "a neon sign", "the radio", "your heart", "the thunder")
_VERBS = ("is calling", "is burning", "keeps screaming", "won't stop", "is rolling", "comes alive")
_PLACES = (
    "on the highway",
    "under the lights",
    "in the rain",
    "down the boulevard",
    "across the stage",
    "through the smoke",
)
_RHYMES = (  # pairs of line endings that rhyme
    ("tonight", "light"),
    ("fire", "higher"),
    ("the road", "explode"),
    ("the sky", "we fly"),
    ("the street", "the beat"),
    ("alone", "the unknown"),
)
_CALLS = ("oh", "yeah", "whoa", "hey")


def make_line(rng: random.Random, ending: str) -> str:
    """One lyric line that ends with `ending` (no newline)."""
    pattern = rng.randrange(3)
    if pattern == 0:
        line = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {ending}"
    elif pattern == 1:
        line = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_PLACES)}, {ending}"
    else:
        call = rng.choice(_CALLS)
        line = f"{call}, {call}, {rng.choice(_PLACES)} {ending}"
    return line + rng.choice((",", ".", "!", ""))


def make_text(n_verses: int = 40, seed: int = 0) -> str:
    """`n_verses` verses of four lines (rhyming a a b b), separated by blank lines; the same seed, the same text."""
    if n_verses < 0:
        raise ValueError(f"n_verses must be >= 0, got {n_verses}")
    rng = random.Random(seed)
    verses = []
    for _ in range(n_verses):
        first, second = rng.sample(_RHYMES, 2)
        lines = [make_line(rng, first[0]), make_line(rng, first[1])]
        lines += [make_line(rng, second[0]), make_line(rng, second[1])]
        verses.append("\n".join(lines) + "\n")
    return "\n".join(verses)


class CharVocab:
    """A character tokenizer: one token per character of `alphabet`, in that order."""

    def __init__(self, alphabet: str = ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError("the alphabet has a repeated character")
        self.itos: list[str] = list(alphabet)
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(alphabet)}

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters: {''.join(self.itos)!r})"

    def encode(self, text: str) -> list[int]:
        """Text -> token ids; a character outside the alphabet raises KeyError naming it."""
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as error:
            raise KeyError(f"character {error.args[0]!r} is not in the alphabet") from None

    def decode(self, ids: Iterable[int] | Sequence[int]) -> str:
        """Token ids (ints, or a 1-d tensor or array) -> text."""
        return "".join(self.itos[int(i)] for i in ids)


CHARS = CharVocab()
