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
    prompts = ["hello", "how are you", "what is your name", "how old are you", "tell me a joke",
               "thank you", "goodbye", "i am sad", "do you love me", "you are funny"]
    replies = [bot.reply([], p) for p in prompts]
    for p, r in zip(prompts, replies):
        assert r and r[0].isupper() and r[-1] in ".!?", (p, r)
        assert normalize_input(r) != normalize_input(p), (p, r)
    assert len(set(replies)) >= 8  # not one generic answer for everything


@pytest.mark.parametrize("prompt, expected", [
    ("what time is it", "<clock.time>"),
    ("set a timer for five minutes", "<timer.set> <duration> five minutes"),
    ("what is two plus three", "<calc> <expr> two plus three"),
    ("my name is anna", "<user.set> <fact> name <value> anna"),
    ("what is the capital of france", "<cannot> <topic> facts"),
    ("what can you do", "<assistant.help>"),
])
def test_requests_become_actions_not_invented_answers(bot, prompt, expected):
    assert bot.reply([], prompt) == expected


def test_stream_matches_reply_on_the_shipped_model(bot):
    history = ["hi", "Hello!"]
    assert "".join(bot.stream(history, "tell me a joke")) == bot.reply(history, "tell me a joke")
