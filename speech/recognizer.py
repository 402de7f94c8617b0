"""The `Recognizer` bundle: features + acoustic model + alphabet + decoder (+ word LM).

One object that a caller loads once and uses for whole files (`transcribe`) or for
live audio (`stream` → `feed`... → `finish`). Streaming and offline recognition run
the same code path, so a streamed utterance gives the same text as the whole file.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .audio import SAMPLE_RATE, validate_samples
from .decoder import BeamSearchDecoder, BeamSearchStream, GreedyDecoder, Hypothesis, PhraseDecoder
from .features import FeatureConfig, FeatureExtractor, StreamingFeaturizer, feed_many as _feed_features
from .lm import NGramLM
from .model import AcousticConfig, AcousticModel
from .search_process import SearchProcess, SearchUnavailable
from .vocab import Alphabet, normalize_text

__all__ = ["Recognizer", "RecognitionStream", "Transcript", "Word", "Alternative", "Partial", "available_models"]

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
CHECKPOINT_FORMAT = "speech-ctc"
CHECKPOINT_VERSION = 1


@dataclass
class Word:
    word: str
    start: float  # seconds from the start of the utterance
    end: float  # seconds
    confidence: float  # 0..1


@dataclass
class Alternative:
    text: str
    confidence: float


@dataclass
class Transcript:
    text: str
    confidence: float  # 0..1 for the whole utterance
    words: list[Word] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)  # n-best after the first
    duration: float = 0.0  # seconds of audio recognised

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "duration": round(self.duration, 3),
            "words": [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3), "confidence": round(w.confidence, 4)}
                for w in self.words
            ],
            "alternatives": [{"text": a.text, "confidence": round(a.confidence, 4)} for a in self.alternatives],
        }


@dataclass
class Partial:
    text: str  # the best hypothesis so far
    stable_chars: int  # len of the prefix of `text` that will not change any more
    blank_probs: np.ndarray | None = None  # per new output frame, P(blank): evidence for end-of-speech


def available_models() -> list[str]:
    """Names accepted by `Recognizer.load` besides checkpoint paths."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def _read_checkpoint(source: str | os.PathLike) -> tuple[dict, Path]:
    path = Path(source)
    if not path.suffix and not path.exists():  # a shipped name like "en"
        path = PRETRAINED_DIR / f"{source}.pt"
    if not path.is_file():
        names = ", ".join(available_models()) or "none shipped"
        raise FileNotFoundError(f"no speech model at {source!r}: give a checkpoint path or one of: {names}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a non-checkpoint file
        raise ValueError(f"{path} is not a readable speech checkpoint ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a speech checkpoint (format must be {CHECKPOINT_FORMAT!r})")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {ckpt.get('version')!r}; this code reads {CHECKPOINT_VERSION}")
    return ckpt, path


# What a checkpoint may store for `Recognizer.load` to use (explicit arguments win): the decoder's
# numbers, and `quantize` (True/False), which the shipped model sets.
DECODING_SETTINGS = ("beam_size", "lm_weight", "word_bonus", "unk_penalty", "phrase_margin", "end_pad", "quantize",
                     "min_confidence")
MAX_END_PAD = 2.0  # seconds; more only costs time
END_PAD_LEVEL = 1e-4  # RMS of the end pad: -80 dBFS, the quietest room tone training pads clips with


def _decoding_settings(ckpt: dict, path: Path) -> dict:
    """The checkpoint's saved decoder settings (older checkpoints have none: the defaults apply)."""
    saved = ckpt.get("decoding") or {}
    if not isinstance(saved, dict) or set(saved) - set(DECODING_SETTINGS):
        raise ValueError(f"{path}: 'decoding' must map some of {list(DECODING_SETTINGS)} to values, got {saved!r}")
    for name, value in saved.items():
        if name == "quantize":
            if not isinstance(value, bool):
                raise ValueError(f"{path}: decoding setting quantize must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: decoding setting {name} must be a number, got {value!r}")
    return dict(saved)


def write_decoding(source: str | os.PathLike, settings: dict) -> Path:
    """Store decoder settings (names in DECODING_SETTINGS) in a checkpoint, leaving everything else as it was.

    `source` is a shipped model name or a checkpoint path; returns the file written. The values are
    checked by loading the result, so a bad one never reaches the file.
    """
    ckpt, path = _read_checkpoint(source)
    unknown = set(settings) - set(DECODING_SETTINGS)
    if unknown:
        raise ValueError(f"unknown decoding settings {sorted(unknown)}; known: {list(DECODING_SETTINGS)}")
    ckpt["decoding"] = {**(ckpt.get("decoding") or {}), **settings}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    try:
        Recognizer.load(tmp, lm=None)
    except ValueError:
        tmp.unlink()
        raise
    os.replace(tmp, path)
    return path


def _load_lm(source: str | os.PathLike | NGramLM | None) -> NGramLM | None:
    if source is None or isinstance(source, NGramLM):
        return source
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no language model at {str(source)!r} (expected an ARPA file)")
    return NGramLM.load_arpa(path)


def _check_end_pad(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_END_PAD:
        raise ValueError(f"end_pad must be a number of seconds from 0 to {MAX_END_PAD}, got {value!r}")


class Recognizer:
    """Speech to text with a streaming LSTM-CTC model.

    beam_size 1 means greedy decoding (fastest); larger sizes run CTC prefix beam
    search, with the word LM when one is given, hot words and n-best alternatives.
    lm_weight, word_bonus and unk_penalty (natural log, added to each word outside the LM's
    vocabulary) are the beam search's scoring (see speech.decoder); the shipped model stores the
    values `scripts/tune_decoder.py` chose, with beam_size and phrase_margin, in its checkpoint.

    end_pad: seconds of near-silence (-80 dBFS noise) appended to every utterance before decoding,
    in `transcribe` and when a stream finishes. A one-way LSTM trained with CTC emits a sound's
    letters a few frames after hearing it, so on a clip cut tight after the last word those letters
    never come out ("seven" -> "see"); the pad gives the model the frames to emit them. Word times
    stay within the real audio.

    min_confidence: a final transcript less confident than this (`Transcript.confidence`, 0-1: the mean
    posterior of its characters times, in beam search, its share of the final beam) comes out empty,
    with the hypotheses as its alternatives: the model's guess at a word in loud noise or clipping is
    thousands of times less confident than anything it says on speech. 0 keeps every transcript.

    quantize: run the acoustic model's LSTM and linear layers with int8 weights (PyTorch dynamic
    quantization, one scale per weight row; activations stay float). Streaming one utterance is
    memory-bound, reading every weight for each 30 ms frame, so a quarter of the bytes makes the
    shipped model's stream about 3x faster on one thread (greedy RTF 0.060 -> 0.020 on an AMD EPYC
    core) at the same beam+LM WER (see its model card). Off for a model built in code; the shipped
    model's checkpoint turns it on, so `Recognizer.load("en")` runs int8 unless given quantize=False.
    Where PyTorch has no quantized engine (`torch.backends.quantized.supported_engines`), a logged
    warning says so and the float model runs.
    Activations are scaled to int8 per model call, so a streamed result can differ slightly from
    `transcribe` of the same audio (the float model's are equal). CPU only; `save` writes the float
    weights (`float_model`).
    """

    def __init__(
        self,
        model: AcousticModel,
        alphabet: Alphabet,
        features: FeatureConfig | None = None,
        lm: NGramLM | None = None,
        *,
        beam_size: int = 8,
        lm_weight: float = 0.5,
        word_bonus: float = 1.0,
        unk_penalty: float = -5.0,
        hotword_boost: float = 4.0,
        n_best: int = 3,
        phrase_margin: float = 4.0,
        end_pad: float = 0.15,
        metrics: dict | None = None,
        quantize: bool = False,
        min_confidence: float = 0.0,
    ):
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
        # The decoder checks its settings; build one now so a bad value fails here, not at the first utterance.
        BeamSearchDecoder(alphabet, beam_size=beam_size, lm_weight=lm_weight, word_bonus=word_bonus,
                          unk_penalty=unk_penalty, hotword_boost=hotword_boost, n_best=n_best)
        PhraseDecoder.check_margin(phrase_margin)
        _check_end_pad(end_pad)
        if not isinstance(quantize, bool):
            raise ValueError(f"quantize must be True or False, got {quantize!r}")
        if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)) \
                or not 0.0 <= min_confidence < 1.0:
            raise ValueError(f"min_confidence must be a number from 0 up to (not including) 1, got {min_confidence!r}")
        if model.config.vocab_size != len(alphabet):
            raise ValueError(f"model outputs {model.config.vocab_size} symbols but the alphabet has {len(alphabet)}")
        self.quantize = quantize
        self.model = model  # the setter keeps the float weights and, with quantize, an int8 copy
        self.alphabet = alphabet
        self.features = features or FeatureConfig()
        if self.features.n_mels != model.config.n_mels:
            raise ValueError(f"features give {self.features.n_mels} mels but the model expects {model.config.n_mels}")
        self.lm = lm
        self.beam_size = beam_size
        self.lm_weight = lm_weight
        self.word_bonus = word_bonus
        self.unk_penalty = unk_penalty
        self.hotword_boost = hotword_boost
        self.n_best = n_best
        self.phrase_margin = phrase_margin
        self.end_pad = float(end_pad)
        self.min_confidence = float(min_confidence)
        self.metrics = dict(metrics or {})
        self._extractor = FeatureExtractor(self.features)
        self._search = None  # a SearchProcess for deferred streams' beam search (start_search_process)
        self._search_key = None

    @property
    def model(self) -> AcousticModel:
        """The acoustic model that runs: the float model, or its int8 copy when quantize is set."""
        return self._model

    @property
    def float_model(self) -> AcousticModel:
        """The float32 acoustic model (the one `save` writes), also when `model` is its int8 copy."""
        return self._float_model

    @model.setter
    def model(self, model: AcousticModel) -> None:
        self._float_model = model.eval()  # what save() writes, also when running quantized
        self._model = self._float_model
        if self.quantize:
            try:
                self._model = _int8(self._float_model)
            except RuntimeError as exc:  # no quantized engine on this platform: slower, not broken
                log.warning("int8 weights are not available here (%s); running the float model", exc)
                self.quantize = False

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, source: str | os.PathLike = "en", *, lm: str | os.PathLike | NGramLM | None = None,
             quantize: bool | None = None, **options) -> "Recognizer":
        """Load a shipped model by name ("en") or a checkpoint path.

        The word LM comes from `lm` when given, else from an ARPA file next to the
        checkpoint with the same stem (`en.arpa` or `en.arpa.gz`). quantize None keeps the
        checkpoint's choice (the shipped model runs int8); True or False overrides it.
        """
        ckpt, path = _read_checkpoint(source)
        if quantize is not None:
            options["quantize"] = quantize
        options = {**_decoding_settings(ckpt, path), **options}  # what the caller asks for wins
        config = AcousticConfig.from_dict(ckpt["acoustic_config"])
        model = AcousticModel(config)
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not match the model config ({exc})") from exc
        language_model = _load_lm(lm)
        if language_model is None:
            beside = [p for p in (path.with_suffix(".arpa"), path.with_suffix(".arpa.gz")) if p.is_file()]
            language_model = NGramLM.load_arpa(beside[0]) if beside else None
        return cls(
            model,
            Alphabet.from_list(ckpt["alphabet"]),
            FeatureConfig.from_dict(ckpt["feature_config"]),
            language_model,
            metrics=ckpt.get("metrics"),
            **options,
        )

    def save(self, path: str | os.PathLike, *, half: bool = False) -> Path:
        """Write an inference checkpoint atomically (a plain dict, weights_only-loadable)."""
        state = {k: (v.half() if half and v.is_floating_point() else v.clone())
                 for k, v in self._float_model.state_dict().items()}
        ckpt = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "acoustic_config": self._float_model.config.to_dict(),
            "feature_config": self.features.to_dict(),
            "alphabet": self.alphabet.to_list(),
            "state_dict": state,
            "metrics": self.metrics,
            # the decoder settings this model was tuned with (scripts/tune_decoder.py); load() uses them
            "decoding": {name: getattr(self, name) for name in DECODING_SETTINGS},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------------ the search process
    def _search_settings(self) -> tuple:
        return (self.beam_size, id(self.lm), self.lm_weight, self.word_bonus, self.unk_penalty, self.hotword_boost,
                self.n_best)

    def start_search_process(self) -> bool:
        """Run the beam search of `defer_search` streams in a child process (`speech.search_process`),
        so it uses another core than the acoustic model and the caller's Python. The decoder settings
        are copied now: a stream started after they change searches in this process again. False (and
        nothing started) when this recognizer has no beam search (greedy, no LM, no hot words)."""
        if self._search is not None and self._search.alive:
            return True
        decoder = self._decoder(None)
        if not isinstance(decoder, BeamSearchDecoder):
            return False
        self._search, self._search_key = SearchProcess(decoder), self._search_settings()
        return True

    def stop_search_process(self) -> None:
        """Stop the search process; streams it still holds finish from the frames they kept."""
        if self._search is not None:
            self._search.stop()
            self._search = None

    def decode_pending_many(self, streams: Iterable["RecognitionStream"]) -> None:
        """`decode_pending()` of each stream, with the frames of all streams searched in the search process
        sent to it in one message (a server tick has new frames for tens of streams)."""
        remote, items = [], []
        for stream in streams:
            if stream._remote is None or stream._remote is not self._search:
                stream.decode_pending()
                continue
            with stream._search_lock:
                items.extend(stream._hand_over())
            remote.append(stream)
        if items:
            try:
                self._search.feed(items)
            except SearchUnavailable:
                for stream in remote:
                    with stream._search_lock:
                        stream._search_here()

    @property
    def search_process(self):
        """The running `SearchProcess`, or None."""
        return self._search if self._search is not None and self._search.alive else None

    # ------------------------------------------------------------------ decoding
    @property
    def frame_shift(self) -> float:
        """Seconds per output frame of the acoustic model."""
        return self.model.frame_shift_seconds

    def _decoder(self, hotwords: Sequence[str] | None, phrases: Sequence[str] | None = None):
        hotwords = _normalize_phrases(hotwords)
        if phrases is not None:
            if hotwords:
                raise ValueError("give hotwords or phrases, not both (with phrases the result is one of them)")
            return PhraseDecoder(self.alphabet, _normalize_phrases(phrases, "phrases"),
                                 reject_margin=self.phrase_margin, n_best=self.n_best)
        if self.beam_size == 1 and not hotwords and self.lm is None:
            return GreedyDecoder(self.alphabet)
        return BeamSearchDecoder(
            self.alphabet,
            beam_size=self.beam_size,
            lm=self.lm,
            lm_weight=self.lm_weight,
            word_bonus=self.word_bonus,
            unk_penalty=self.unk_penalty,
            hotwords=tuple(hotwords),
            hotword_boost=self.hotword_boost,
            n_best=self.n_best,
        )

    def _transcript(self, hyps: list[Hypothesis], duration: float) -> Transcript:
        if not hyps:
            return Transcript("", 0.0, duration=duration)
        best, shift = hyps[0], self.frame_shift
        if best.text and best.confidence < self.min_confidence:  # a guess in noise, not speech: say nothing
            return Transcript("", 0.0, [], [Alternative(h.text, float(h.confidence)) for h in hyps], duration)
        words = [  # a word the end pad let out still ends within the audio
            Word(w.word, min(w.start_frame * shift, duration), min((w.end_frame + 1) * shift, duration),
                 float(w.confidence)) for w in best.words
        ]
        alternatives = [Alternative(h.text, float(h.confidence)) for h in hyps[1:]]
        return Transcript(best.text, float(best.confidence), words, alternatives, duration)

    def end_padding(self) -> np.ndarray:
        """The quiet samples appended to each utterance (`end_pad` seconds; the same every time)."""
        _check_end_pad(self.end_pad)  # also when set after construction
        n = int(round(self.end_pad * SAMPLE_RATE))
        return (END_PAD_LEVEL * np.random.default_rng(0).standard_normal(n)).astype(np.float32)

    @torch.inference_mode()
    def log_probs(self, samples: np.ndarray) -> np.ndarray:
        """Per-frame log posteriors (T', V) of a whole utterance, its end pad included (what the decoder reads)."""
        samples = validate_samples(samples)
        if samples.size:
            samples = np.concatenate([samples, self.end_padding()])
        feats = self._extractor(samples)  # (T, F)
        if feats.shape[0] == 0:
            return np.zeros((0, len(self.alphabet)), dtype=np.float32)
        log_probs, out_lengths, _ = self.model(feats[None], torch.tensor([feats.shape[0]]))  # (1, T', V)
        return log_probs[0, : int(out_lengths[0])].numpy()

    def transcribe(self, samples: np.ndarray, hotwords: Sequence[str] | None = None,
                   phrases: Sequence[str] | None = None) -> Transcript:
        """Recognise one whole utterance (float32 mono at 16 kHz).

        hotwords: words or phrases to favour. phrases: a closed list (command mode): the text is
        the best-fitting phrase, or "" when none fits (the closest ones are the alternatives).
        """
        samples = validate_samples(samples)
        if samples.size == 0:
            raise ValueError("cannot transcribe empty audio (0 samples)")
        hyps = self._decoder(hotwords, phrases).decode(self.log_probs(samples))
        return self._transcript(hyps, samples.size / SAMPLE_RATE)

    def stream(self, hotwords: Sequence[str] | None = None, phrases: Sequence[str] | None = None, *,
               defer_search: bool = False) -> "RecognitionStream":
        """Start recognising one utterance fed in chunks (hotwords, phrases: as in `transcribe`).

        defer_search: partials come from greedy decoding of the new frames (cheap: an argmax per
        frame), and the beam search (+ LM) gets the frames later, from `decode_pending()` (another
        thread may call it) or at the latest from `finish()`. The final transcript is the same as
        without it; only the partials differ (greedy text, `stable_chars` 0). Without a beam search
        (greedy recognizer, phrase list) it changes nothing."""
        return RecognitionStream(self, hotwords, phrases, defer_search=defer_search)

    @torch.inference_mode()
    def feed_many(self, work: Iterable[tuple["RecognitionStream", np.ndarray]]) -> list[Partial]:
        """Feed many streams with one batched model call (the server's per-tick step).

        The features of all streams are computed with one transform call (`speech.features.feed_many`,
        equal to each stream's own), then one acoustic model call over the padded batch."""
        work = list(work)
        streams = [stream for stream, _ in work]
        for stream in streams:
            stream._check_open()
        feats = _feed_features([stream._featurizer for stream in streams], [samples for _, samples in work])
        for stream, (_, samples) in zip(streams, work):
            stream._samples += np.size(samples)
        return self._run(streams, feats)

    @torch.inference_mode()
    def _run(self, streams: list["RecognitionStream"], feats: list[torch.Tensor]) -> list[Partial]:
        """The acoustic model over each stream's new feature frames, one batch, then each stream's decoder."""
        active = [i for i, f in enumerate(feats) if f.shape[0] > 0]
        outputs: dict[int, np.ndarray] = {}
        if active:
            lengths = torch.tensor([feats[i].shape[0] for i in active])
            batch = torch.nn.utils.rnn.pad_sequence([feats[i] for i in active], batch_first=True)  # (B, T, F)
            state = self.model.batch_states([streams[i]._state for i in active])
            log_probs, out_lengths, state = self.model(batch, lengths, state)  # (B, T', V)
            for j, (i, item_state) in enumerate(zip(active, self.model.split_state(state))):
                streams[i]._state = item_state
                outputs[i] = log_probs[j, : int(out_lengths[j])].detach().numpy()
        return [stream._advance(outputs.get(i)) for i, stream in enumerate(streams)]


