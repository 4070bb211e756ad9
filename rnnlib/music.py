"""Melodies as token sequences: Bach chorales from music21's corpus, piano rolls, and sound.

Data. The PyPI package ``music21`` (BSD-3-Clause) ships a corpus that includes 408 chorales
harmonised by J. S. Bach as compressed MusicXML (``music21/corpus/bach/*.mxl``; the
encodings come from www.jsbchorales.net, the music is in the public domain). This module
reads the soprano line of each with the standard library's zipfile and ElementTree (music21's
own parser is much slower; the tests check that both read the same notes).

A note is (pitch, duration): pitch a MIDI number (60 = middle C, 69 = A4 = 440 Hz) or None
for a rest, duration in quarter notes. Tied notes are merged into one. Each chorale is
transposed so that its key signature has no sharps or flats (C major or A minor), so that
the model sees one key instead of twelve.

    bach_chorales      the soprano lines, a list of lists of notes
    note_token / token_note   a note as a string token such as "67/1.0" ("R/1.0" a rest)
    piano_roll         draw notes on a matplotlib axis: time across, pitch up
    synthesize         16-bit mono WAV bytes of a melody (additive synthesis, no soundfont)
    audio_html         an <audio> element that plays WAV bytes inside the page
    interval_histogram the distribution of steps (in semitones) between consecutive pitches
"""

import base64
import io
import wave
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def corpus_dir():
    """The folder of Bach chorales inside the installed music21 package (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None:  # pragma: no cover - music21 is pinned in requirements.txt
        raise ImportError("bach_chorales needs the PyPI package 'music21' (requirements.txt)")
    return Path(spec.origin).parent / "corpus" / "bach"


def _xml_root(path):
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist()
                    if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF"))
        return ET.fromstring(z.read(name))


def read_soprano(path, transpose=True):
    """The soprano part of one chorale (.mxl), as a list of (pitch or None, quarter notes).

    Voice 1 only; chord tones after the first and grace notes are skipped; tied notes are
    merged. Returns None when the score has no part named "Soprano".
    """
    root = _xml_root(path)
    names = {sp.get("id"): (sp.findtext("part-name") or "").strip().lower()
             for sp in root.iter("score-part")}
    pid = next((i for i, n in names.items() if n == "soprano"), None)
    if pid is None:
        return None
    part = next(p for p in root.iter("part") if p.get("id") == pid)
    notes, divisions, fifths, tied = [], 1, None, False
    for measure in part.iter("measure"):
        for el in measure:
            if el.tag == "attributes":
                divisions = int(el.findtext("divisions") or divisions)
                f = el.findtext("key/fifths")
                if f is not None and fifths is None:
                    fifths = int(f)
            if el.tag != "note" or el.find("grace") is not None or el.find("chord") is not None:
                continue
            if (el.findtext("voice") or "1").strip() != "1":
                continue
            dur = int(el.findtext("duration") or 0) / divisions
            if el.find("rest") is not None:
                pitch = None
            else:
                p = el.find("pitch")
                pitch = (12 * (int(p.findtext("octave")) + 1) + _STEP[p.findtext("step")]
                         + int(float(p.findtext("alter") or 0)))
            ties = {t.get("type") for t in el.findall("tie")}
            if tied and "stop" in ties and notes and notes[-1][0] == pitch:
                notes[-1] = (pitch, notes[-1][1] + dur)   # continue the tied note
            else:
                notes.append((pitch, dur))
            tied = "start" in ties
    if transpose and fifths:
        shift = -((7 * fifths) % 12)
        shift += 12 if shift < -6 else 0                 # the smaller move: at most 6 semitones
        notes = [(None if p is None else p + shift, d) for p, d in notes]
    return notes


def bach_chorales(transpose=True, limit=None):
    """The soprano lines of music21's Bach chorales, sorted by file name.

    Returns (names, melodies): the chorales' file names (e.g. "bwv1.6") and their notes.
    """
    names, melodies = [], []
    for path in sorted(corpus_dir().glob("*.mxl")):
        notes = read_soprano(path, transpose)
        if notes:
            names.append(path.stem)
            melodies.append(notes)
        if limit is not None and len(names) >= limit:
            break
    return names, melodies


def note_token(note):
    """(67, 1.0) -> "67/1.0"; (None, 0.5) -> "R/0.5"."""
    pitch, dur = note
    return f"{'R' if pitch is None else int(pitch)}/{float(dur)}"


def token_note(token):
    """The inverse of note_token."""
    try:
        p, d = token.split("/")
        return (None if p == "R" else int(p)), float(d)
    except (ValueError, AttributeError) as e:
        raise ValueError(f"token_note: {token!r} is not a note token like '67/1.0'") from e


def piano_roll(ax, notes, t0=0.0, color="C0", label=None):
    """Draw notes as bars (time in quarter notes across, MIDI pitch up); returns the end time."""
    t = t0
    first = True
    for pitch, dur in notes:
        if pitch is not None:
            ax.broken_barh([(t, dur * 0.95)], (pitch - 0.4, 0.8), color=color,
                           label=label if first else None)
            first = False
        t += dur
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("MIDI pitch")
    return t


def synthesize(notes, bpm=90, rate=11025):
    """WAV bytes (16-bit mono) of a melody: each note a few harmonics under an envelope.

    The length is exactly Σ durations × 60 / bpm seconds (rounded to whole samples per note).
    """
    if rate < 1000 or bpm <= 0:
        raise ValueError(f"synthesize: need rate >= 1000 and bpm > 0, got {rate}, {bpm}")
    chunks = []
    for pitch, dur in notes:
        n = int(round(dur * 60 / bpm * rate))
        t = np.arange(n) / rate
        if pitch is None:
            chunks.append(np.zeros(n))
            continue
        f = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * f * t) / k ** 1.5 for k in (1, 2, 3, 4)
                   if k * f < rate / 2)
        env = np.minimum(1, t / 0.01) * np.exp(-2.5 * t) * np.minimum(1, (n - np.arange(n))
                                                                     / (0.02 * rate))
        chunks.append(tone * env)
    x = np.concatenate(chunks) if chunks else np.zeros(0)
    x = (0.3 * 32767 * x / max(1e-9, np.abs(x).max())).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())
    return buf.getvalue()


def wav_seconds(data):
    """The duration of WAV bytes, in seconds."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def audio_html(data, element_id="melody"):
    """An <audio controls> element holding WAV bytes as a data: URL (nothing to fetch)."""
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<audio id="{element_id}" controls preload="auto" style="max-width:100%" '
            f'src="data:audio/wav;base64,{b64}"></audio>')


def pitches(notes):
    return [p for p, _ in notes if p is not None]


def interval_histogram(melodies, max_step=12):
    """Fractions of consecutive-pitch steps -max_step ... max_step semitones (rests skipped;
    larger steps are counted at ±max_step). Returns (steps, fractions)."""
    c = Counter()
    for notes in melodies:
        p = np.array(pitches(notes))
        c.update(np.clip(np.diff(p), -max_step, max_step).tolist())
    steps = np.arange(-max_step, max_step + 1)
    total = max(1, sum(c.values()))
    return steps, np.array([c[s] / total for s in steps])
