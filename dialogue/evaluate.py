"""Checks of a trained responder: sample exchanges, generation speed, held-out perplexity, model card.

    python -m dialogue.evaluate --model runs/dialogue_base/best.pt --valid data/dialogue/valid.jsonl \
        --options '{"strategy": "beam", "beam_size": 4, "no_repeat_ngram_size": 3}'
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from .corpora import ASSISTANT_CORE
from .decoding import DecodingOptions, generate
from .responder import Responder

logger = logging.getLogger(__name__)

# (history, prompt): the small talk a voice assistant hears most, plus a few follow-ups.
# CONTINUE as history means "after the previous exchange": its prompt and the model's own reply.
CONTINUE = ("...",)
PROBE_EXCHANGES: tuple[tuple[tuple[str, ...], str], ...] = (
    ((), "hello"),
    ((), "good morning"),
    ((), "how are you"),
    ((), "what is your name"),
    ((), "who made you"),
    ((), "are you a robot"),
    ((), "how old are you"),
    ((), "what are your hobbies"),
    ((), "what do you like to do for fun"),
    ((), "tell me a joke"),
    (CONTINUE, "another one"),
    ((), "thank you"),
    ((), "goodbye"),
    ((), "what can you do"),
    ((), "can you help me"),
    ((), "yes"),
    ((), "no"),
    ((), "set a timer"),
    (CONTINUE, "cancel that"),
    ((), "i am sad"),
    ((), "do you love me"),
    ((), "set an alarm for tomorrow"),
    ((), "i want to book a table for dinner"),
    ((), "hi there"),
    (CONTINUE, "how is your day going"),
    ((), "you are funny"),
)


def sample_exchanges(responder: Responder, exchanges=PROBE_EXCHANGES, options=None) -> list[dict]:
    out = []
    for history, prompt in exchanges:
        if tuple(history) == CONTINUE:
            history = (out[-1]["history"] + [out[-1]["prompt"], out[-1]["reply"]]) if out else []
        s = responder.start(list(history), prompt, options)
        text = s.read()
        out.append({"history": list(history), "prompt": prompt, "reply": text, "finish_reason": s.finish_reason,
                    "confidence": round(s.confidence, 3)})
    return out


def measure_speed(responder: Responder, prompts: Sequence[str] = ("hello", "what can you do", "tell me a joke",
                                                                  "how are you today", "who made you"),
                  repeats: int = 5, length: int = 64) -> dict:
    """Greedy decoding on the current torch thread count.

    first_token_ms: from the source ids to the first generated token (encoder + one decoder step);
    tokens_per_s: steady decoding with the end token blocked for ``length`` tokens.
    Wall-clock and this thread's CPU time are both reported (the CPU time ignores other processes).
    """
    model = responder.model
    first_wall, first_cpu, rate_wall, rate_cpu = [], [], [], []
    opts = DecodingOptions(max_length=length, min_length=length)
    for _ in range(repeats):
        for prompt in prompts:
            src = responder.source_ids([], prompt)
            w0, c0 = time.perf_counter(), time.thread_time()
            gen = generate(model, src, opts, responder.banned_ids)
            next(gen)
            w1, c1 = time.perf_counter(), time.thread_time()
            n = 1 + sum(1 for _ in gen)
            w2, c2 = time.perf_counter(), time.thread_time()
            first_wall.append((w1 - w0) * 1000)
            first_cpu.append((c1 - c0) * 1000)
            rate_wall.append((n - 1) / max(w2 - w1, 1e-9))
            rate_cpu.append((n - 1) / max(c2 - c1, 1e-9))
    return {
        "threads": torch.get_num_threads(),
        "first_token_ms_median": round(statistics.median(first_wall), 2),
        "first_token_ms_cpu_median": round(statistics.median(first_cpu), 2),
        "tokens_per_s_median": round(statistics.median(rate_wall), 1),
        "tokens_per_s_cpu_median": round(statistics.median(rate_cpu), 1),
        "runs": len(first_wall),
        "decode_length": length,
    }


def measure_reply_latency(responder: Responder, prompts: Sequence[str] = ("hello", "what can you do", "tell me a joke",
                                                                        "how are you today", "who made you"),
                          repeats: int = 3, options=None) -> dict:
    """With the responder's own options: milliseconds to the first streamed text piece and to the whole reply."""
    first, whole = [], []
    for _ in range(repeats):
        for prompt in prompts:
            t0 = time.perf_counter()
            pieces = iter(responder.start([], prompt, options))
            next(pieces)
            t1 = time.perf_counter()
            for _ in pieces:
                pass
            first.append((t1 - t0) * 1000)
            whole.append((time.perf_counter() - t0) * 1000)
    return {"first_piece_ms_median": round(statistics.median(first), 1),
            "whole_reply_ms_median": round(statistics.median(whole), 1)}


