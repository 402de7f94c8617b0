"""The synchronous core: sessions, utterances, replies, barge-in, memory. Tiny untrained models built in
code (seeded, so their output is fixed), generated audio, a real SQLite file."""
import functools

import numpy as np
import pytest
import torch

from assistant import Assistant, AssistantConfig, Memory, ProtocolError

SR = 16000
# An untrained model writes whole words only when it samples; these options give a long reply of many
# pieces, slow enough to interrupt.
LONG_REPLY = {"strategy": "sample", "seed": 1, "temperature": 2.0, "min_length": 60, "max_length": 60}
SHORT_REPLY = {"strategy": "greedy", "max_length": 8}


@functools.lru_cache(maxsize=None)
def untrained_recognizer(**options):
    from speech.features import FeatureConfig
    from speech.model import AcousticConfig, AcousticModel
    from speech.recognizer import Recognizer
    from speech.vocab import Alphabet

    torch.manual_seed(0)
    return Recognizer(AcousticModel(AcousticConfig(hidden=16, layers=1)), Alphabet(), FeatureConfig(), beam_size=1,
                      **options)


@functools.lru_cache(maxsize=None)
def untrained_responder():
    from dialogue import DecodingOptions, Responder
    from dialogue.testing import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer(["hello there", "how are you", "what time is it", "fine thanks"])
    return Responder(tiny_model(len(tokenizer)), tokenizer, options=DecodingOptions(max_length=8))


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, vowel-like signal (harmonics of a gliding pitch with syllable-rate amplitude)."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.4 + 0.6 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.25 * voiced / np.abs(voiced).max()).astype(np.float32)


