"""See and hear a solo: guitar tab text, a piano-roll plot, and plucked-string audio made with NumPy.

A solo is a list of :class:`proximal.helpers.licks.Note` events (or token ids, which are decoded with
:data:`proximal.helpers.licks.VOCAB`). Three views::

    from proximal.helpers import music
    print(music.to_tab(solo))          # six lines of ASCII tab, high e on top
    music.plot_piano_roll(solo)        # matplotlib: time across, pitch up
    music.audio_player(solo)           # an audio player in JupyterLab (IPython.display.Audio)
    music.write_wav("solo.wav", music.synthesize(solo))

The sound is a Karplus-Strong plucked string: a burst of noise circulates in a delay line whose
length sets the pitch, and a two-tap average in the loop damps high harmonics, like a real string.
A little ``tanh`` overdrive and vibrato on held notes give it an 80s lead tone.
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

import numpy as np

from proximal.helpers.licks import KEY_PITCH_CLASSES, TICKS_PER_BAR, VOCAB, Note, Vocab, note_name

if TYPE_CHECKING:  # imported lazily: plotting and IPython are only needed when used
    from IPython.display import Audio
    from matplotlib.axes import Axes

__all__ = [
    "STANDARD_TUNING",
    "SAMPLE_RATE",
    "audio_player",
    "fingering",
    "midi_to_hz",
    "pluck",
    "plot_piano_roll",
    "synthesize",
    "to_events",
    "to_tab",
    "write_wav",
]

#: Open-string pitches (MIDI), low E to high e.
STANDARD_TUNING: tuple[int, ...] = (40, 45, 50, 55, 59, 64)
STRING_NAMES: tuple[str, ...] = ("E", "A", "D", "G", "B", "e")
FRETS = 24
#: Default audio sample rate: enough for a guitar, and a small file to embed in a notebook.
SAMPLE_RATE = 22_050


def to_events(solo: Iterable[Note] | Iterable[int], vocab: Vocab = VOCAB) -> list[Note]:
    """Accept a list of :class:`Note` events or of token ids (ints, or a 1-D tensor/array) and return events."""
    items: list[Note | int] = list(solo)
    if items and all(isinstance(x, tuple) for x in items):
        notes = cast(list[Note], items)  # every item is a tuple: these are events
        return [Note(x[0], int(x[1])) for x in notes]
    ids = cast(list[int], items)  # not all events, so (by the signature) token ids
    return vocab.decode(int(x) for x in ids)


# --------------------------------------------------------------------------- tab


def fingering(
    pitches: Sequence[int | None], tuning: Sequence[int] = STANDARD_TUNING, frets: int = FRETS
) -> list[tuple[int, int] | None]:
    """Choose a (string index, fret) for every pitch the way a guitarist would: staying in position.

    String index 0 is the lowest string; a ``None`` pitch (a rest) gets ``None``. The search tracks
    where the fretting hand is (the fret under the index finger, covering five frets) and, with a
    small Viterbi search, minimises hand shifts (expensive, but cheap during a rest), string
    changes and playing high up the neck. Open strings leave the hand where it is.
    Raises ``ValueError`` if a pitch cannot be played in ``tuning`` with ``frets`` frets.
    """
    State = tuple[int, int, int]  # (string, fret, hand position)
    layers: list[list[State]] = []
    after_rest: list[bool] = []
    rest = False
    for p in pitches:
        if p is None:
            rest = True
            continue
        places = [(s, p - open_) for s, open_ in enumerate(tuning) if 0 <= p - open_ <= frets]
        if not places:
            raise ValueError(f"pitch {p} ({note_name(p)}) is not playable in this tuning")
        previous_hands = sorted({h for _, _, h in layers[-1]}) if layers else [1]
        states = []
        for s, f in places:
            hands = previous_hands if f == 0 else range(max(1, f - 4), f + 1)
            states += [(s, f, h) for h in hands]
        layers.append(states)
        after_rest.append(rest)
        rest = False
    if not layers:
        return [None for _ in pitches]

    def unary(st: State) -> float:
        s, f, h = st
        return 0.04 * h + (0.3 if f and f - h == 4 else 0.0)  # high up the neck, the pinkie stretch

    def move(a: State, b: State, during_rest: bool) -> float:
        shift = abs(a[2] - b[2])
        cost = 1.0 + 0.25 * shift if shift else 0.0
        return (0.3 * cost if during_rest else cost) + 0.1 * abs(a[0] - b[0])

    cost = [unary(st) for st in layers[0]]
    back: list[list[int]] = []
    for k in range(1, len(layers)):
        prev, free = layers[k - 1], after_rest[k]
        new_cost, pointers = [], []
        for b in layers[k]:
            totals = [c + move(a, b, free) for c, a in zip(cost, prev, strict=True)]
            best = min(range(len(prev)), key=totals.__getitem__)
            new_cost.append(totals[best] + unary(b))
            pointers.append(best)
        cost = new_cost
        back.append(pointers)
    i = min(range(len(cost)), key=cost.__getitem__)
    path = [i]
    for pointers in reversed(back):
        i = pointers[i]
        path.append(i)
    path.reverse()
    chosen = iter([layers[k][j][:2] for k, j in enumerate(path)])
    return [None if p is None else next(chosen) for p in pitches]


def _cell_width(ticks: int) -> int:
    return {1: 3, 2: 4, 4: 6, 8: 8}.get(ticks, 2 + ticks)


def to_tab(
    solo: Iterable[Note] | Iterable[int],
    width: int = 96,
    tuning: Sequence[int] = STANDARD_TUNING,
    vocab: Vocab = VOCAB,
) -> str:
    """Guitar tab of a solo: six lines per system (high e on top), ``|`` at each bar, ``~`` for vibrato.

    Each event takes a column whose width grows with its length; held notes (a quarter or longer)
    get ``~`` vibrato marks, rests are blank columns. Systems are wrapped at ``width`` characters.
    """
    events = to_events(solo, vocab)
    names = STRING_NAMES if tuple(tuning) == STANDARD_TUNING else tuple(note_name(p)[:-1] for p in tuning)
    places = iter(fingering([e.pitch for e in events], tuning))
    n = len(tuning)
    systems: list[list[str]] = []
    lines = [f"{names[s]}|" for s in reversed(range(n))]
    tick, bar = 0, 0

    def flush() -> None:
        systems.append([line if line.endswith("|") else line + "|" for line in lines])

    for e in events:
        if tick // TICKS_PER_BAR > bar:  # a new bar starts at (or just before) this event
            bar = tick // TICKS_PER_BAR
            if not lines[0].endswith("|"):
                lines = [line + "|" for line in lines]
        w = _cell_width(e.ticks)
        place = next(places)
        if place is None:
            cells = ["-" * w] * n
        else:
            string, fret = place
            mark = str(fret) + ("~" * (w - 2 - len(str(fret))) if e.ticks >= 4 else "")
            cells = ["-" * w] * n
            cells[n - 1 - string] = ("-" + mark).ljust(w, "-")
        if len(lines[0]) + w > width - 1:
            flush()
            lines = [f"{names[s]}|" for s in reversed(range(n))]
        lines = [line + c for line, c in zip(lines, cells, strict=True)]
        tick += e.ticks
    if len(lines[0]) > 2:
        flush()
    return "\n\n".join("\n".join(system) for system in systems)


# --------------------------------------------------------------------------- piano roll


def plot_piano_roll(
    solo: Iterable[Note] | Iterable[int],
    ax: Axes | None = None,
    title: str | None = None,
    key_pitch_classes: Iterable[int] = KEY_PITCH_CLASSES,
    vocab: Vocab = VOCAB,
) -> Axes:
    """Draw a solo as a piano roll: one bar per note, time (in bars of 4/4) across, pitch up.

    Rows of pitches in the key are shaded; notes outside the key are drawn in red. Returns the Axes
    (``ax.patches`` holds one ``Rectangle`` per note, in order).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    events = to_events(solo, vocab)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.2))
    pcs = set(key_pitch_classes)
    pitches = [e.pitch for e in events if e.pitch is not None] or [64]
    lo, hi = min(pitches) - 2, max(pitches) + 2
    total = sum(e.ticks for e in events) / TICKS_PER_BAR or 1.0
    for p in range(lo, hi + 1):  # a collection, not a patch: ax.patches holds only the notes
        if p % 12 in pcs:
            ax.broken_barh([(0, total)], (p - 0.5, 1.0), facecolors="0.93", zorder=0, lw=0)
    t = 0
    for e in events:
        if e.pitch is not None:
            colour = "tab:blue" if e.pitch % 12 in pcs else "tab:red"
            ax.add_patch(
                Rectangle(
                    (t / TICKS_PER_BAR, e.pitch - 0.4),
                    e.ticks / TICKS_PER_BAR,
                    0.8,
                    facecolor=colour,
                    edgecolor="white",
                    lw=0.5,
                    zorder=2,
                )
            )
        t += e.ticks
    for bar in range(int(total) + 1):
        ax.axvline(bar, color="0.8", lw=0.6, zorder=1)
    ax.set_xlim(0, total)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ticks = [p for p in range(lo, hi + 1) if p % 12 in (4, 11)]  # every E and B
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_xlabel("bar (4/4)")
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- sound