class RecognitionStream:
    """One utterance being recognised incrementally. One owner feeds it; with `defer_search`, another
    thread may call `decode_pending()` at the same time."""

    def __init__(self, recognizer: Recognizer, hotwords: Sequence[str] | None = None,
                 phrases: Sequence[str] | None = None, *, defer_search: bool = False):
        self.recognizer = recognizer
        self._featurizer = StreamingFeaturizer(recognizer.features)
        self._decoder = recognizer._decoder(hotwords, phrases).stream()
        self._state = None  # acoustic model state, None until the first frames
        self._samples = 0
        self._finished = False
        # deferred search: greedy partials now, the beam search over `_pending` frames later
        self._preview = GreedyDecoder(recognizer.alphabet).stream() \
            if defer_search and isinstance(self._decoder, BeamSearchStream) else None
        self._pending: list[np.ndarray] = []  # (t, V) log posteriors the beam search has not read yet
        self._search_lock = threading.Lock()
        # With the recognizer's search process, the pending frames go there; the stream keeps a copy
        # of all it sent, to decode here if the process fails.
        self._remote, self._sid, self._sent = None, None, []
        search = recognizer.search_process
        if self._preview is not None and search is not None and recognizer._search_key == recognizer._search_settings():
            try:
                normalized = _normalize_phrases(hotwords)
                self._sid = search.open(normalized or None)
                self._remote = search
                self._closer = weakref.finalize(self, search.close, self._sid)  # an abandoned utterance
            except SearchUnavailable:
                pass

    @property
    def audio_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def deferred(self) -> bool:
        """Partials are greedy and the beam search runs in `decode_pending()`."""
        return self._preview is not None

    @property
    def searched_remotely(self) -> bool:
        """The beam search of this stream runs in the recognizer's search process."""
        return self._remote is not None

    @property
    def pending_frames(self) -> int:
        """Output frames waiting for the beam search (0 without defer_search)."""
        return sum(len(x) for x in self._pending)

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("this stream is finished; start a new one with Recognizer.stream()")

    def _featurize(self, samples: np.ndarray) -> torch.Tensor:
        self._check_open()
        samples = validate_samples(samples)
        self._samples += samples.size
        return self._featurizer.feed(samples)  # (t, F)

    def _advance(self, log_probs: np.ndarray | None) -> Partial:
        blank = None
        if log_probs is not None and len(log_probs):
            if self._preview is not None:
                self._preview.advance(log_probs)
                with self._search_lock:
                    self._pending.append(log_probs)
            else:
                self._decoder.advance(log_probs)
            blank = np.exp(log_probs[:, Alphabet.BLANK])
        if self._preview is not None:
            return Partial(self._preview.partial()[0], 0, blank)  # greedy text may still change
        text, stable = self._decoder.partial()
        return Partial(text, stable, blank)

    def decode_pending(self) -> int:
        """Run the beam search over the frames waiting for it (or send them to the search process);
        how many it read (thread-safe)."""
        with self._search_lock:
            if self._remote is not None:
                items = self._hand_over()
                try:
                    self._remote.feed(items)
                except SearchUnavailable:
                    self._search_here()
                return sum(len(x) for _, x in items)
            pending, self._pending = self._pending, []
            for log_probs in pending:
                self._decoder.advance(log_probs)
            return sum(len(x) for x in pending)

    def _hand_over(self) -> list[tuple[int, np.ndarray]]:
        """(Under the search lock.) The pending frames for the search process, kept in case it fails."""
        pending, self._pending = self._pending, []
        self._sent.extend(pending)
        return [(self._sid, x) for x in pending]

    def _search_here(self) -> None:
        """The search process failed: search the frames sent to it in this process from now on."""
        self._remote = None
        self._closer.detach()
        sent, self._sent = self._sent, []
        for log_probs in sent:
            self._decoder.advance(log_probs)

    def feed(self, samples: np.ndarray) -> Partial:
        """Add audio (float32 mono at 16 kHz, any length) and get the partial result."""
        return self.recognizer.feed_many([(self, samples)])[0]

    def finish(self) -> Transcript:
        """End the utterance and return the final result."""
        if self._finished:
            raise ValueError("this stream is already finished")
        if self._samples:  # the end pad, as transcribe() appends it; not counted as audio
            self.recognizer._run([self], [self._featurizer.feed(self.recognizer.end_padding())])
        self._finished = True
        self.decode_pending()
        if self._remote is not None:
            try:
                hyps = self._remote.finish(self._sid)
                self._closer.detach()
                return self.recognizer._transcript(hyps, self.audio_seconds)
            except SearchUnavailable as exc:
                log.warning("%s; this utterance is decoded in this process", exc)
                with self._search_lock:
                    self._search_here()
        return self.recognizer._transcript(self._decoder.finalize(), self.audio_seconds)


def _int8(model: AcousticModel, per_channel: bool = True) -> AcousticModel:
    """A copy of `model` whose LSTM/GRU and linear layers hold int8 weights (dynamic quantization).

    per_channel: one int8 scale per output row of each weight matrix rather than one per matrix. A
    single scale is set by the matrix's largest weight, so the many small weights of the other rows
    lose most of their bits; on the shipped model per-channel scales halved the drift of the log
    posteriors from the float model and took the beam+LM cost on 336 held-out utterances from +1.2 WER
    points (significant) to 0.0 (a tie), for the same speed (see the model card)."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao; it works in the pinned torch
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.LSTM: qconfig, torch.nn.GRU: qconfig, torch.nn.Linear: qconfig}).eval()


def _normalize_phrases(hotwords: Sequence[str] | None, name: str = "hotwords") -> list[str]:
    """Normalise hot words or phrases like transcripts ("Alexa!" -> "alexa"); the decoder validates the rest."""
    if hotwords is None:
        return []
    if isinstance(hotwords, str):
        raise ValueError(f"{name} must be a list of phrases, not one string")
    return [normalize_text(p) if isinstance(p, str) else p for p in hotwords]
