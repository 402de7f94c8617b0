"""dialogue.evaluate on a tiny responder: probe exchanges, speed numbers, perplexity and the card."""

import json

from dialogue.corpora import write_jsonl
from dialogue.evaluate import (held_out_perplexity, measure_reply_latency, measure_speed, render_card,
                               sample_exchanges)
from dialogue.testing import TINY_PAIRS, overfit_responder


def test_evaluate_helpers_and_card(tmp_path):
    bot = overfit_responder(steps=30)
    samples = sample_exchanges(bot, exchanges=[((), "hello there"), (("hello there",), "how are you")])
    assert [s["prompt"] for s in samples] == ["hello there", "how are you"]
    assert all(s["reply"] and s["finish_reason"] in ("eos", "length") for s in samples)
    speed = measure_speed(bot, prompts=["hello there"], repeats=1, length=8)
    assert speed["first_token_ms_median"] > 0 and speed["tokens_per_s_median"] > 0
    latency = measure_reply_latency(bot, prompts=["hello there"], repeats=1)
    assert 0 < latency["first_piece_ms_median"] <= latency["whole_reply_ms_median"]
    valid = write_jsonl([{"context": [], "prompt": p, "reply": r, "source": "t"} for p, r in TINY_PAIRS], tmp_path / "v.jsonl")
    ppl = held_out_perplexity(bot, valid)
    assert ppl["valid_ppl"] >= 1.0 and ppl["valid_tokens"] > 0
    model_path = bot.save(tmp_path / "en.pt", half=True)
    card = render_card(bot, model_path, {"samples": samples, "speed": speed, "valid": ppl},
                       {"command": "python -m dialogue.train", "step": 30})
    text = card.read_text()
    assert card.name == "MODEL_CARD.md" and "Rastogi" in text and samples[0]["reply"] in text
    assert json.dumps(ppl)  # plain numbers
