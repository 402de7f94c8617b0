"""Generation and recognition never leak autograd/inference mode into the caller."""
import numpy as np
import torch

from dialogue.testing import tiny_model, tiny_tokenizer
from dialogue import DecodingOptions, Responder
from dialogue.decoding import generate_steps
from test_recognizer import make_recognizer


def test_suspended_reply_stream_leaves_grad_mode_alone():
    tok = tiny_tokenizer(["hello there", "how are you"])
    bot = Responder(tiny_model(len(tok)), tok, options=DecodingOptions(max_length=6))
    for options in (DecodingOptions(max_length=6), DecodingOptions(strategy="beam", beam_size=3, max_length=6)):
        for source in (bot.stream([], "hello there", options), generate_steps(bot.model, tok.encode("hello"), options)):
            next(source, None)  # suspended mid-reply, as the server does between ticks
            assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
            source.close()
            assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_recognizer_leaves_grad_mode_alone():
    rec = make_recognizer()
    stream = rec.stream()
    stream.feed(np.zeros(3200, dtype=np.float32))
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
