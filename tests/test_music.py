"""Tests for proximal.helpers.music: tab text, piano roll, Karplus-Strong synthesis, WAV writing, the player."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from proximal.helpers import music
from proximal.helpers.licks import VOCAB, Note, make_corpus


def dominant_hz(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    hz = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    spectrum[hz < 30] = 0  # ignore any DC drift
    return float(hz[np.argmax(spectrum)])


def parse_tab(tab: str) -> list[int]:
    """Read the pitches back from tab text (column by column, one note per column)."""
    pitches: list[tuple[int, int]] = []  # (global column, pitch)
    offset = 0
    for system in tab.split("\n\n"):
        lines = system.split("\n")
        assert len(lines) == 6
        for row, line in enumerate(lines):
            open_pitch = music.STANDARD_TUNING[5 - row]
            col = 0
            while col < len(line):
                if line[col].isdigit():
                    end = col
                    while end < len(line) and line[end].isdigit():
                        end += 1
                    pitches.append((offset + col, open_pitch + int(line[col:end])))
                    col = end
                else:
                    col += 1
        offset += len(lines[0]) + 1
    return [p for _, p in sorted(pitches)]


def test_midi_to_hz():
    assert music.midi_to_hz(69) == pytest.approx(440.0)
    assert music.midi_to_hz(81) == pytest.approx(880.0)
    assert music.midi_to_hz(64) == pytest.approx(329.63, abs=0.01)


def test_fingering_is_playable_and_in_tune():
    solo = make_corpus(3, seed=2)[0]
    pitches = [n.pitch for n in solo]
    places = music.fingering(pitches)
    assert len(places) == len(pitches)
    for p, place in zip(pitches, places, strict=True):
        if p is None:
            assert place is None
        else:
            string, fret = place
            assert 0 <= fret <= music.FRETS
            assert music.STANDARD_TUNING[string] + fret == p
    with pytest.raises(ValueError):
        music.fingering([20])


def test_fingering_stays_in_position_for_a_scale():
    # Two octaves of E minor pentatonic fit in one box: a guitarist plays them without shifting.
    pitches = [52, 55, 57, 59, 62, 64, 67, 69, 71, 74, 76, 79]
    frets = [f for _, f in music.fingering(pitches) if f > 0]
    assert max(frets) - min(frets) <= 4


def test_tab_text_round_trips_pitches():
    solo = make_corpus(2, seed=1)[1]
    tab = music.to_tab(solo, width=80)
    lines = tab.split("\n")
    assert all(len(line) <= 80 for line in lines)
    assert [line[:2] for line in lines[:6]] == ["e|", "B|", "G|", "D|", "A|", "E|"]
    assert parse_tab(tab) == [n.pitch for n in solo if n.pitch is not None]
    assert "~" in tab  # held notes get vibrato marks


def test_tab_accepts_token_ids_and_tensors():
    solo = [Note(64, 1), Note(67, 1), Note(None, 4), Note(71, 4)]
    ids = VOCAB.encode(solo)
    assert music.to_tab(ids) == music.to_tab(solo)
    torch = pytest.importorskip("torch")
    assert music.to_tab(torch.tensor(ids)) == music.to_tab(solo)
    assert music.to_tab([]) == ""


def test_pluck_is_in_tune_even_high_up():
    rng = np.random.default_rng(0)
    for pitch in (52, 64, 69, 81, 88):
        hz = music.midi_to_hz(pitch)
        x = music.pluck(hz, 1.0, 22_050, rng)
        assert len(x) == 22_050
        assert abs(dominant_hz(x, 22_050) - hz) / hz < 0.01, pitch


def test_synthesize_length_range_and_determinism():
    solo = [Note(64, 4), Note(None, 4), Note(69, 8)]  # 16 ticks = one bar = 4 beats
    a = music.synthesize(solo, bpm=120, sample_rate=8000)
    assert a.dtype == np.float32 and a.ndim == 1
    assert abs(len(a) - 2.0 * 8000) <= 0.02 * 8000  # 4 beats at 120 bpm = 2 s (+ a short release)
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0
    assert np.max(np.abs(a)) > 0.5
    np.testing.assert_array_equal(a, music.synthesize(solo, bpm=120, sample_rate=8000))
    # the rest is (nearly) silent
    rest = a[int(0.55 * 8000) : int(0.95 * 8000)]
    assert np.max(np.abs(rest)) < 0.01
    # the A4 at the end is an A4
    assert abs(dominant_hz(a[8000:], 8000) - 440.0) < 5


def test_clean_and_driven_tones_differ():
    solo = [Note(64, 4)]
    clean = music.synthesize(solo, drive=0)
    driven = music.synthesize(solo, drive=4)
    assert clean.shape == driven.shape
    assert not np.allclose(clean, driven)


def test_write_wav_round_trip(tmp_path):
    samples = music.synthesize([Note(64, 2), Note(67, 2)], sample_rate=11_025)
    path = music.write_wav(tmp_path / "lick.wav", samples, 11_025)
    with wave.open(str(path), "rb") as f:
        assert f.getnchannels() == 1
        assert f.getsampwidth() == 2
        assert f.getframerate() == 11_025
        assert f.getnframes() == len(samples)
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    np.testing.assert_allclose(data / 32767, samples, atol=1e-4)


def test_write_wav_clips(tmp_path):
    path = music.write_wav(tmp_path / "loud.wav", np.array([2.0, -2.0, 0.0]), 8000)
    with wave.open(str(path), "rb") as f:
        data = np.frombuffer(f.readframes(3), dtype="<i2")
    assert data.tolist() == [32767, -32767, 0]


def test_audio_player_embeds_a_wav():
    from IPython.display import Audio

    player = music.audio_player([Note(64, 2), Note(None, 2)], sample_rate=8000)
    assert isinstance(player, Audio)
    assert player.data[:4] == b"RIFF" and player.data[8:12] == b"WAVE"
    raw = music.audio_player(np.zeros(100, dtype=np.float32), sample_rate=8000)
    assert raw.data[:4] == b"RIFF"


def test_piano_roll_draws_one_patch_per_note(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    solo = [Note(64, 1), Note(65, 1), Note(None, 2), Note(71, 4)]
    ax = music.plot_piano_roll(solo, title="test")
    try:
        rects = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
        assert len(rects) == 3
        colours = [p.get_facecolor() for p in rects]
        assert colours[0] != colours[1], "F (out of key) is drawn in another colour"
        assert ax.get_title() == "test"
        assert ax.get_xlim()[1] == pytest.approx(8 / 16)
        ax.figure.savefig(tmp_path / "roll.png")
    finally:
        plt.close(ax.figure)