def midi_to_hz(pitch: float) -> float:
    """Frequency of a MIDI pitch in equal temperament, A4 (69) = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def pluck(
    freq: float,
    seconds: float,
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | None = None,
    sustain: float = 2.5,
    vibrato: float = 0.0,
) -> np.ndarray:
    """One plucked-string note by Karplus-Strong, exactly in tune, ``seconds`` long.

    A delay line of ``n`` samples with a two-tap average rings with a period of ``n + 0.5`` samples.
    The string is simulated at the rate where that period is exactly one cycle of ``freq`` and then
    resampled to ``sample_rate``: no tuning error, even for high notes. ``sustain`` is the time to
    fade by 60 dB; ``vibrato`` (semitones) wobbles the pitch at 5.5 Hz after the attack.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    out_len = int(round(seconds * sample_rate))
    n = max(2, int(sample_rate / freq))
    virtual_rate = freq * (n + 0.5)
    loss = 10.0 ** (-3.0 / (sustain * freq))  # per round trip: -60 dB after `sustain` seconds
    t = np.arange(out_len) / sample_rate
    ratio = np.ones(out_len)
    if vibrato:
        depth = vibrato * np.clip((t - 0.12) / 0.15, 0.0, 1.0)
        ratio = 2.0 ** (depth * np.sin(2 * np.pi * 5.5 * t) / 12)
    position = np.concatenate([[0.0], np.cumsum(ratio[:-1])]) * (virtual_rate / sample_rate)
    length = int(position[-1]) + n + 3 if out_len else n + 3
    y = np.empty(length)
    # The initial shape of the string: a triangle (plucked a third of the way along) plus noise.
    x = np.linspace(0.0, 1.0, n + 1)
    burst = np.where(x < 0.3, x / 0.3, (1.0 - x) / 0.7) + 0.35 * rng.uniform(-1.0, 1.0, n + 1)
    # Remove the part of the burst that the loop would keep forever (its DC level): the
    # recurrence conserves sum(y[1:n+1]) + y[0] / 2, so make that zero.
    y[: n + 1] = burst - (burst[1:].sum() + 0.5 * burst[0]) / (n + 0.5)
    i = n + 1
    while i < length:  # each block of n samples only needs the previous ones: vectorised per period
        j = min(i + n, length)
        y[i:j] = loss * 0.5 * (y[i - n : j - n] + y[i - n - 1 : j - n - 1])
        i = j
    return np.interp(position, np.arange(length), y)


