"""The chorale loader against music21's own parser; tokens, WAV synthesis, the audio element."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from rnnlib import music


def test_loader_reads_the_shipped_corpus():
    names, melodies = music.bach_chorales()
    assert len(names) == len(melodies) > 350
    assert sum(map(len, melodies)) > 15_000
    p = [x for m in melodies for x in music.pitches(m)]
    assert 50 < min(p) and max(p) < 90           # soprano range, after transposition
    durations = {d for m in melodies for _, d in m}
    assert 1.0 in durations and all(d > 0 for d in durations)


def test_loader_agrees_with_music21():
    pytest.importorskip("music21")
    from music21 import corpus

    names = [p.stem for p in sorted(music.corpus_dir().glob("*.mxl"))[:4]]
    for name in names:
        score = corpus.parse("bach/" + name)
        sop = next(p for p in score.parts if (p.partName or "").lower() == "soprano")
        ref = [(None if n.isRest else n.pitch.midi, float(n.quarterLength))
               for n in sop.stripTies().flatten().notesAndRests if not n.duration.isGrace]
        assert music.read_soprano(music.corpus_dir() / f"{name}.mxl", transpose=False) == ref


def test_transposition_keeps_the_melody_and_tokens_round_trip():
    path = music.corpus_dir() / "bwv1.6.mxl"             # key signature: one flat (F major)
    raw, moved = music.read_soprano(path, False), music.read_soprano(path, True)
    shifts = {b[0] - a[0] for a, b in zip(raw, moved, strict=True) if a[0] is not None}
    assert shifts == {-5}                                # F -> C: down five semitones
    for note in moved + [(None, 0.5)]:
        assert music.token_note(music.note_token(note)) == note
    with pytest.raises(ValueError, match="not a note token"):
        music.token_note("C4")


def test_synthesized_wav_has_the_melodys_duration():
    notes = [(60, 1.0), (None, 0.5), (67, 1.5)]
    data = music.synthesize(notes, bpm=120, rate=8000)
    assert music.wav_seconds(data) == pytest.approx(3.0 * 60 / 120, abs=1e-3)
    samples = np.frombuffer(data[44:], dtype="<i2").astype(float)
    rest = samples[4000:6000]                           # 0.5 - 0.75 s: the rest
    assert np.abs(rest).max() == 0 and np.abs(samples[:4000]).max() > 1000
    # the first note's spectrum peaks at middle C, 261.6 Hz
    spec = np.abs(np.fft.rfft(samples[:4000]))
    assert abs(np.fft.rfftfreq(4000, 1 / 8000)[spec.argmax()] - 261.6) < 3


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_audio_element_loads_in_chromium_with_its_duration():
    notes = [(60, 1.0), (64, 1.0), (67, 2.0)]
    html = music.audio_html(music.synthesize(notes, bpm=60, rate=8000), "a")
    page = ("<html><body>" + html + "<pre id=out>pending</pre><script>"
            "const a = document.getElementById('a');"
            "a.addEventListener('loadedmetadata', () => {document.getElementById('out')"
            ".textContent = JSON.stringify({d: a.duration, err: a.error});});"
            "a.addEventListener('error', () => {document.getElementById('out')"
            ".textContent = JSON.stringify({err: String(a.error && a.error.code)});});"
            "</script></body></html>")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "a.html"
        f.write_text(page)
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp}/profile",
             "--virtual-time-budget=5000", "--dump-dom", f.as_uri()],
            capture_output=True, text=True, timeout=60).stdout
    got = json.loads(out.split("<pre id=\"out\">")[1].split("</pre>")[0])
    assert got.get("err") is None, got
    assert got["d"] == pytest.approx(4.0, abs=0.01)
