"""A seeded corpus of 80s shred licks in E minor, and a tokenizer that turns them into integers.

A solo is a list of :class:`Note` events. Each event is a pitch (a MIDI number, ``None`` for a rest)
and a length in *ticks*, where one tick is a sixteenth note. The tokenizer (:class:`Vocab`) maps every
(pitch, length) pair to one token, so a solo becomes a list of integers that a sequence model can
learn from::

    >>> from proximal.helpers.licks import VOCAB, make_corpus
    >>> solos = make_corpus(n_solos=2, seed=0)
    >>> ids = VOCAB.encode(solos[0])
    >>> VOCAB.decode(ids) == solos[0]
    True

The lick generators imitate what 80s shredders played: pentatonic runs, minor-scale runs in
sequences of four, three-notes-per-string runs in sixes, pedal-point licks, tapped arpeggios and
repeated motifs. The module also measures *structure* in a solo (notes in key, repeated n-grams,
phrase lengths), so that a generated solo can be compared with the corpus.

Nothing here needs torch: tokens are plain ``int`` lists and windows are NumPy arrays.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "DURATIONS",
    "E_HARMONIC_MINOR",
    "E_MINOR",
    "E_MINOR_PENTATONIC",
    "HIGH",
    "KEY_PITCH_CLASSES",
    "LICKS",
    "LOW",
    "Note",
    "START",
    "TICKS_PER_BAR",
    "VOCAB",
    "Vocab",
    "corpus_ids",
    "in_key_share",
    "make_corpus",
    "make_solo",
    "note_name",
    "phrase_lengths",
    "repeated_ngram_share",
    "structure_report",
    "windows",
]

#: Lowest and highest pitch in the vocabulary (MIDI numbers): E3 to E6, three octaves of lead guitar.
LOW, HIGH = 52, 88
#: Allowed lengths in ticks (one tick = one sixteenth note) and their names as note values.
DURATIONS: dict[int, str] = {1: "16", 2: "8", 4: "4", 8: "2"}
#: A 4/4 bar has sixteen sixteenth notes.
TICKS_PER_BAR = 16

#: Pitch classes (0 = C, 4 = E, ...) of the scales the licks use.
E_MINOR = frozenset({4, 6, 7, 9, 11, 0, 2})  # E F# G A B C D
E_MINOR_PENTATONIC = frozenset({4, 7, 9, 11, 2})  # E G A B D
E_HARMONIC_MINOR = frozenset({4, 6, 7, 9, 11, 0, 3})  # E F# G A B C D#
#: What counts as "in key" for the structure metrics: E minor plus D#, the leading tone of
#: harmonic minor that neoclassical shredders love. 8 of the 12 pitch classes.
KEY_PITCH_CLASSES = E_MINOR | E_HARMONIC_MINOR

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
START = "<start>"


class Note(NamedTuple):
    """One event of a solo: a MIDI ``pitch`` (``None`` for a rest) held for ``ticks`` sixteenths."""

    pitch: int | None
    ticks: int

    @property
    def is_rest(self) -> bool:
        return self.pitch is None


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI number: ``note_name(64) == "E4"``, ``note_name(61) == "C#4"``."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


class Vocab:
    """The tokenizer: one token per (pitch, length) pair, one per rest length, and ``<start>``.

    Token names read like sheet music: ``"E4/16"`` is a sixteenth-note E4, ``"B5/2"`` a half-note
    B5 and ``"rest/8"`` an eighth-note rest. Token ``0`` is ``<start>``, which begins every solo.
    """

    def __init__(self, low: int = LOW, high: int = HIGH, durations: Iterable[int] = tuple(DURATIONS)) -> None:
        self.low, self.high = low, high
        self.durations = tuple(durations)
        events: list[Note | None] = [None]  # <start>
        events += [Note(None, t) for t in self.durations]
        events += [Note(p, t) for p in range(low, high + 1) for t in self.durations]
        self._events = events
        self.itos: list[str] = [START] + [self.token_name(e) for e in events[1:] if e is not None]
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        self._index: dict[Note, int] = {e: i for i, e in enumerate(events) if e is not None}
        self.start_id = 0

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return (
            f"Vocab({len(self)} tokens: {START}, {len(self.durations)} rests, "
            f"{self.high - self.low + 1} pitches {note_name(self.low)}..{note_name(self.high)} "
            f"x {len(self.durations)} lengths)"
        )

    @staticmethod
    def token_name(event: Note) -> str:
        """The readable name of an event, e.g. ``"E4/16"`` or ``"rest/4"``."""
        value = DURATIONS.get(event.ticks, f"{event.ticks}t")
        return f"rest/{value}" if event.pitch is None else f"{note_name(event.pitch)}/{value}"

    def encode(self, events: Iterable[Note], start: bool = True) -> list[int]:
        """Token ids of ``events``, preceded by ``<start>`` unless ``start=False``.

        Raises ``KeyError`` for an event outside the vocabulary (pitch out of range, odd length).
        """
        ids = [self.start_id] if start else []
        for event in events:
            key = Note(event[0], int(event[1]))
            if key not in self._index:
                raise KeyError(f"{key} is not in the vocabulary ({self!r})")
            ids.append(self._index[key])
        return ids

    def decode(self, ids: Iterable[int]) -> list[Note]:
        """The events of a list of token ids; ``<start>`` tokens are dropped."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise IndexError(f"token id {i} is outside the vocabulary (0..{len(self) - 1})")
            event = self._events[i]
            if event is not None:
                out.append(event)
        return out

    def names(self, ids: Iterable[int]) -> list[str]:
        """The token names of ``ids``: handy for printing a sequence."""
        return [self.itos[int(i)] for i in ids]