def held_out_perplexity(responder: Responder, valid_path: Path, batch_size: int = 64) -> dict:
    from .corpora import read_jsonl
    from .train import TrainConfig, encode_pairs, evaluate

    cfg = TrainConfig(history_turns=responder.history_turns, max_source_tokens=responder.max_source_tokens)
    examples = encode_pairs(read_jsonl(valid_path), responder.tokenizer, cfg, 0.0, 0)
    return evaluate(responder.model, examples, batch_size, next(responder.model.parameters()).device)


CARD_TEMPLATE = """# Shipped English reply model (`Responder.load("en")`)

File: `dialogue/pretrained/en.pt` ({size_mb:.1f} MB, float16 weights, loaded back as float32;
`torch.load(..., weights_only=True)`; the sentencepiece model is inside the file as bytes).

{status}

## Model

| | |
| --- | --- |
| architecture | embedding {embed_dim}, bidirectional {cell} encoder {encoder_layers}x{encoder_hidden} per direction, LSTM decoder {decoder_layers}x{decoder_hidden}, Luong `{attention}` attention, tied embeddings: {tie_embeddings}, dropout {dropout} |
| parameters | {params:,} |
| tokenizer | sentencepiece unigram, {vocab} pieces, byte fallback; ids 0-4 = pad, unk, bos, eos, turn separator |
| context | last {history_turns} turns + the new one, joined by the separator, at most {max_source_tokens} tokens (oldest cut first); turns are lowercased without punctuation, like speech transcripts |
| default decoding | `{options}` (beam search; the bot's last two replies are not repeated) |
| training | {steps} optimizer steps ({epochs:.1f} epochs) in {minutes:.0f} min on one CPU thread (shared machine); see the status note above |
| held-out perplexity | **{valid_ppl:.2f}** on {valid_pairs} validation pairs ({valid_tokens} reply tokens) whose prompts never occur in training |

## Data and licenses

Built by `scripts/prepare_dialogue_data.py --extra ../shared/data/dialogue` (see `dialogue/corpora.py`):

{data_table}


- chatterbot-corpus 1.3.3 (BSD-3-Clause), English files except `coding.yml`; `tech_support.yml` de-duplicated.
- chitchat-dataset 0.9.0 (MIT), consecutive turns of at most 12 words, at most 5 uses of one reply.
- pyjokes 0.8.3 (BSD-3-Clause), English "neutral" jokes paired with "tell me a joke"-style prompts.
- Microsoft BotBuilder-PersonalityChat (MIT, Microsoft), *friendly* and *professional* personalities. The
  outdated US crisis-line answer (1-800-273-8255) is replaced by a reply pointing to 988.
- Schema-Guided Dialogue, short user->system turns: Rastogi, Zang, Sunkara, Gupta, Khaitan, "Towards Scalable
  Multi-domain Conversational Modeling: The Schema-Guided Dialogue Dataset", AAAI 2020
  (google-research-datasets/dstc8-schema-guided-dialogue), **CC BY-SA 4.0**. System turns with times, prices,
  addresses, phone numbers, digits or names were dropped (a generative model would make them up); at most 15
  uses of one reply. Because this model is trained partly on CC BY-SA data, treat its weights as a derived work
  under CC BY-SA 4.0 with this attribution.
- assistant_core: {core_prompts} hand-written control-word prompts of this project (yes, no, cancel, stop, wait,
  help, ...) with short assistant answers, repeated 3 times; added after the split (`ASSISTANT_CORE` in
  `dialogue/corpora.py`) because none of the corpora answer them like an assistant.
- PersonalityChat's refusals to tell a joke are dropped for joke prompts, so the model tells one instead.
- Filters on every source: length, a small profanity list, markup, emoji/emoticons, exact duplicates, echoes.

## Training command

```
{train_command}
```

## Speed (greedy, one CPU thread)

Measured by `python -m dialogue.evaluate --model dialogue/pretrained/en.pt --speed` (`measure_speed`): 5 prompts x 5
runs; first token = encoder + first decoder step from the source ids; throughput = 64 tokens with the end
token blocked. Wall-clock numbers depend on the shared machine's load; CPU-time numbers count only this thread.

| | median wall | median CPU time |
| --- | --- | --- |
| first token | {first_ms} ms | {first_cpu_ms} ms |
| tokens per second | {tps} | {tps_cpu} |

With the default (beam) options the whole reply is searched before its first word is streamed:
`measure_reply_latency` gives a median of {first_piece} ms to the first text piece and {whole} ms to the whole
reply on the same prompts (wall clock). Pass `{{"strategy": "greedy"}}` for word-by-word streaming.

## Sample exchanges

Produced by `python -m dialogue.evaluate --model dialogue/pretrained/en.pt` with the default options
(history in brackets, follow-ups continue the previous row with the model's own reply;
confidence = mean token log-probability):

| you | model | confidence |
| --- | --- | --- |
{samples}

## Limits

A small LSTM trained for {minutes:.0f} minutes on one (shared) CPU core: it maps common small talk onto a few hundred
well-formed answers, it does not know facts, and it cannot perform tasks (for task-style prompts it asks the
kind of follow-up question an assistant would). It can still give an answer that does not fit the question
(e.g. "what time is it", "set a timer"), and after a joke, "another one" can get only the first line of a joke
or a refusal learned in the first training steps, before the joke refusals were removed from the data.
"""


