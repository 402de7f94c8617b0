"""Dialogue: LSTM encoder-decoder replies for the voice assistant.

The model names load torch on first use, so `dialogue.actions` (the action markup grammar) stays
importable by code that never runs a model (the assistant's skills, `assistant history`).
"""

from importlib import import_module

_NAMES = {
    "DecodingOptions": "decoding",
    "generate": "decoding",
    "Seq2Seq": "model",
    "Seq2SeqConfig": "model",
    "Responder": "responder",
    "ReplyStream": "responder",
    "Tokenizer": "tokenizer",
    "Action": "actions",
    "parse_action": "actions",
    "format_action": "actions",
}

__all__ = [
    "Action",
    "DecodingOptions",
    "Reply",
    "ReplyStream",
    "Responder",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Tokenizer",
    "format_action",
    "generate",
    "parse_action",
]


def __getattr__(name: str):
    if name == "Reply":  # the finished stream is the reply result (text, finish_reason, confidence)
        name = "ReplyStream"
    if name not in _NAMES:
        raise AttributeError(f"module 'dialogue' has no attribute {name!r}")
    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
