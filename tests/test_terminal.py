"""The terminal chat (`assistant chat`): piped stdin/stdout, in-process and against a real server.

Models: a tiny untrained recognizer built here (it turns any audio into characters, so every
transcript event flows) and conftest's trained `tiny_responder` when it exists (else an untrained
one). The --url tests talk to a real server (server.ServerThread) on port 0.
"""
from __future__ import annotations

import io
import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from assistant import terminal
from assistant.memory import Memory

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16000


# ------------------------------------------------------------------------------ models
def build_untrained_models():
    """A tiny acoustic model and a tiny seq2seq, random weights: fast, deterministic, real code paths."""
    from dialogue import DecodingOptions, Responder, Seq2Seq, Seq2SeqConfig, Tokenizer
    from speech.features import FeatureConfig
    from speech.model import AcousticConfig, AcousticModel
    from speech.recognizer import Recognizer
    from speech.vocab import Alphabet

    torch.manual_seed(0)
    alphabet = Alphabet()
    features = FeatureConfig(n_mels=20)
    acoustic = AcousticModel(AcousticConfig(n_mels=20, hidden=16, layers=1, vocab_size=len(alphabet), dropout=0.0))
    recognizer = Recognizer(acoustic, alphabet, features, beam_size=1)
    texts = ["hello there", "how are you", "i am fine thank you", "what time is it", "tell me a joke"] * 20
    tokenizer = Tokenizer.train(texts, vocab_size=320)
    seq2seq = Seq2Seq(Seq2SeqConfig(vocab_size=len(tokenizer), embed_dim=16, encoder_hidden=16,
                                    decoder_hidden=16, dropout=0.0))
    with torch.no_grad():  # favour one whole-word piece, so replies stream word by word
        seq2seq.out_bias[tokenizer.piece_to_id("\u2581joke")] += 8.0
    responder = Responder(seq2seq, tokenizer, options=DecodingOptions(max_length=8, min_length=3))
    return recognizer, responder


def client_test_models(request):
    """(recognizer, responder) for the client tests.

    The recognizer is always the tiny untrained one: random weights turn any audio, the generated
    clips included, into characters, so partial and final transcripts always appear (these tests
    check the clients, not recognition). The responder is conftest's trained `tiny_responder` when
    it exists (real reply text), else the untrained one.
    """
    recognizer, responder = build_untrained_models()
    try:
        responder = request.getfixturevalue("tiny_responder")
    except pytest.FixtureLookupError:
        pass
    return recognizer, responder


@pytest.fixture(scope="module")
def models(request):
    return client_test_models(request)


@pytest.fixture(scope="module")
def checkpoints(models, tmp_path_factory):
    """The same models saved as checkpoints, for --speech-model/--dialogue-model and the server."""
    folder = tmp_path_factory.mktemp("ckpt")
    recognizer, responder = models
    return recognizer.save(folder / "speech.pt"), responder.save(folder / "dialogue.pt")