def utterance(lead: float = 0.5, speech: float = 1.0, tail: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = np.concatenate([np.zeros(int(lead * SR)), speech_like(speech, seed), np.zeros(int(tail * SR))])
    return (audio + rng.normal(0, 0.0005, audio.size)).astype(np.float32)


def frames(audio: np.ndarray, ms: int = 20):
    step = SR * ms // 1000
    return [audio[i:i + step] for i in range(0, audio.size, step)]


def make_assistant(db_path, **overrides) -> Assistant:
    config = AssistantConfig(db_path=str(db_path), silence_ms=300, decoding=dict(SHORT_REPLY), **overrides)
    return Assistant(config, untrained_recognizer(), untrained_responder(), Memory(db_path))


@pytest.fixture
def assistant(tmp_path):
    a = make_assistant(tmp_path / "a.db")
    yield a
    a.close()


def types(events):
    return [e["type"] for e in events]


def test_typed_turn_streams_and_is_stored(assistant):
    session = assistant.open_session()
    reply = session.respond("hello there")
    events = list(reply.events())
    assert types(events)[0] == "reply.started" and "utterance_id" not in events[0]
    assert types(events)[-2:] == ["reply.done", "metrics"]
    deltas = [e["text"] for e in events if e["type"] == "reply.delta"]
    done = events[-2]
    assert deltas and done["text"] == "".join(deltas) == reply.text
    assert done["finish_reason"] in ("eos", "length")
    assert events[-1]["final_to_first_token_ms"] > 0 and events[-1]["utterance_id"] is None
    turns = assistant.memory.export_conversation(session.conversation_id)["turns"]
    assert [(t["role"], t["text"]) for t in turns] == [("user", "hello there"), ("assistant", done["text"])]
    assert turns[0]["source"] == "text" and turns[1]["finish_reason"] == done["finish_reason"]
    assert session.history == ["hello there", done["text"]]


def test_pieces_iteration(assistant):
    session = assistant.open_session()
    pieces = list(session.respond("how are you"))
    assert "".join(pieces) == session.reply.text and session.reply.done


def test_voice_turn_client_vad(assistant):
    session = assistant.open_session(vad={"mode": "client"})
    events = []
    for frame in frames(utterance(lead=0.1, speech=0.8, tail=0.1)):
        events += session.feed_audio(frame)
    partials = [e for e in events if e["type"] == "transcript.partial"]
    assert partials, "the recognizer gave no partial transcript"
    assert all(0 <= p["stable_chars"] <= len(p["text"]) for p in partials)
    assert len(partials) >= 3 and len(partials[-1]["text"]) > len(partials[0]["text"])  # they grow
    for before, after in zip(partials, partials[1:]):  # and the stable prefix never changes
        assert after["text"].startswith(before["text"][:before["stable_chars"]])
    assert "vad.speech_started" not in types(events)  # the client does the VAD
    final = session.end_utterance()
    assert types(final) == ["transcript.final"]
    final = final[0]
    assert final["utterance_id"] == partials[0]["utterance_id"] and final["text"]
    assert isinstance(final["words"], list) and 0 <= final["confidence"] <= 1
    assert final["words"][0].keys() == {"word", "start", "end", "confidence"}
    reply_events = list(session.respond().events())
    assert reply_events[0] == {"type": "reply.started", "reply_id": session.reply.id,
                               "utterance_id": final["utterance_id"]}
    metrics = reply_events[-1]
    assert metrics["type"] == "metrics" and metrics["utterance_id"] == final["utterance_id"]
    assert metrics["audio_seconds"] == pytest.approx(1.0, abs=0.03)
    assert metrics["first_partial_ms"] > 0 and metrics["endpoint_to_final_ms"] > 0
    assert metrics["final_to_first_token_ms"] > 0 and metrics["compute_seconds"] > 0
    user = assistant.memory.recent_turns(session.conversation_id)[0]
    assert user["source"] == "voice" and user["text"] == final["text"]
    assert user["utterance_id"] == final["utterance_id"] and user["asr_words"] == final["words"]


def test_server_vad_detects_start_and_end(assistant):
    session = assistant.open_session()
    events = []
    for frame in frames(utterance(lead=0.6, speech=1.0, tail=1.0)):
        events += session.feed_audio(frame)
    kinds = types(events)
    assert kinds.count("vad.speech_started") == 1 and kinds.count("vad.speech_stopped") == 1
    assert kinds.index("vad.speech_started") < kinds.index("transcript.partial") < kinds.index("vad.speech_stopped")
    assert kinds[-1] == "transcript.final"  # finalised right after the end of speech
    started = events[kinds.index("vad.speech_started")]
    stopped = events[kinds.index("vad.speech_stopped")]
    assert started["audio_ms"] == pytest.approx(600, abs=60)
    assert stopped["audio_ms"] == pytest.approx(1600, abs=150)
    assert session.last_final is not None and not session.speaking


def test_silence_only_gives_no_utterance(assistant):
    session = assistant.open_session()
    events = []
    for frame in frames(np.zeros(SR, dtype=np.float32)):
        events += session.feed_audio(frame)
    assert events == []
    final = session.end_utterance()  # audio.end anyway: what was heard is recognised
    assert types(final)[0] == "transcript.final"


def test_no_audio(assistant):
    session = assistant.open_session(vad={"mode": "client"})
    with pytest.raises(ProtocolError) as info:
        session.end_utterance()
    assert info.value.code == "no_audio"


def test_batched_recognition_equals_one_by_one(tmp_path):
    a = make_assistant(tmp_path / "a.db")
    audio = [utterance(0.1, 0.8, 0.1, seed=1), utterance(0.1, 0.5, 0.1, seed=2)]
    alone = []
    for clip in audio:
        session = a.open_session(vad={"mode": "client"})
        for frame in frames(clip):
            session.feed_audio(frame)
        alone.append(session.end_utterance()[0]["text"])
    sessions = [a.open_session(vad={"mode": "client"}) for _ in audio]
    chunks = [frames(clip) for clip in audio]
    for i in range(max(map(len, chunks))):
        a.feed_many([(s, c[i]) for s, c in zip(sessions, chunks) if i < len(c)])
    together = [s.end_utterance()[0]["text"] for s in sessions]
    assert together == alone
    a.close()


def test_barge_in_keeps_only_delivered_text(assistant):
    session = assistant.open_session(vad={"mode": "client"}, reply=LONG_REPLY)
    reply = session.respond("tell me a story")
    delivered = []
    while len(delivered) < 2:
        delivered += [e["text"] for e in reply.step() if e["type"] == "reply.delta"]
    events = session.feed_audio(utterance(0.05, 0.2, 0.0))
    assert types(events)[:2] == ["reply.done", "metrics"]
    assert events[0]["finish_reason"] == "interrupted" and events[0]["text"] == "".join(delivered)
    assert reply.done and reply.step() == []
    stored = assistant.memory.recent_turns(session.conversation_id)
    assert stored[-1]["text"] == "".join(delivered) and stored[-1]["finish_reason"] == "interrupted"


def test_barge_in_with_server_vad(assistant):
    session = assistant.open_session(reply=LONG_REPLY)
    for frame in frames(np.zeros(SR // 2, dtype=np.float32)):  # the listener learns the noise floor
        assert session.feed_audio(frame) == []
    reply = session.respond("tell me a story")
    reply.step()
    reply.step()
    events = []
    for frame in frames(utterance(lead=0.0, speech=0.4, tail=0.0)):
        events += session.feed_audio(frame)
    kinds = types(events)
    assert kinds[:3] == ["reply.done", "metrics", "vad.speech_started"]
    assert events[0]["finish_reason"] == "interrupted" and events[0]["text"] == reply.text


def test_cancel(assistant):
    session = assistant.open_session(reply=LONG_REPLY)
    reply = session.respond("go on")
    reply.step()
    reply.step()
    with pytest.raises(ProtocolError) as info:
        session.cancel_reply("rep_nope")
    assert info.value.code == "unknown_reply"
    events = session.cancel_reply(reply.id)
    assert types(events) == ["reply.done", "metrics"] and events[0]["finish_reason"] == "cancelled"
    with pytest.raises(ProtocolError):
        session.cancel_reply()  # nothing streams any more
    assert assistant.memory.recent_turns(session.conversation_id)[-1]["text"] == reply.text


def test_new_turn_interrupts_streaming_reply(assistant):
    session = assistant.open_session(reply=LONG_REPLY)
    first = session.respond("one")
    first.step()
    second = session.respond("two")
    events = second.step()
    assert types(events)[:3] == ["reply.done", "metrics", "reply.started"]
    assert events[0]["reply_id"] == first.id and events[0]["finish_reason"] == "interrupted"


def test_resume_conversation(tmp_path):
    a = make_assistant(tmp_path / "a.db")
    session = a.open_session()
    reply = session.respond("remember the kitchen")
    list(reply.events())
    cid = session.conversation_id
    a.close()
    b = make_assistant(tmp_path / "a.db")  # a new process, the same file
    again = b.open_session(cid)
    assert again.resumed and again.conversation_id == cid
    assert again.history == ["remember the kitchen", reply.text]
    assert again.started_event()["resumed"] is True
    with pytest.raises(ProtocolError) as info:
        b.open_session("no-such-conversation")
    assert info.value.code == "unknown_conversation"
    b.close()


def test_update_settings(assistant):
    session = assistant.open_session()
    updated = session.update(asr={"hotwords": ["kitchen lights"], "partials": False},
                             vad={"silence_ms": 500, "sensitivity": "high"}, reply={"max_length": 5})
    assert updated["type"] == "session.updated"
    settings = updated["settings"]
    assert settings["asr"] == {"partials": False, "hotwords": ["kitchen lights"], "phrases": []}
    assert settings["vad"] == {"mode": "server", "silence_ms": 500, "sensitivity": "high"}
    assert settings["reply"]["max_length"] == 5
    assert session.update()["settings"] == settings  # an empty update changes nothing
    for bad in [{"reply": {"strategy": "telepathy"}}, {"reply": {"max_lenght": 3}},
                {"vad": {"silence_ms": 5}}, {"vad": {"mode": "psychic"}}, {"asr": {"hotwords": ["!!!"]}},
                {"asr": {"phrases": ["yes", "!!!"]}}, {"asr": {"phrases": ["x" * 300]}}]:
        with pytest.raises(ProtocolError) as info:
            session.update(**bad)
        assert info.value.code == "bad_field", bad
    assert session.settings.to_dict() == settings  # unchanged by the failures
    list(session.respond("hi").events())
    assert len(session.reply._stream.tokens) <= 5


def test_phrase_mode_transcripts_are_from_the_list(assistant):
    session = assistant.open_session(asr={"phrases": ["Yes", "no", "turn on the light"], "hotwords": ["kitchen"]},
                                     vad={"mode": "client"})
    assert session.settings.to_dict()["asr"]["phrases"] == ["Yes", "no", "turn on the light"]
    for frame in frames(utterance(0.1, 0.5, 0.1)):
        session.feed_audio(frame)
    final = [e for e in session.end_utterance() if e["type"] == "transcript.final"][0]
    assert final["text"] in {"yes", "no", "turn on the light", ""}
    session.update(asr={"phrases": []})  # back to open vocabulary (and the hot words)
    assert session.settings.phrases == ()


def test_partials_can_be_switched_off(assistant):
    session = assistant.open_session(asr={"partials": False}, vad={"mode": "client"})
    events = []
    for frame in frames(utterance(0.1, 0.5, 0.1)):
        events += session.feed_audio(frame)
    assert events == []
    assert types(session.end_utterance()) == ["transcript.final"]


def test_close_cancels_and_stores(assistant):
    session = assistant.open_session(reply=LONG_REPLY)
    reply = session.respond("bye")
    reply.step()
    events = session.close()
    assert events[0]["type"] == "reply.done" and events[0]["finish_reason"] == "cancelled"
    assert assistant.memory.check_integrity() == []
    with pytest.raises(RuntimeError):
        session.feed_audio(np.zeros(160, dtype=np.float32))


def test_bad_samples(assistant):
    session = assistant.open_session()
    with pytest.raises(ValueError):
        session.feed_audio(np.zeros((2, 160), dtype=np.float32))
    with pytest.raises(ValueError):
        session.feed_audio(np.zeros(160, dtype=np.int16))
    assert session.feed_audio(b"\x00\x00" * 160) == []  # PCM16 bytes are fine


def test_speech_int8_is_checked_and_loads_an_int8_recognizer(tmp_path, monkeypatch):
    from dialogue import Responder

    with pytest.raises(ValueError, match="speech_int8"):
        AssistantConfig(speech_int8="yes")
    saved = untrained_recognizer().save(tmp_path / "speech.pt")
    monkeypatch.setattr(Responder, "load", classmethod(lambda cls, name: untrained_responder()))
    loaded = Assistant.load(AssistantConfig(speech_model=str(saved), speech_int8=True, db_path=str(tmp_path / "a.db")))
    try:
        assert loaded.recognizer.quantize
        assert "quantized" in type(loaded.recognizer.model.rnn).__module__
    finally:
        loaded.close()
    # None (the default) leaves the choice to the checkpoint; False overrides a checkpoint that runs int8
    int8_saved = untrained_recognizer(quantize=True).save(tmp_path / "speech_int8.pt")
    for setting, expected in ((None, True), (False, False)):
        loaded = Assistant.load(AssistantConfig(speech_model=str(int8_saved), speech_int8=setting,
                                                db_path=str(tmp_path / "a.db")))
        try:
            assert loaded.recognizer.quantize is expected, setting
        finally:
            loaded.close()


def test_greedy_partials_keep_the_beam_finals(tmp_path):
    """greedy_partials (the default): partials by greedy decoding, the beam search beside them (here run
    late, as the server's search thread may) -- the finals equal those of the beam's own partials."""
    from speech.recognizer import Recognizer

    tiny = untrained_recognizer()
    recognizer = Recognizer(tiny.model, tiny.alphabet, tiny.features, beam_size=4)
    finals = {}
    for greedy in (False, True):
        config = AssistantConfig(db_path=str(tmp_path / f"{greedy}.db"), vad_mode="client", greedy_partials=greedy,
                                 decoding=dict(SHORT_REPLY))
        a = Assistant(config, recognizer, untrained_responder(), Memory(tmp_path / f"{greedy}.db"))
        waiting = []
        if greedy:
            a.search_later = waiting.extend
        sessions = [a.open_session() for _ in range(3)]
        clips = [utterance(0.2, 0.6 + 0.2 * i, 0.3, seed=i) for i in range(3)]
        events = [[] for _ in sessions]
        for k, chunks in enumerate(zip(*(frames(c, 100) for c in clips))):
            for i, e in enumerate(a.feed_many(list(zip(sessions, chunks)))):
                events[i].extend(e)
            if k % 3 == 2:  # the search thread catches up now and then
                for stream in waiting:
                    stream.decode_pending()
                waiting.clear()
        assert not greedy or all(s._utterance.stream.deferred for s in sessions)
        partials = [e for ev in events for e in ev if e["type"] == "transcript.partial"]
        assert not greedy or all(p["stable_chars"] == 0 for p in partials)
        finals[greedy] = [[e for e in s.end_utterance() if e["type"] == "transcript.final"][0] for s in sessions]
        a.close()
    assert any(f["text"] for f in finals[False]) and any(p["text"] for p in partials)
    strip = lambda f: {k: v for k, v in f.items() if k != "utterance_id"}  # noqa: E731
    assert [strip(f) for f in finals[True]] == [strip(f) for f in finals[False]]


def test_greedy_partials_must_be_a_bool(tmp_path):
    with pytest.raises(ValueError, match="greedy_partials"):
        AssistantConfig(greedy_partials="yes")
