"""Word clips cut out of sentences by forced alignment (scripts/speechdata/wordcuts.py).

The recognizer here is a stand-in whose posteriors are written into the audio itself: every 30 ms frame
of a test clip holds one constant sample value that names the letter said there (0 for silence). So a
cut clip still "says" exactly the letters inside it, and the test can check that each cut's label is
what the cut audio holds, not merely what the code chose to write.
"""
import dataclasses
import json
import random
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from speech.vocab import Alphabet  # noqa: E402
from speechdata.wordcuts import CutConfig, align_words, build_wordcuts, choose_cuts  # noqa: E402

FRAME = 480  # samples per output frame at 16 kHz (30 ms)
NO_LAG = CutConfig(onset_lag=0.0, offset_lag=0.0, edge_margin=0.06)


class LetterCodedRecognizer:
    """log_probs reads the letter id each frame's samples hold; probability 0.9 on it, the rest spread."""

    alphabet = Alphabet()
    frame_shift = FRAME / 16000

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        n, v = len(x) // FRAME, len(self.alphabet)
        out = np.full((n, v), 0.1 / (v - 1), dtype=np.float32)
        ids = np.rint(np.median(x[: n * FRAME].reshape(n, FRAME), axis=1) * 100).astype(int)  # a cut's frames
        out[np.arange(n), ids] = 0.9  # straddle two codes: the majority one counts
        return np.log(out)

    def say(self, text: str) -> np.ndarray:
        """Audio for `text`: two frames of silence, then per letter two frames of it and two of silence."""
        ids = [0, 0]
        for i in self.alphabet.encode(text):
            ids += [i, i, 0, 0]
        return np.repeat(np.array(ids, dtype=np.float32) / 100, FRAME)

    def heard(self, x: np.ndarray) -> str:
        """The letters the samples hold, in order: each run of one code is a letter, if it is at least half a
        frame long (a cut that slices a letter off leaves a sliver, which is not heard)."""
        codes = np.rint(x * 100).astype(int)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        lengths = np.diff(np.r_[starts, len(codes)])
        return self.alphabet.decode([codes[s] for s, n in zip(starts, lengths) if codes[s] and n >= FRAME // 2]).strip()


def test_align_words_finds_each_word_where_it_is_said():
    rec = LetterCodedRecognizer()
    words = align_words(rec.log_probs(rec.say("go left")), "go left", rec.alphabet, rec.frame_shift, NO_LAG)
    assert [w.word for w in words] == ["go", "left"]
    # "g" is frames 2-3 and "o" frames 6-7: the word spans frames 2..7, ending where frame 8 starts
    assert np.isclose(words[0].start, 2 * 0.03) and np.isclose(words[0].end, 8 * 0.03)
    assert words[1].start > words[0].end
    assert all(w.posterior > 0.8 for w in words)
    lagged = align_words(rec.log_probs(rec.say("go left")), "go left", rec.alphabet, rec.frame_shift,
                         CutConfig(onset_lag=0.03, offset_lag=0.0))
    assert np.isclose(lagged[0].start, words[0].start - 0.03)  # the emission lag moves the onset earlier


def test_align_words_gives_nothing_when_the_text_cannot_fit():
    rec = LetterCodedRecognizer()
    assert align_words(rec.log_probs(rec.say("go")), "this is far too long", rec.alphabet, rec.frame_shift, NO_LAG) == []


def test_choose_cuts_never_takes_the_whole_sentence_or_poorly_aligned_words():
    rec = LetterCodedRecognizer()
    x = rec.say("turn the lights on")
    words = align_words(rec.log_probs(x), "turn the lights on", rec.alphabet, rec.frame_shift, NO_LAG)
    cuts = choose_cuts(words, len(x) / 16000, random.Random(0), CutConfig(per_utterance=6, min_seconds=0.0))
    assert cuts and all(t != "turn the lights on" and 1 <= len(t.split()) <= 3 for _, _, t in cuts)
    for start, end, text in cuts:
        assert rec.heard(x[int(start * 16000):int(end * 16000)]) == text
    weak = [dataclasses.replace(w, posterior=0.1) if w.word == "lights" else w for w in words]
    cuts = choose_cuts(weak, len(x) / 16000, random.Random(0), CutConfig(per_utterance=6, min_seconds=0.0))
    assert cuts and all("lights" not in t.split() for _, _, t in cuts)
    assert choose_cuts(words[:1], len(x) / 16000, random.Random(0), NO_LAG) == []  # one word: nothing to cut


def test_build_wordcuts_writes_clips_that_hold_their_labels(tmp_path):
    rec = LetterCodedRecognizer()
    src = tmp_path / "src"
    src.mkdir()
    rows = []
    for k, text in enumerate(["play some music", "what time is it", "stop", "call my sister now"]):
        path = src / f"{k}.flac"
        sf.write(path, rec.say(text), 16000, subtype="PCM_16")
        rows.append({"audio": path.name, "text": text, "duration": 1.0, "speaker": f"s{k}", "corpus": "game"})
    manifest = src / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = CutConfig(onset_lag=0.0, offset_lag=0.0, edge_margin=0.06, min_seconds=0.0, max_loss_per_letter=2.0)
    counts = build_wordcuts([manifest], tmp_path / "out", rec, cfg, progress=False)
    out = [json.loads(line) for line in (tmp_path / "out" / "wordcuts.jsonl").read_text().splitlines()]
    assert counts["sentences"] == 4 and counts["aligned"] == 3  # "stop" is one word: not cut
    assert counts["cuts"] == len(out) > 0
    for row in out:
        assert row["corpus"] == "game_cut" and row["speaker"] in {"s0", "s1", "s3"}
        audio, sr = sf.read(row["audio"], dtype="float32")
        assert sr == 16000 and np.isclose(row["duration"], len(audio) / 16000, atol=1e-3)
        assert rec.heard(audio) == row["text"]  # written as 16-bit PCM, the letter codes survive
