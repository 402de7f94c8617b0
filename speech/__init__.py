"""Speech recognition: audio in, text out (log-mel features, LSTM-CTC acoustic model, decoders).

Other packages import only the names in `__all__`; each is imported from its module on first use.
"""

# Every name is imported on first use (PEP 562), so that `import speech.decoder` in the beam search's
# child process (speech/search_process.py) loads numpy only, not torch (about 450 MB less resident memory);
# a missing or broken module surfaces as an ImportError on first use. The public names are _HOME's keys.
_HOME = {
    "SAMPLE_RATE": "audio", "load_audio": "audio", "pcm16_to_float": "audio", "float_to_pcm16": "audio",
    "validate_samples": "audio", "FeatureConfig": "features", "FeatureExtractor": "features",
    "StreamingFeaturizer": "features", "Alphabet": "vocab", "normalize_text": "vocab",
    "AcousticConfig": "model", "AcousticModel": "model", "AcousticState": "model",
    "GreedyDecoder": "decoder", "BeamSearchDecoder": "decoder", "PhraseDecoder": "decoder",
    "Hypothesis": "decoder", "WordSpan": "decoder", "NGramLM": "lm", "EndpointConfig": "endpoint",
    "Endpointer": "endpoint", "EndpointEvent": "endpoint", "Recognizer": "recognizer",
    "available_models": "recognizer",
}
__all__ = list(_HOME)


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