def speech_like_wav(path: Path, seconds: float = 1.6, sample_rate: int = SAMPLE_RATE) -> Path:
    """Silence, a voiced burst (harmonics with a moving pitch and syllable envelope), silence."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 0.5
    burst = (t > 0.3) & (t < seconds - 0.4)
    audio = 0.25 * voiced * envelope * burst + 0.003 * rng.standard_normal(t.size)
    sf.write(path, audio.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


# ------------------------------------------------------------------------------ helpers
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return False


def run_chat(argv, lines, models=None):
    """Run `assistant chat ARGV` in-process with piped input; (status, stdout text)."""
    out = io.StringIO()
    kwargs = {}
    if models is not None:
        kwargs = {"recognizer": models[0], "responder": models[1]}
    status = terminal.main(argv, stdin=io.StringIO("".join(f"{line}\n" for line in lines)), stdout=out, **kwargs)
    return status, out.getvalue()


def reply_lines(text: str) -> list[str]:
    return [line[len("assistant: "):] for line in text.splitlines() if line.startswith("assistant: ")]


# ------------------------------------------------------------------------- in-process
def test_typed_turns_stream_and_are_stored(models, tmp_path):
    db = tmp_path / "chat.db"
    status, out = run_chat(["--db", str(db)], ["hello there", "how are you", "/history", "/quit", "never sent"], models)
    assert status == 0, out
    assert "you: hello there" in out and "you: how are you" in out
    replies = reply_lines(out)
    assert len(replies) == 2 and all(replies), out
    assert "never sent" not in out
    # /history lists the stored turns in order
    assert re.search(r"  user: hello there\n  assistant: .+\n  user: how are you\n  assistant: ", out), out
    with Memory(str(db)) as memory:
        (conversation,) = memory.list_conversations()
        assert [t["text"] for t in memory.export_conversation(conversation["id"])["turns"]][0::2] == [
            "hello there", "how are you"]


def test_resume_new_and_hotword_commands(models, tmp_path):
    db = tmp_path / "chat.db"
    status, out = run_chat(["--db", str(db)], ["first turn"], models)
    assert status == 0
    conversation = re.search(r"conversation (\w+)", out).group(1)
    status, out = run_chat(["--db", str(db), "--conversation", conversation],
                           ["/history", "/hotword kitchen", "/hotword", "/phrases yes, no,  lights on", "/new",
                            "/phrases", "/phrases clear", "/history", "/help"], models)
    assert status == 0, out
    assert "(resumed)" in out and "  user: first turn" in out
    assert out.count("* hot words: kitchen") == 2
    assert out.count("* command mode: yes, no, lights on") == 2  # kept by /new
    assert "* command mode off (open vocabulary)" in out
    new_id = re.search(r"new conversation (\w+)", out).group(1)
    assert new_id != conversation
    assert "no turns stored in this conversation yet" in out
    assert "/hotword WORD" in out  # the help text


def test_unknown_conversation_and_bad_command(models, tmp_path, capsys):
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--conversation", "nope"], [], models)
    assert status == 2
    assert "nope" in capsys.readouterr().err
    status, out = run_chat(["--db", str(tmp_path / "c.db")], ["/frobnicate", "/audio", "/quit"], models)
    assert status == 0
    assert "! unknown command /frobnicate; type /help for the list" in out
    assert "! usage: /audio FILE" in out


def test_audio_file_partials_final_and_reply(models, tmp_path):
    wav = speech_like_wav(tmp_path / "hello.wav")
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--audio", str(wav), "--fast"], [], models)
    assert status == 0, out
    lines = out.splitlines()
    finals = [i for i, line in enumerate(lines) if line.startswith("you (voice): ")]
    assert len(finals) == 1, out
    partials = [i for i, line in enumerate(lines) if line.startswith("... ")]
    final_text = lines[finals[0]][len("you (voice): "):].rsplit("  (", 1)[0]
    assert final_text and partials and max(partials) < finals[0], out  # partials update, then the final
    assert reply_lines(out) and out.index("assistant: ") > out.index("you (voice): "), out


def test_audio_paced_like_a_microphone(models, tmp_path):
    wav = speech_like_wav(tmp_path / "short.wav", seconds=0.6)
    t0 = time.monotonic()
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--audio", str(wav), "--frame-ms", "100"], [], models)
    assert status == 0, out
    assert time.monotonic() - t0 >= 0.5  # real time: 0.6 s of audio takes at least 0.5 s to send


def test_bad_audio_file_is_one_line(models, tmp_path, capsys):
    bad = tmp_path / "empty.wav"
    sf.write(bad, np.zeros(0, dtype=np.float32), SAMPLE_RATE)  # a valid header and no samples
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--audio", str(bad)], [], models)
    assert status == 2
    (line,) = [line for line in out.splitlines() if line.startswith("! ")]
    assert line.startswith("! bad audio file: ") and str(bad) in line
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--audio", str(tmp_path / "missing.wav")], [], models)
    assert status == 2 and "! no such audio file" in out


def test_frame_ms_is_checked(capsys):
    with pytest.raises(SystemExit):
        terminal.main(["--frame-ms", "5"], stdin=io.StringIO(""), stdout=io.StringIO())
    assert "--frame-ms 5: must be between 20 and 100" in capsys.readouterr().err


def test_model_paths_on_the_command_line(checkpoints, tmp_path):
    speech_ckpt, dialogue_ckpt = checkpoints
    status, out = run_chat(["--db", str(tmp_path / "c.db"), "--speech-model", str(speech_ckpt),
                            "--dialogue-model", str(dialogue_ckpt)], ["hello"])
    assert status == 0, out
    assert str(speech_ckpt) in out and len(reply_lines(out)) == 1


# ----------------------------------------------------------------------- real server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(models, db: Path, token: str | None = None):
    """A real server (server.ServerThread) on port 0 around the tiny models and a temporary database."""
    from assistant import Assistant, AssistantConfig
    from server import ServerOptions, ServerThread

    recognizer, responder = models
    assistant = Assistant(AssistantConfig(db_path=str(db)), recognizer, responder, Memory(str(db)))
    return ServerThread(assistant, ServerOptions(port=0, token=token))


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    db = tmp_path_factory.mktemp("srv") / "server.db"
    with serve(models, db) as srv:
        yield srv.ws_url, db


def test_remote_typed_turns_and_resume(server):
    url, db = server
    status, out = run_chat(["--url", url], ["hello there", "how are you", "/history", "/hotword kitchen",
                                            "/phrases yes, no", "/phrases ?!", "/phrases clear", "/new", "/history"])
    assert status == 0, out
    assert "* command mode: yes, no" in out and "asr.phrases" in out and "command mode off" in out
    assert len(reply_lines(out)) == 2 and "  user: how are you" in out
    assert "* hot words: kitchen" in out
    assert re.search(r"\* new conversation \w+\n\* no turns stored in this conversation yet", out), out
    conversation = re.search(r"conversation (\w+)", out).group(1)
    status, out = run_chat(["--url", url.removesuffix("/v1/ws"), "--conversation", conversation],
                           ["and again", "/history"])
    assert status == 0 and "(resumed)" in out and f"conversation {conversation}" in out
    # /history comes from the server's memory: the turns of the earlier session too
    assert re.search(r"  user: hello there\n  assistant: .+\n  user: how are you\n.*\n  user: and again\n", out), out
    with Memory(str(db)) as memory:
        turns = memory.export_conversation(conversation)["turns"]
    assert [t["text"] for t in turns if t["role"] == "user"] == ["hello there", "how are you", "and again"]


def test_remote_audio_file_fast(server, tmp_path):
    url, _ = server
    wav = speech_like_wav(tmp_path / "hello.wav", seconds=8.0)  # longer than the server's backlog limit
    status, out = run_chat(["--url", url, "--audio", str(wav), "--fast"], ["/quit"])
    assert status == 0, out
    assert sum(line.startswith("you (voice): ") for line in out.splitlines()) == 1, out
    assert "overloaded" not in out  # --fast keeps within the server's backlog


@pytest.mark.slow
def test_remote_audio_file_paced(server, tmp_path):
    url, _ = server
    wav = speech_like_wav(tmp_path / "hello.wav", seconds=1.2)
    t0 = time.monotonic()
    status, out = run_chat(["--url", url, "--audio", str(wav), "--frame-ms", "20"], [])
    assert status == 0, out
    assert time.monotonic() - t0 >= 1.0
    assert sum(line.startswith("you (voice): ") for line in out.splitlines()) == 1, out


class SlowLines:
    """Piped input whose lines arrive with pauses, like a person typing."""

    def __init__(self, lines, pause: float):
        self.lines, self.pause = lines, pause

    def isatty(self) -> bool:
        return False

    def __iter__(self):
        for line in self.lines:
            time.sleep(self.pause)
            yield line + "\n"


@pytest.mark.slow
def test_remote_chat_survives_the_idle_timeout(models, tmp_path):
    from assistant import Assistant, AssistantConfig
    from server import ServerOptions, ServerThread

    db = str(tmp_path / "idle.db")
    config = AssistantConfig(db_path=db, idle_timeout_seconds=0.5)
    with ServerThread(Assistant(config, *models, Memory(db)), ServerOptions(port=0)) as srv:
        out = io.StringIO()
        status = terminal.main(["--url", srv.ws_url], stdin=SlowLines(["hello", "still there?"], 1.0), stdout=out)
    text = out.getvalue()
    assert status == 0, text
    assert len(reply_lines(text)) == 2, text  # the second turn went over a new connection
    with Memory(db) as memory:
        (conversation,) = memory.list_conversations()
        assert conversation["turn_count"] == 4  # both exchanges in the same conversation


def test_unreachable_server_is_one_line(capsys):
    port = free_port()  # nothing listens there
    status, out = run_chat(["--url", f"ws://127.0.0.1:{port}/v1/ws"], ["hello"])
    assert status == 2 and out == ""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"cannot reach the server at ws://127.0.0.1:{port}/v1/ws" in err


def test_wrong_token_is_refused(models, tmp_path, capsys):
    with serve(models, tmp_path / "s.db", token="sesame") as srv:
        status, _ = run_chat(["--url", srv.ws_url, "--token", "wrong"], ["hello"])
        assert status == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "refused the connection: HTTP 401" in err and "--token" in err
        status, out = run_chat(["--url", srv.ws_url, "--token", "sesame"], ["hello"])
        assert status == 0 and len(reply_lines(out)) == 1, out
        conversation = re.search(r"conversation (\w+)", out).group(1)
        status, out = run_chat(["--url", srv.ws_url, "--token", "sesame", "--conversation", conversation],
                               ["/history"])
        assert "  user: hello\n" in out  # stored history over HTTP, with the token


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ASSISTANT_DEMO_TRANSCRIPT"),
                    reason="set ASSISTANT_DEMO_TRANSCRIPT=docs/terminal-session.txt to remake the recorded session")
def test_record_terminal_session(tmp_path):
    """docs/terminal-session.txt: the shipped models (or ASSISTANT_DEMO_*_MODEL), a question spoken by
    espeak-ng, typed turns and /history, exactly as the piped chat prints them."""
    import shutil
    import subprocess

    from speech.audio import load_audio

    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng speaks the demo question; install it (apt-get install espeak-ng)")
    raw = tmp_path / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw),
                    os.environ.get("ASSISTANT_DEMO_QUESTION", "what is your name")], check=True)
    wav = tmp_path / "question.wav"
    sf.write(wav, load_audio(raw), SAMPLE_RATE)
    lines = ["hello", "tell me a joke", "/history", "/quit"]
    argv = ["--db", str(tmp_path / "session.db"), "--audio", str(wav),
            "--speech-model", os.environ.get("ASSISTANT_DEMO_SPEECH_MODEL", "en"),
            "--dialogue-model", os.environ.get("ASSISTANT_DEMO_DIALOGUE_MODEL", "en")]
    status, out = run_chat(argv, lines)
    assert status == 0, out
    out = out.replace(str(tmp_path / "session.db"), "data/assistant.db").replace(str(wav), "question.wav")
    models = [f"{flag} {value}" for flag, value in zip(argv[4::2], argv[5::2]) if value != "en"]
    command = "$ printf '" + "\\n".join(lines) + "\\n' | assistant chat " + " ".join(models + ["--audio question.wav"])
    Path(os.environ["ASSISTANT_DEMO_TRANSCRIPT"]).write_text(command + "\n" + out)
