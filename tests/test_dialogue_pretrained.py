"""The shipped English model: loads with weights_only, is small, and answers small talk sensibly."""

from pathlib import Path

import pytest
import torch

from dialogue import Responder
from dialogue.responder import PRETRAINED
from dialogue.text import normalize_input

SHIPPED = PRETRAINED["en"]
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="dialogue/pretrained/en.pt not shipped yet")


@pytest.fixture(scope="module")
def bot():
    return Responder.load("en")


def test_shipped_file_is_self_contained_and_small():
    assert SHIPPED.stat().st_size <= 25 * 1024 * 1024
    ckpt = torch.load(SHIPPED, weights_only=True)
    assert isinstance(ckpt["tokenizer"], bytes) and "optimizer" not in ckpt
    assert (SHIPPED.parent / "MODEL_CARD.md").is_file()


def test_small_talk_replies_are_clean_varied_and_not_echoes(bot):
    prompts = ["hello", "how are you", "what is your name", "who made you", "are you a robot", "tell me a joke",
               "thank you", "goodbye", "what can you do", "cancel that"]
    replies = [bot.reply([], p) for p in prompts]
    for p, r in zip(prompts, replies):
        assert r and r[0].isupper() and r[-1] in ".!?", (p, r)
        assert normalize_input(r) != normalize_input(p), (p, r)
    assert len(set(replies)) >= 8  # not one generic answer for everything


def test_stream_matches_reply_on_the_shipped_model(bot):
    history = ["hi", "Hello!"]
    assert "".join(bot.stream(history, "tell me a joke")) == bot.reply(history, "tell me a joke")
