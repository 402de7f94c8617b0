"""The beam search in a child process: the same hypotheses as in-process, interleaved streams, hot words,
and a stream that finishes from its own frames when the process dies."""
import os
import signal
import time

import numpy as np
import pytest
import torch

from speech import AcousticConfig, AcousticModel, Alphabet, FeatureConfig, Recognizer
from speech.decoder import BeamSearchDecoder
from speech.lm import NGramLM
from speech.search_process import SearchProcess, SearchUnavailable


def _lm():
    return NGramLM.build(["turn on the lights", "what time is it", "set a timer", "the time is late"], order=2)


def _log_probs(t, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, len(Alphabet()))).astype(np.float32) * 3
    x[:, 0] += 1.5  # blank-heavy, like a CTC model
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)


def _same(a, b):
    assert [(h.text, h.tokens) for h in a] == [(h.text, h.tokens) for h in b]
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-9)


@pytest.fixture(scope="module")
def decoder():
    return BeamSearchDecoder(Alphabet(), beam_size=6, lm=_lm(), lm_weight=0.5, word_bonus=1.0)


@pytest.fixture(scope="module")
def search(decoder):
    process = SearchProcess(decoder)
    yield process
    process.stop()


def test_interleaved_streams_equal_the_in_process_search(decoder, search):
    frames = {k: _log_probs(60 + 10 * k, seed=k) for k in range(3)}
    hotwords = {0: None, 1: ["lights"], 2: None}
    sids = {k: search.open(hotwords[k]) for k in frames}
    for start in range(0, 90, 7):  # pieces of all three in one message, as the server's tick sends them
        search.feed([(sids[k], x[start:start + 7]) for k, x in frames.items()])
    for k, x in frames.items():
        local = decoder.stream(hotwords[k])
        local.advance(x)
        _same(search.finish(sids[k]), local.finalize())
    assert search.utilization() > 0
    assert search.lag() >= 0


def test_unknown_and_closed_searches_fail_alone(search):
    with pytest.raises(SearchUnavailable, match="no open search"):
        search.finish(10_000)
    sid = search.open()
    search.feed([(sid, _log_probs(20, seed=9))])
    search.close(sid)
    with pytest.raises(SearchUnavailable):
        search.finish(sid)
    other = search.open()  # the process goes on
    search.feed([(other, _log_probs(20, seed=9))])
    assert search.finish(other)


def test_only_a_beam_search_runs_in_a_process():
    from speech.decoder import GreedyDecoder

    with pytest.raises(ValueError, match="BeamSearchDecoder"):
        SearchProcess(GreedyDecoder(Alphabet()))


def _recognizer(**options):
    torch.manual_seed(0)
    alphabet = Alphabet()
    model = AcousticModel(AcousticConfig(hidden=24, layers=2, vocab_size=len(alphabet)))
    with torch.no_grad():  # peaked outputs, blank pushed down: an untrained model that emits letters
        model.output.weight.mul_(8.0)
        model.output.bias[alphabet.BLANK] -= 2.0
    return Recognizer(model, alphabet, FeatureConfig(), lm=_lm(), beam_size=6, **options)


def _noise(seconds, seed):
    return (0.2 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32)


def _stream_all(rec, clips, kill_after=None):
    streams = [rec.stream(defer_search=True) for _ in clips]
    for k in range(0, max(c.size for c in clips), 1600):
        rec.feed_many([(s, c[k:k + 1600]) for s, c in zip(streams, clips) if c.size > k])
        if k % 3200:
            rec.decode_pending_many(streams)  # the server's tick: all streams' frames in one message
        else:
            for s in streams:
                s.decode_pending()
        if kill_after is not None and k >= kill_after:
            os.kill(rec.search_process.pid, signal.SIGKILL)
            kill_after = None
    return [s.finish().to_dict() for s in streams]


def test_a_recognizer_with_a_search_process_gives_the_same_finals_and_survives_its_death():
    clips = [_noise(1.0 + 0.4 * i, seed=i) for i in range(3)]
    rec = _recognizer()
    expected = _stream_all(rec, clips)
    assert any(e["text"] for e in expected)
    assert rec.start_search_process()
    try:
        assert _stream_all(rec, clips) == expected
        # the process dies mid-utterance: each stream decodes the frames it kept, the finals are the same
        assert _stream_all(rec, clips, kill_after=8000) == expected
        deadline = time.monotonic() + 10
        while rec.search_process is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.search_process is None  # later streams search in this process
        assert _stream_all(rec, clips) == expected
    finally:
        rec.stop_search_process()


def test_changed_settings_or_no_beam_keep_the_search_in_process():
    rec = _recognizer()
    assert rec.start_search_process()
    try:
        assert rec.stream(defer_search=True)._remote is not None
        rec.lm_weight = 0.9  # the process has the old settings: new streams search here
        assert rec.stream(defer_search=True)._remote is None
    finally:
        rec.stop_search_process()
    greedy = _recognizer()
    greedy.lm, greedy.beam_size = None, 1
    assert not greedy.start_search_process()
