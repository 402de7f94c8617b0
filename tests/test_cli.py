"""The `assistant` command line: real subprocesses, one-line errors, JSON output."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speech import Recognizer
from test_recognizer import make_recognizer

REPO = Path(__file__).resolve().parent.parent


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=300
    )


@pytest.fixture(scope="module")
def model_and_audio(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    rec = make_recognizer(beam_size=1)
    model = rec.save(tmp / "model.pt")
    rng = np.random.default_rng(3)
    files = []
    for k in range(2):
        path = tmp / f"clip{k}.wav"
        soundfile.write(path, 0.2 * rng.standard_normal(16000), 16000)
        files.append(path)
    return rec, model, files


def test_transcribe_prints_text_and_json(model_and_audio):
    rec, model, files = model_and_audio
    plain = run("transcribe", str(files[0]), "--model", str(model), "--beam", "1")
    assert plain.returncode == 0, plain.stderr
    expected = rec.transcribe(soundfile.read(files[0], dtype="float32")[0]).text
    assert plain.stdout.strip() == expected

    as_json = run("transcribe", *map(str, files), "--model", str(model), "--json", "--no-progress")
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for row in rows:
        assert {"text", "confidence", "words", "alternatives", "duration"} <= set(row)
        assert all({"word", "start", "end", "confidence"} == set(w) for w in row["words"])


def test_transcribe_hotword_and_beam(model_and_audio):
    _, model, files = model_and_audio
    result = run("transcribe", str(files[0]), "--model", str(model), "--beam", "4", "--hotword", "lights")
    assert result.returncode == 0, result.stderr


def test_transcribe_with_int8_weights(model_and_audio):
    rec, model, files = model_and_audio
    result = run("transcribe", str(files[0]), "--model", str(model), "--beam", "1", "--int8")
    assert result.returncode == 0, result.stderr
    fast = Recognizer.load(model, beam_size=1, quantize=True)
    audio = soundfile.read(files[0], dtype="float32")[0]
    assert result.stdout.strip() == fast.transcribe(audio).text


def test_int8_defaults_to_the_models_choice_and_no_int8_overrides_it(model_and_audio, tmp_path):
    from speech.recognizer import write_decoding

    rec, model, files = model_and_audio
    int8_model = tmp_path / "int8.pt"
    int8_model.write_bytes(model.read_bytes())
    write_decoding(int8_model, {"quantize": True})  # as the shipped model does
    audio = soundfile.read(files[0], dtype="float32")[0]
    for flags, quantize in (([], True), (["--no-int8"], False)):
        result = run("transcribe", str(files[0]), "--model", str(int8_model), "--beam", "1", *flags)
        assert result.returncode == 0, result.stderr
        expected = Recognizer.load(model, beam_size=1, quantize=quantize).transcribe(audio).text
        assert result.stdout.strip() == expected, flags


def test_transcribe_and_evaluate_with_a_phrase_list(model_and_audio, tmp_path):
    rec, model, files = model_and_audio
    phrase_file = tmp_path / "commands.txt"
    phrase_file.write_text("# commands\nturn on the light\n\nstop  # a comment\n")
    result = run("transcribe", *map(str, files), "--model", str(model), "--phrases", str(phrase_file),
                 "--phrase", "Seven", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    phrases = ["turn on the light", "stop", "seven"]
    for row, path in zip(map(json.loads, result.stdout.splitlines()), files):
        expected = rec.transcribe(soundfile.read(path, dtype="float32")[0], phrases=phrases)
        assert row["text"] == expected.text and row["text"] in phrases + [""]
        assert [a["text"] for a in row["alternatives"]] == [a.text for a in expected.alternatives]

    manifest = tmp_path / "eval.jsonl"
    manifest.write_text("".join(json.dumps({"audio": str(f), "text": t, "duration": 1.0}) + "\n"
                                for f, t in zip(files, ["stop", "seven"])))
    result = run("evaluate", str(manifest), "--model", str(model), "--phrases", str(phrase_file), "--phrase", "seven",
                 "--json")
    assert result.returncode == 0, result.stderr
    assert [r["decoder"] for r in json.loads(result.stdout)["results"]] == ["phrases"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["transcribe", "{audio}", "--model", "{model}", "--phrase", "yes", "--hotword", "no"], "not both"),
        (["transcribe", "{audio}", "--model", "{model}", "--phrases", "none.txt"], "no such phrase file: none.txt"),
        (["transcribe", "{audio}", "--model", "{model}", "--phrase", "?!"], "is empty"),
        (["transcribe", "missing.wav", "--model", "{model}"], "no such file: missing.wav"),
        (["transcribe", "{audio}", "--model", "nowhere.pt"], "no speech model at 'nowhere.pt'"),
        (["transcribe", "{audio}", "--model", "{model}", "--beam", "0"], "beam_size must be an int >= 1"),
        (["evaluate", "nothing.jsonl", "--model", "{model}"], "no such manifest"),
        (["evaluate", "nothing.jsonl", "--model", "{model}", "--limit", "0"], "--limit must be >= 1"),
        (["transcribe", "{audio}", "--model", "{model}", "--threads", "0"], "--threads must be >= 1"),
        (["history", "abc", "--db", "nowhere.db"], "no conversation database"),
    ],
)
def test_mistakes_give_one_line(model_and_audio, args, message):
    _, model, files = model_and_audio
    args = [a.format(model=model, audio=files[0]) for a in args]
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_corrupt_audio_is_reported_per_file(model_and_audio, tmp_path):
    _, model, files = model_and_audio
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....garbage")
    result = run("transcribe", str(bad), str(files[0]), "--model", str(model), "--no-progress")
    assert result.returncode == 1
    assert "bad.wav" in result.stderr and str(files[0]) in result.stdout


def test_forwarded_commands_have_their_own_help():
    for command in ("serve", "train-speech", "train-dialogue"):
        result = run(command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage:"), result.stdout[:200]


def test_evaluate_scores_a_manifest_and_each_corpus(model_and_audio, tmp_path):
    from speech.train import cer, wer

    rec, model, files = model_and_audio
    texts = ["turn on the light", "stop"]
    manifest = tmp_path / "eval.jsonl"
    manifest.write_text("".join(
        json.dumps({"audio": str(f), "text": t, "duration": 1.0, "corpus": c}) + "\n"
        for f, t, c in zip(files, texts, ["sentences", "words"])))
    hyps = [" ".join(rec.transcribe(soundfile.read(f, dtype="float32")[0]).text.split()) for f in files]

    result = run("evaluate", str(manifest), "--model", str(model), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["int8"] is False  # says which weights were scored
    rows = json.loads(result.stdout)["results"]
    assert [(r["set"], r["decoder"], r["n_utts"]) for r in rows] == [("all", "greedy", 2)]  # no LM: greedy only
    assert rows[0]["wer"] == pytest.approx(wer(texts, hyps)) and rows[0]["cer"] == pytest.approx(cer(texts, hyps))
    low, high = rows[0]["wer_ci"]
    assert low <= rows[0]["wer"] <= high

    result = run("evaluate", str(manifest), "--model", str(model), "--by-corpus", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    greedy = {r["set"]: r for r in rows if r["decoder"] == "greedy"}
    assert set(greedy) == {"all", "sentences", "words"}
    assert greedy["words"]["n_utts"] == 1
    assert greedy["words"]["wer"] == pytest.approx(wer(texts[1:], hyps[1:]))

    table = run("evaluate", str(manifest), "--model", str(model), "--by-corpus")
    assert table.returncode == 0 and "sentences" in table.stdout and "WER %" in table.stdout and "95% CI" in table.stdout
    assert "(float weights)" in table.stdout.splitlines()[0]
    assert "(int8 weights)" in run("evaluate", str(manifest), "--model", str(model), "--int8").stdout.splitlines()[0]

    manifest.write_text("not json\n")
    broken = run("evaluate", str(manifest), "--model", str(model))
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1, broken.stderr