#: The vocabulary every notebook uses: 153 tokens.
VOCAB = Vocab()


# --------------------------------------------------------------------------- scales and licks


def scale(pitch_classes: Iterable[int], low: int = LOW, high: int = HIGH) -> list[int]:
    """All MIDI pitches from ``low`` to ``high`` whose pitch class is in ``pitch_classes``, ascending."""
    pcs = set(pitch_classes)
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def _ending(rng: random.Random, pitch: int) -> list[Note]:
    """A held note (quarter or half, the shredder's vibrato) that closes a lick."""
    return [Note(pitch, rng.choice((4, 4, 8)))]


def _nearest_in(pitches: Sequence[int], target: int) -> int:
    return min(pitches, key=lambda p: (abs(p - target), p))


def pentatonic_run(rng: random.Random) -> list[Note]:
    """A fast E minor pentatonic run, straight or in groups of three, up or down, then a held note."""
    sc = scale(E_MINOR_PENTATONIC, LOW, 84)
    length = rng.choice((8, 10, 12))
    grouped = rng.random() < 0.5
    span = length // 3 + 2 if grouped else length
    up = rng.random() < 0.5
    start = rng.randrange(0, len(sc) - span - 1)
    if grouped:  # 1 2 3, 2 3 4, 3 4 5, ...
        idx = [start + g + k for g in range(length // 3) for k in range(3)]
    else:
        idx = [start + k for k in range(length)]
    if not up:
        top = max(idx)
        idx = [top - (i - start) for i in idx]
    notes = [Note(sc[i], 1) for i in idx]
    last = idx[-1] + (1 if up else -1)
    return notes + _ending(rng, sc[max(0, min(last, len(sc) - 1))])


def minor_run(rng: random.Random) -> list[Note]:
    """A natural- or harmonic-minor run in fours (1234 2345 ...), usually descending, then a held note."""
    pcs = E_HARMONIC_MINOR if rng.random() < 0.4 else E_MINOR
    sc = scale(pcs, LOW, HIGH)
    groups = rng.choice((3, 4, 5))
    down = rng.random() < 0.7
    start = rng.randrange(0, len(sc) - groups - 4)
    idx = [start + g + k for g in range(groups) for k in range(4)]
    if down:
        top = max(idx)
        idx = [top - (i - start) for i in idx]
    notes = [Note(sc[i], 1) for i in idx]
    root = _nearest_in(scale({4}, LOW, HIGH), sc[idx[-1]])
    return notes + _ending(rng, root)


def three_per_string(rng: random.Random) -> list[Note]:
    """A three-notes-per-string run in sixes: two strings' worth of notes, then shift by one string."""
    sc = scale(E_MINOR, LOW, HIGH)
    shifts = rng.choice((2, 3))
    start = rng.randrange(0, len(sc) - 6 - 3 * shifts)
    idx = [start + 3 * s + k for s in range(shifts + 1) for k in range(6)]
    if rng.random() < 0.3:  # descending version
        top = max(idx)
        idx = [top - (i - start) for i in idx]
    notes = [Note(sc[i], 1) for i in idx]
    return notes + _ending(rng, sc[idx[-1]])


def pedal_point(rng: random.Random) -> list[Note]:
    """A pedal-point lick: a fixed pedal note alternating with a scale line that walks away from it."""
    sc = scale(E_MINOR, 59, HIGH)
    pedal = rng.choice([p for p in sc if p % 12 in (4, 11) and 64 <= p <= 76])
    above = rng.random() < 0.5
    steps = rng.choice((4, 6, 8))
    i0 = sc.index(pedal)
    direction = 1 if above else -1
    line = [sc[i0 + direction * (k + 1)] for k in range(steps) if 0 <= i0 + direction * (k + 1) < len(sc)]
    if rng.random() < 0.5:  # walk out and back
        line = line + line[-2::-1]
    notes = [Note(p, 1) for m in line for p in (m, pedal)]
    return notes + _ending(rng, pedal)


_CHORDS = {  # triads of the key: root pitch class and the three chord tones
    "Em": (4, 7, 11),
    "C": (0, 4, 7),
    "D": (2, 6, 9),
    "Am": (9, 0, 4),
    "G": (7, 11, 2),
    "B": (11, 3, 6),
}
_PROGRESSIONS = (
    ("Em", "C", "D", "Em"),
    ("Am", "Em", "B", "Em"),
    ("Em", "G", "D", "C"),
    ("Em", "Am", "B", "Em"),
)


def tapped_arpeggio(rng: random.Random) -> list[Note]:
    """Van Halen-style tapping: tap high, pull off low, hammer middle, over a chord progression."""
    progression = rng.choice(_PROGRESSIONS)[: rng.choice((2, 4))]
    floor = rng.choice((62, 64, 67))
    notes: list[Note] = []
    repeats = rng.choice((2, 4))
    for name in progression:
        tones = scale(_CHORDS[name], floor, HIGH)
        low, mid = tones[0], tones[1]
        tap = _nearest_in([p for p in tones if p >= low + 9], low + 12)
        notes += [Note(p, 1) for _ in range(repeats) for p in (tap, low, mid)]
    return notes + _ending(rng, _nearest_in(scale({4}, LOW, HIGH), notes[-1].pitch or 64))


def repeated_motif(rng: random.Random) -> list[Note]:
    """A short pentatonic motif (four or six notes) repeated three or four times: the classic shred loop."""
    sc = scale(E_MINOR_PENTATONIC, 59, HIGH)
    size = rng.choice((4, 6))
    i = rng.randrange(2, len(sc) - 3)
    shapes: dict[int, list[tuple[int, ...]]] = {
        4: [(2, 1, 0, 1), (0, 1, 2, 1), (2, 0, 1, -1)],
        6: [(2, 1, 0, 1, 0, -1), (0, 1, 2, 1, 0, -1), (2, 1, 0, 2, 1, 0)],
    }
    motif = [sc[max(0, min(i + d, len(sc) - 1))] for d in rng.choice(shapes[size])]
    notes = [Note(p, 1) for _ in range(rng.choice((3, 4))) for p in motif]
    return notes + _ending(rng, motif[0])


#: The lick generators and how often a solo uses each.
LICKS: dict[str, tuple[Callable[[random.Random], list[Note]], float]] = {
    "pentatonic run": (pentatonic_run, 3.0),
    "minor run": (minor_run, 2.0),
    "three per string": (three_per_string, 1.5),
    "pedal point": (pedal_point, 1.5),
    "tapped arpeggio": (tapped_arpeggio, 1.0),
    "repeated motif": (repeated_motif, 2.0),
}


def make_solo(rng: random.Random, n_licks: int = 6) -> list[Note]:
    """A solo of ``n_licks`` licks drawn from :data:`LICKS`, each followed by a short rest."""
    names = list(LICKS)
    weights = [LICKS[n][1] for n in names]
    solo: list[Note] = []
    for _ in range(n_licks):
        generate = LICKS[rng.choices(names, weights)[0]][0]
        solo += generate(rng)
        solo.append(Note(None, rng.choice((2, 4))))
    return solo


def make_corpus(n_solos: int = 200, licks_per_solo: int = 6, seed: int = 0) -> list[list[Note]]:
    """``n_solos`` solos generated from ``seed``: the same seed always gives the same corpus."""
    rng = random.Random(seed)
    return [make_solo(rng, licks_per_solo) for _ in range(n_solos)]


def corpus_ids(solos: Iterable[Sequence[Note]], vocab: Vocab = VOCAB) -> list[int]:
    """All solos encoded and concatenated into one stream, each starting with ``<start>``."""
    ids: list[int] = []
    for solo in solos:
        ids += vocab.encode(solo)
    return ids


def windows(ids: Sequence[int], length: int, stride: int | None = None) -> np.ndarray:
    """Cut a token stream into overlapping windows of ``length + 1`` tokens (inputs plus next tokens).

    Row ``r`` is ``ids[r*stride : r*stride + length + 1]``; use ``w[:, :-1]`` as the input and
    ``w[:, 1:]`` as the target of a next-token model. ``stride`` defaults to ``length``.
    Returns an ``int64`` array of shape ``(n_windows, length + 1)``.
    """
    stride = stride or length
    arr = np.asarray(ids, dtype=np.int64)
    n = (len(arr) - length - 1) // stride + 1
    if n <= 0:
        return np.empty((0, length + 1), dtype=np.int64)
    rows = np.arange(n)[:, None] * stride + np.arange(length + 1)[None, :]
    return arr[rows]


# --------------------------------------------------------------------------- structure metrics


def _pitches(events: Iterable[Note]) -> list[int]:
    return [e.pitch for e in events if e.pitch is not None]


def in_key_share(events: Iterable[Note], pitch_classes: Iterable[int] = KEY_PITCH_CLASSES) -> float:
    """Share of notes (rests ignored) whose pitch class is in the key; ``nan`` if there are no notes.

    A uniformly random pitch lands in :data:`KEY_PITCH_CLASSES` 8 times out of 12 (0.67).
    """
    pcs = set(pitch_classes)
    pitches = _pitches(events)
    if not pitches:
        return math.nan
    return sum(p % 12 in pcs for p in pitches) / len(pitches)


def repeated_ngram_share(items: Sequence[Hashable], n: int = 4) -> float:
    """Share of the ``n``-grams of ``items`` that occur more than once in it (0 = no repetition).

    ``repeated_ngram_share("abcabc", 3) == 0.5``: of the four 3-grams abc, bca, cab, abc, the two
    ``abc`` repeat. Pass a pitch list to find repeated motifs. ``nan`` if there is no ``n``-gram.
    """
    grams = [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]
    if not grams:
        return math.nan
    counts = Counter(grams)
    return sum(counts[g] > 1 for g in grams) / len(grams)


def phrase_lengths(events: Iterable[Note]) -> list[int]:
    """Number of notes in each phrase, where rests separate phrases (a phrase has at least one note)."""
    lengths, current = [], 0
    for e in events:
        if e.pitch is None:
            if current:
                lengths.append(current)
            current = 0
        else:
            current += 1
    if current:
        lengths.append(current)
    return lengths


def structure_report(events: Sequence[Note], n: int = 4) -> dict[str, float]:
    """The structure metrics of a solo in one dict (for a table comparing models and temperatures).

    Keys: ``in_key`` (share of notes in key), ``repeated_ngrams`` (share of pitch ``n``-grams that
    repeat), ``mean_phrase`` (mean notes per phrase), ``long_notes`` (share of notes held a quarter
    or longer: phrase endings), ``mean_leap`` (mean absolute interval between notes, in semitones).
    """
    pitches = _pitches(events)
    phrases = phrase_lengths(events)
    notes = [e for e in events if e.pitch is not None]
    leaps = [abs(b - a) for a, b in zip(pitches, pitches[1:], strict=False)]
    return {
        "in_key": in_key_share(events),
        "repeated_ngrams": repeated_ngram_share(pitches, n),
        "mean_phrase": float(np.mean(phrases)) if phrases else math.nan,
        "long_notes": sum(e.ticks >= 4 for e in notes) / len(notes) if notes else math.nan,
        "mean_leap": float(np.mean(leaps)) if leaps else math.nan,
    }