def render_card(responder: Responder, path: Path, result: dict, train_info: dict) -> Path:
    c = responder.model.config
    samples = "\n".join(
        f"| {('[' + ' / '.join(s['history']) + '] ') if s['history'] else ''}{s['prompt']} | {s['reply']} | {s['confidence']} |"
        for s in result["samples"]
    )
    speed = result.get("speed", {})
    valid = result.get("valid", {})
    text = CARD_TEMPLATE.format(
        size_mb=path.stat().st_size / 1e6 if path.is_file() else 0.0,
        status=train_info.get("status", ""),
        embed_dim=c.embed_dim, cell=c.cell, encoder_layers=c.encoder_layers, encoder_hidden=c.encoder_hidden,
        decoder_layers=c.decoder_layers, decoder_hidden=c.decoder_hidden, attention=c.attention,
        tie_embeddings=c.tie_embeddings, dropout=c.dropout, params=responder.model.num_parameters(),
        vocab=len(responder.tokenizer), history_turns=responder.history_turns,
        max_source_tokens=responder.max_source_tokens,
        options=json.dumps(responder.options.to_dict()),
        core_prompts=sum(len(prompts) for prompts, _ in ASSISTANT_CORE),
        steps=train_info.get("step", 0), epochs=train_info.get("epochs", 0.0), minutes=train_info.get("minutes", 0.0),
        valid_ppl=valid.get("valid_ppl", float("nan")), valid_pairs=train_info.get("valid_pairs", "?"),
        valid_tokens=valid.get("valid_tokens", "?"), data_table=train_info.get("data_table", ""),
        train_command=train_info.get("command", ""),
        first_ms=speed.get("first_token_ms_median", "?"), first_cpu_ms=speed.get("first_token_ms_cpu_median", "?"),
        tps=speed.get("tokens_per_s_median", "?"), tps_cpu=speed.get("tokens_per_s_cpu_median", "?"),
        first_piece=speed.get("first_piece_ms_median", "?"), whole=speed.get("whole_reply_ms_median", "?"),
        samples=samples,
    )
    card = path.parent / "MODEL_CARD.md"
    card.write_text(text)
    return card


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Sample exchanges, speed and perplexity of a dialogue model.")
    ap.add_argument("--model", default="en", help="'en' or a checkpoint path")
    ap.add_argument("--valid", type=Path, default=None, help="held-out pairs JSONL for perplexity")
    ap.add_argument("--options", default=None, help="decoding options as JSON (default: the model's own)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--speed", action="store_true", help="also measure generation speed")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    ap.add_argument("--card", type=Path, default=None,
                    help="write MODEL_CARD.md next to --model using this JSON of training facts")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    responder = Responder.load(args.model)
    options = DecodingOptions.from_dict(json.loads(args.options)) if args.options else None
    result = {"options": (options or responder.options).to_dict(), "samples": sample_exchanges(responder, options=options)}
    for s in result["samples"]:
        history = " | ".join(s["history"])
        print(f"{'[' + history + '] ' if history else ''}{s['prompt']!r:40} -> {s['reply']}  ({s['confidence']})")
    if args.valid:
        result["valid"] = held_out_perplexity(responder, args.valid)
        print("held-out:", result["valid"])
    if args.speed:
        result["speed"] = measure_speed(responder)
        result["speed"].update(measure_reply_latency(responder, options=options))
        print("speed:", result["speed"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.card:
        print("wrote", render_card(responder, Path(args.model), result, json.loads(args.card.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
