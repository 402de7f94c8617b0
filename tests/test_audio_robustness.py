"""Audio that is not speech: silence, noise, clipping, DC offset, extreme levels, NaN and infinity.

The shipped model (`Recognizer.load("en")`) must write nothing on silence and noise; no output may hold NaN.
NaN or infinite float samples are refused with a ValueError (not repaired), by the recognizer and by the
assistant's sessions, and leave the session usable. PCM16 on the wire cannot carry NaN; its extreme values
go through the server like any audio.
"""
import math

import numpy as np
import pytest

from test_pipeline import make_assistant, utterance
from test_server import Client, running

SR = 16000


def non_speech() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 2 * SR
    t = np.arange(n) / SR
    return {
        "silence": np.zeros(n, np.float32),
        "very quiet noise": rng.normal(0, 1e-5, n).astype(np.float32),
        "white noise": rng.normal(0, 0.05, n).astype(np.float32),
        "loud white noise": rng.normal(0, 0.3, n).astype(np.float32),
        "clipped noise": np.clip(rng.normal(0, 1.0, n), -1, 1).astype(np.float32),
        "dc offset": np.full(n, 0.3, np.float32),
        "dc offset and noise": (0.5 + rng.normal(0, 0.01, n)).astype(np.float32),
        "full-scale extremes": np.tile(np.array([-1.0, 32767 / 32768], np.float32), n // 2),
        "low hum": (0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
    }


def finite_everywhere(result) -> bool:
    values = [result.confidence] + [v for w in result.words for v in (w.start, w.end, w.confidence)]
    values += [a.confidence for a in getattr(result, "alternatives", [])]
    return all(math.isfinite(float(v)) for v in values)


@pytest.fixture(scope="module")
def shipped():
    from speech import Recognizer

    return Recognizer.load("en")


@pytest.mark.parametrize("name", list(non_speech()))
def test_shipped_model_writes_nothing_on_non_speech(shipped, name):
    audio = non_speech()[name]
    result = shipped.transcribe(audio)
    assert result.text == "" and finite_everywhere(result), (name, result.text, result.confidence)
    stream = shipped.stream()
    for i in range(0, audio.size, 3200):  # streamed in 200 ms chunks, as a client would
        partial = stream.feed(audio[i:i + 3200])
        assert partial.text == "", (name, partial.text)
    final = stream.finish()
    assert final.text == "" and finite_everywhere(final)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_recognizer_refuses_nan_and_infinity(shipped, bad):
    audio = utterance(0.1, 0.3, 0.1)
    audio[123] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        shipped.transcribe(audio)
    stream = shipped.stream()
    with pytest.raises(ValueError, match="NaN or infinite"):
        stream.feed(audio)
    stream.feed(np.zeros(1600, np.float32))  # the stream goes on
    assert finite_everywhere(stream.finish())


@pytest.mark.parametrize("mode", ["client", "server"])
def test_session_refuses_nan_and_stays_usable(tmp_path, mode):
    assistant = make_assistant(tmp_path / "a.db")
    try:
        session = assistant.open_session(vad={"mode": mode})
        other = assistant.open_session(vad={"mode": mode})
        bad = utterance(0.1, 0.3, 0.1)
        bad[50] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite"):
            session.feed_audio(bad)
        with pytest.raises(ValueError, match="NaN or infinite"):  # in a batch: nothing of it is used
            assistant.feed_many([(other, utterance(0.1, 0.3, 0.1)), (session, np.full(160, np.inf, np.float32))])
        assert not other.speaking and not session.speaking
        events = session.feed_audio(utterance(0.1, 0.5, 0.1)) + session.end_utterance()
        final = [e for e in events if e["type"] == "transcript.final"][-1]
        assert math.isfinite(final["confidence"])
    finally:
        assistant.close()


def test_extreme_pcm16_on_the_wire(tmp_path):
    """Full-scale, clipped and DC PCM16 frames: finals with finite numbers (the server's JSON refuses NaN)."""
    with running(tmp_path) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start(vad={"mode": "client"})
        for pcm in (np.tile(np.array([-32768, 32767], "<i2"), 8000), np.full(16000, 32767, "<i2"),
                    np.full(16000, -32768, "<i2"), np.zeros(16000, "<i2")):
            for i in range(0, pcm.size, 3200):
                c.send(pcm[i:i + 3200].tobytes())
            c.send({"type": "audio.end"})
            final = c.until("transcript.final")[-1]
            assert math.isfinite(final["confidence"])
            assert all(math.isfinite(w["confidence"]) for w in final["words"])
        c.send({"type": "ping"})
        assert c.until("pong")[-1]["type"] == "pong"
        c.close()
