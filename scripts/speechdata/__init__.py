"""Helpers for scripts/prepare_speech_data.py: real manifests, text corpus, offline TTS, Debian prompt sets.

Kept out of the `speech` package on purpose: these are data-building tools that shell out to
apt-get, espeak-ng, flite and festival; the library only reads the manifests they write.
"""
