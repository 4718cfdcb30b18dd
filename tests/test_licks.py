"""Tests for proximal.helpers.licks: the shred-lick corpus, the tokenizer and the structure metrics."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from proximal.helpers import licks
from proximal.helpers.licks import (
    DURATIONS,
    HIGH,
    KEY_PITCH_CLASSES,
    LICKS,
    LOW,
    VOCAB,
    Note,
    Vocab,
    corpus_ids,
    in_key_share,
    make_corpus,
    note_name,
    phrase_lengths,
    repeated_ngram_share,
    structure_report,
    windows,
)


def test_note_names():
    assert note_name(64) == "E4"
    assert note_name(60) == "C4"
    assert note_name(63) == "D#4"
    assert note_name(88) == "E6"


def test_vocab_layout():
    v = Vocab()
    assert len(v) == 1 + len(DURATIONS) + (HIGH - LOW + 1) * len(DURATIONS) == 153
    assert v.itos[0] == "<start>" and v.start_id == 0
    assert len(set(v.itos)) == len(v)
    assert all(v.stoi[s] == i for i, s in enumerate(v.itos))
    assert "E4/16" in v.stoi and "rest/8" in v.stoi and "B5/2" in v.stoi
    assert "153" not in repr(v) or "tokens" in repr(v)


def test_encode_decode_round_trip():
    solo = [Note(64, 1), Note(67, 1), Note(None, 2), Note(88, 8), Note(52, 4)]
    ids = VOCAB.encode(solo)
    assert ids[0] == VOCAB.start_id
    assert all(type(i) is int for i in ids)
    assert VOCAB.decode(ids) == solo
    assert VOCAB.names(ids) == ["<start>", "E4/16", "G4/16", "rest/8", "E6/2", "E3/4"]
    assert VOCAB.encode(solo, start=False) == ids[1:]


def test_encode_accepts_plain_tuples_and_rejects_unknown_events():
    assert VOCAB.encode([(64, 1)], start=False) == VOCAB.encode([Note(64, 1)], start=False)
    with pytest.raises(KeyError):
        VOCAB.encode([Note(40, 1)])  # below the range
    with pytest.raises(KeyError):
        VOCAB.encode([Note(64, 3)])  # a dotted eighth is not a token
    with pytest.raises(IndexError):
        VOCAB.decode([len(VOCAB)])


@pytest.mark.parametrize("name", list(LICKS))
@pytest.mark.parametrize("seed", range(20))
def test_every_lick_is_in_vocabulary_and_in_key(name, seed):
    generate = LICKS[name][0]
    notes = generate(random.Random(seed))
    assert len(notes) >= 6
    assert all(type(n) is Note for n in notes)
    assert all(n.pitch is not None and LOW <= n.pitch <= HIGH for n in notes)
    assert all(n.ticks in DURATIONS for n in notes)
    assert notes[-1].ticks >= 4, "a lick ends on a held note"
    assert in_key_share(notes) == 1.0
    VOCAB.encode(notes)  # raises if any event is not a token


def test_corpus_is_deterministic_per_seed():
    a = make_corpus(5, seed=3)
    b = make_corpus(5, seed=3)
    c = make_corpus(5, seed=4)
    assert a == b
    assert a != c
    assert len(a) == 5
    # every solo alternates licks and rests: it ends with a rest
    assert all(solo[-1].pitch is None for solo in a)


def test_corpus_uses_every_lick_type():
    solos = make_corpus(30, seed=0)
    ids = corpus_ids(solos)
    assert ids.count(VOCAB.start_id) == 30
    # many different tokens are used, but far fewer than the whole vocabulary
    assert 40 <= len(set(ids)) < len(VOCAB)


def test_lick_patterns_have_their_shape():
    rng = random.Random(0)
    pedal = licks.pedal_point(rng)[:-1]
    assert len({n.pitch for n in pedal[1::2]}) == 1, "every second note of a pedal-point lick is the pedal"
    motif = licks.repeated_motif(random.Random(1))
    pitches = [n.pitch for n in motif[:-1]]
    assert repeated_ngram_share(pitches, 4) == 1.0
    tap = licks.tapped_arpeggio(random.Random(2))[:-1]
    assert len(tap) % 3 == 0
    assert all(tap[i].pitch > tap[i + 2].pitch > tap[i + 1].pitch for i in range(0, len(tap), 3))
    run = licks.three_per_string(random.Random(3))[:-1]
    assert len(run) % 6 == 0


def test_windows():
    ids = list(range(10))
    w = windows(ids, 3)
    assert w.dtype == np.int64 and w.shape == (3, 4)
    assert w.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    w2 = windows(ids, 4, stride=2)
    assert w2.tolist() == [[0, 1, 2, 3, 4], [2, 3, 4, 5, 6], [4, 5, 6, 7, 8]]
    assert windows([1, 2], 5).shape == (0, 6)


def test_in_key_share():
    assert in_key_share([Note(64, 1), Note(65, 1), Note(None, 2), Note(66, 1), Note(63, 1)]) == 0.75
    assert math.isnan(in_key_share([Note(None, 4)]))
    uniform = [Note(p, 1) for p in range(60, 72)]
    assert in_key_share(uniform) == pytest.approx(len(KEY_PITCH_CLASSES) / 12)


def test_repeated_ngram_share():
    assert repeated_ngram_share("abcabc", 3) == 0.5
    assert repeated_ngram_share([1, 2, 3, 4, 5], 2) == 0.0
    assert repeated_ngram_share([7] * 6, 3) == 1.0
    assert math.isnan(repeated_ngram_share([1, 2], 3))


def test_phrase_lengths():
    r = Note(None, 2)
    n = Note(64, 1)
    assert phrase_lengths([n, n, r, n, r, r, n, n, n]) == [2, 1, 3]
    assert phrase_lengths([r, r]) == []
    assert phrase_lengths([]) == []


def test_structure_report_separates_corpus_from_noise():
    corpus = make_corpus(20, seed=5)
    report = structure_report(corpus[0])
    assert set(report) == {"in_key", "repeated_ngrams", "mean_phrase", "long_notes", "mean_leap"}
    assert report["in_key"] == 1.0
    rng = np.random.default_rng(0)
    noise = VOCAB.decode(rng.integers(1, len(VOCAB), size=300).tolist())
    noisy = structure_report(noise)
    assert noisy["in_key"] < 0.8
    assert noisy["repeated_ngrams"] < 0.05
    assert np.mean([structure_report(s)["repeated_ngrams"] for s in corpus]) > 0.3
    assert noisy["mean_leap"] > 2 * report["mean_leap"]
