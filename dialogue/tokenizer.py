"""Subword tokenizer for the reply model: sentencepiece with byte fallback.

Ids 0..4 are fixed: pad, unk, bos, eos and the turn separator, so a model and
its tokenizer agree without looking anything up. Byte fallback means any text
(emoji, other scripts) encodes without failing; the serialized model proto is a
plain ``bytes`` value that lives inside the checkpoint.
"""

from __future__ import annotations

import io
import logging
import struct
from typing import Iterable, Sequence

import sentencepiece as spm

logger = logging.getLogger(__name__)

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
SEP_ID = 4
SEP_PIECE = "<sep>"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


class Tokenizer:
    """Wraps a trained sentencepiece model with the project's special tokens."""

    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    sep_id = SEP_ID

    def __init__(self, model_proto: bytes):
        if not isinstance(model_proto, (bytes, bytearray)) or not model_proto:
            raise ValueError("Tokenizer needs a non-empty sentencepiece model proto (bytes)")
        self._proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self._proto)
        except Exception as err:  # sentencepiece raises RuntimeError/OSError variants
            raise ValueError(f"corrupt sentencepiece model proto: {err}") from err
        expected = {PAD_ID: "<pad>", UNK_ID: "<unk>", BOS_ID: "<s>", EOS_ID: "</s>", SEP_ID: SEP_PIECE}
        for idx, piece in expected.items():
            if idx >= self._sp.GetPieceSize() or self._sp.IdToPiece(idx) != piece:
                raise ValueError(f"sentencepiece model lacks special piece {piece!r} at id {idx}")
        # Ids the decoder must never emit as text (specials) and byte-fallback pieces.
        self.special_ids = (PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID)
        self.byte_ids = tuple(i for i in range(len(self)) if self._sp.IsByte(i))

    # ------------------------------------------------------------------ training
    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        model_type: str = "unigram",
        character_coverage: float = 0.9995,
        input_sentence_size: int = 2_000_000,
        seed: int = 0,
        symbols: Sequence[str] = (),
    ) -> "Tokenizer":
        """Train a tokenizer on ``texts``; ``vocab_size`` is an upper bound for tiny corpora.

        ``symbols`` (e.g. the action tags of ``dialogue.actions``) each become one piece, on top of
        ``vocab_size``."""
        if model_type not in ("unigram", "bpe"):
            raise ValueError(f"model_type={model_type!r}; valid choices: 'unigram', 'bpe'")
        if vocab_size < 300:
            # byte fallback alone takes 256 pieces
            raise ValueError(f"vocab_size={vocab_size} is too small; use at least 300 (256 byte pieces + specials)")
        sentences = [t.strip() for t in texts if t and t.strip()]
        if not sentences:
            raise ValueError("Tokenizer.train needs at least one non-empty text")
        buf = io.BytesIO()
        spm.set_random_generator_seed(seed)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buf,
            vocab_size=vocab_size + len(symbols),
            model_type=model_type,
            character_coverage=character_coverage,
            byte_fallback=True,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            user_defined_symbols=[SEP_PIECE, *symbols],
            hard_vocab_limit=False,
            input_sentence_size=input_sentence_size,
            shuffle_input_sentence=True,
            split_digits=True,
            num_threads=1,
            minloglevel=2,
        )
        tok = cls(buf.getvalue())
        logger.info("trained tokenizer: %d pieces on %d texts", len(tok), len(sentences))
        return tok

    def with_symbols(self, symbols: Iterable[str]) -> "Tokenizer":
        """This tokenizer plus ``symbols`` as whole pieces, appended after the existing ids.

        Existing ids keep their meaning, so a trained model only needs new embedding rows
        (``Seq2Seq.grow_vocab``). Symbols already present are skipped; returns ``self`` when none is new.
        """
        new = []
        for s in symbols:
            if not isinstance(s, str) or not s or any(c.isspace() for c in s):
                raise ValueError(f"a symbol must be a non-empty string without spaces, got {s!r}")
            if s not in new and self._sp.PieceToId(s) in (UNK_ID,) and s != "<unk>":
                new.append(s)
        if not new:
            return self
        # ModelProto field 1 is the repeated SentencePiece message (piece=1, score=2, type=3;
        # USER_DEFINED=4). Repeated fields may be appended to a serialized message, so no protobuf needed.
        extra = b"".join(_field(1, _field(1, s.encode("utf-8")) + b"\x15" + struct.pack("<f", 0.0) + b"\x18\x04")
                         for s in new)
        return Tokenizer(self._proto + extra)

    # ----------------------------------------------------------------- encoding
    def __len__(self) -> int:
        return self._sp.GetPieceSize()

    @property
    def vocab_size(self) -> int:
        return len(self)

    def to_bytes(self) -> bytes:
        return self._proto

    @classmethod
    def from_bytes(cls, data: bytes) -> "Tokenizer":
        return cls(data)

    def encode(self, text: str) -> list[int]:
        """Text -> piece ids (no bos/eos). Never fails: unknown characters become byte pieces."""
        return list(self._sp.EncodeAsIds(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(x) for x in self._sp.EncodeAsIds(list(texts))]

    def decode(self, ids: Iterable[int]) -> str:
        """Piece ids -> text; special ids are dropped (never rendered)."""
        keep = [int(i) for i in ids if int(i) not in self.special_ids and 0 <= int(i) < len(self)]
        return self._sp.DecodeIds(keep)

    def id_to_piece(self, idx: int) -> str:
        return self._sp.IdToPiece(int(idx))

    def piece_to_id(self, piece: str) -> int:
        return self._sp.PieceToId(piece)

    def starts_word(self, idx: int) -> bool:
        """True when the piece begins with the word-boundary marker."""
        return self._sp.IdToPiece(int(idx)).startswith("\u2581")
