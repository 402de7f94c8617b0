"""Speech recognition: audio in, text out (log-mel features, LSTM-CTC acoustic model, decoders).

Other packages import only the names in `__all__`. `Recognizer` lives in
speech/recognizer.py and is imported on first use.
"""

from .audio import SAMPLE_RATE, float_to_pcm16, load_audio, pcm16_to_float, validate_samples
from .features import FeatureConfig, FeatureExtractor, StreamingFeaturizer
from .model import AcousticConfig, AcousticModel, AcousticState
from .vocab import Alphabet, normalize_text
from .decoder import BeamSearchDecoder, GreedyDecoder, Hypothesis, PhraseDecoder, WordSpan
from .endpoint import EndpointConfig, EndpointEvent, Endpointer
from .lm import NGramLM

__all__ = [
    "SAMPLE_RATE",
    "load_audio",
    "pcm16_to_float",
    "float_to_pcm16",
    "validate_samples",
    "FeatureConfig",
    "FeatureExtractor",
    "StreamingFeaturizer",
    "Alphabet",
    "normalize_text",
    "AcousticConfig",
    "AcousticModel",
    "AcousticState",
    "GreedyDecoder",
    "BeamSearchDecoder",
    "PhraseDecoder",
    "Hypothesis",
    "WordSpan",
    "NGramLM",
    "EndpointConfig",
    "Endpointer",
    "EndpointEvent",
    "Recognizer",
    "available_models",
]


def __getattr__(name: str):
    # Lazy so that `import speech` works before (and without paying for) the recognizer module;
    # a missing or broken speech/recognizer.py surfaces as an ImportError on first use.
    if name in ("Recognizer", "available_models"):
        from . import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
