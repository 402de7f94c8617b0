"""Dialogue: LSTM encoder-decoder replies for the voice assistant."""

from .decoding import DecodingOptions, generate
from .model import Seq2Seq, Seq2SeqConfig
from .responder import Responder, ReplyStream
from .tokenizer import Tokenizer

Reply = ReplyStream  # the finished stream is the reply result (text, finish_reason, confidence)

__all__ = [
    "DecodingOptions",
    "Reply",
    "ReplyStream",
    "Responder",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Tokenizer",
    "generate",
]
