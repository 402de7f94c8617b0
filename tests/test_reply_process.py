"""Replies from a child process (assistant.reply_process): the same pieces as the responder in this process."""
import pytest

from assistant.reply_process import RemoteResponder
from server import ServerOptions
from test_pipeline import untrained_responder, utterance
from test_server import Client, running


@pytest.fixture(scope="module")
def remote():
    r = RemoteResponder(untrained_responder())
    yield r
    r.close()


@pytest.mark.parametrize("options", [None, {"strategy": "greedy", "max_length": 12},
                                     {"strategy": "beam", "beam_size": 3, "max_length": 10}])
def test_same_reply_as_in_this_process(remote, options):
    local = untrained_responder()
    for history, text in [([], "hello there"), (["how are you", "fine thanks"], "what time is it")]:
        a, b = local.start(history, text, options), remote.start(history, text, options)
        assert list(b) == list(a)
        assert b.text == a.text and b.finish_reason == a.finish_reason and b.done
        assert b.confidence == pytest.approx(a.confidence)


def test_bad_options_fail_here_and_close_stops_delivery(remote):
    with pytest.raises(ValueError):
        remote.start([], "hello", {"strategy": "telepathy"})
    stream = remote.start([], "hello there", {"strategy": "greedy", "max_length": 12})
    first = next(stream)
    stream.close()
    assert stream.finish_reason == "cancelled" and stream.text == first
    with pytest.raises(StopIteration):
        next(stream)
    assert remote.options == untrained_responder().options  # other attributes: the local responder's


def test_server_with_a_reply_process(tmp_path):
    with running(tmp_path, ServerOptions(port=0, reply_processes=1)) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start()
        c.pcm(utterance())
        c.send({"type": "audio.end"})
        kinds = [e["type"] for e in c.until("metrics")]
        assert kinds.index("transcript.final") < kinds.index("reply.started") < kinds.index("reply.done")
        assert any(e["type"] == "reply.delta" for e in c.events)
        c.send({"type": "text.input", "text": "hello there"})
        done = [e for e in c.until("reply.done") if e["type"] == "reply.done"][0]
        assert done["text"] and done["finish_reason"] in ("eos", "length")
        c.close()