def synthesize(
    solo: Iterable[Note] | Iterable[int],
    bpm: float = 132.0,
    sample_rate: int = SAMPLE_RATE,
    drive: float = 2.5,
    seed: int = 0,
    vocab: Vocab = VOCAB,
) -> np.ndarray:
    """Render a solo as mono audio: a float32 array in [-1, 1] at ``sample_rate``.

    A tick (sixteenth note) lasts ``60 / bpm / 4`` seconds. Notes are legato like a lead line:
    each ends (with a 15 ms fade) when the next event starts; held notes get vibrato; ``drive``
    is a ``tanh`` overdrive (0 for a clean tone). The same ``seed`` gives the same samples.
    """
    events = to_events(solo, vocab)
    rng = np.random.default_rng(seed)
    tick = 60.0 / bpm / 4
    total = sum(e.ticks for e in events) * tick
    release = 0.015
    out = np.zeros(int(round(total * sample_rate)) + int(release * sample_rate) + 1)
    start = 0.0
    for e in events:
        seconds = e.ticks * tick
        if e.pitch is not None:
            note = pluck(
                midi_to_hz(e.pitch),
                seconds + release,
                sample_rate,
                rng,
                vibrato=0.35 if e.ticks >= 4 else 0.0,
            )
            fade = int(release * sample_rate)
            if fade:
                note[-fade:] *= np.linspace(1.0, 0.0, fade)
            a = int(round(start * sample_rate))
            out[a : a + len(note)] += note[: len(out) - a]
        start += seconds
    if drive > 0:
        out = np.tanh(drive * out) / math.tanh(drive)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0:
        out = 0.9 * out / peak
    return out.astype(np.float32)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono ``samples`` (floats in [-1, 1], clipped) as a 16-bit PCM WAV file; return the path."""
    path = Path(path)
    data = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    pcm = (data * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return path


class _SynthOptions(TypedDict, total=False):
    """The keyword arguments :func:`audio_player` passes on to :func:`synthesize`."""

    drive: float
    seed: int
    vocab: Vocab


def audio_player(
    solo: Iterable[Note] | Iterable[int] | np.ndarray,
    bpm: float = 132.0,
    sample_rate: int = SAMPLE_RATE,
    **kwargs: Unpack[_SynthOptions],
) -> Audio:
    """An in-notebook audio player (``IPython.display.Audio``) for a solo or for ready-made samples.

    Pass events or token ids to synthesise them first (extra keyword arguments go to
    :func:`synthesize`), or a float ``np.ndarray`` of samples to play as is.
    """
    from IPython.display import Audio

    if isinstance(solo, np.ndarray) and solo.dtype.kind == "f":
        samples = solo
    else:
        samples = synthesize(solo, bpm=bpm, sample_rate=sample_rate, **kwargs)
    return Audio(data=samples, rate=sample_rate, normalize=False)
