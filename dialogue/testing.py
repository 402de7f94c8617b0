"""Tiny, quickly trained responders for tests (ours and other packages'): no files, a few seconds of CPU."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch.nn import functional as F

from .actions import ACTION_SYMBOLS, is_action
from .decoding import DecodingOptions
from .model import Seq2Seq, Seq2SeqConfig
from .responder import Responder
from .text import build_source, clean_target, normalize_input
from .tokenizer import EOS_ID, PAD_ID, Tokenizer
from .train import collate

TINY_PAIRS = (
    ("hello there", "Hi, nice to see you."),
    ("how are you", "I am fine, thanks for asking."),
    ("tell me a joke", "Why did the robot cross the road? To recharge."),
)
_FILLER = (
    "what is your name",
    "good morning to you",
    "the weather is nice today",
    "I like music and books",
    "see you later",
    "thank you very much",
)


def tiny_tokenizer(texts: Sequence[str] = (), vocab_size: int = 320, symbols: Sequence[str] = ()) -> Tokenizer:
    corpus = list(texts) + [normalize_input(t) for t in texts] + list(_FILLER) * 3
    return Tokenizer.train(corpus * 4, vocab_size=vocab_size, symbols=symbols)


def tiny_model(vocab_size: int, seed: int = 0, **overrides) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=vocab_size, embed_dim=32, encoder_hidden=32, decoder_hidden=64, dropout=0.0)
    cfg.update(overrides)
    return Seq2Seq(Seq2SeqConfig(**cfg))


def overfit_responder(
    pairs: Sequence[tuple[str, str]] = TINY_PAIRS,
    steps: int = 150,
    seed: int = 0,
    options: Optional[DecodingOptions] = None,
    **model_overrides,
) -> Responder:
    """A responder that has memorised ``pairs`` (prompt -> reply, single turn; a reply may be action markup)."""
    texts = [t for p in pairs for t in p]
    tok = tiny_tokenizer(texts, symbols=ACTION_SYMBOLS if any(is_action(r) for _, r in pairs) else ())
    model = tiny_model(len(tok), seed, **model_overrides)
    responder = Responder(model, tok, history_turns=2, max_source_tokens=32, options=options)
    srcs = [build_source(tok, [], p, 2, 32) for p, _ in pairs]
    tgts = [tok.encode(r if is_action(r) else clean_target(r)) + [EOS_ID] for _, r in pairs]
    src, lengths, tgt_in, tgt_out = collate(list(zip(srcs, tgts)), list(range(len(pairs))), torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        logits = model(src, lengths, tgt_in)  # (B,T,V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return responder
