"""Choose the beam search's LM weight, word bonus, beam size and unknown-word penalty by measuring WER on dev data.

    .venv/bin/python scripts/tune_decoder.py speech/pretrained/en.pt --dev data/speech/real_dev.jsonl \
        [--beams 8,16,32 --unk-penalties=-5,-12,-20] --write

The acoustic model runs once per utterance and every cell of the grid (all combinations of the lists)
decodes the same posteriors; each cell also reports its decoding CPU time per second of audio, since a
wider beam costs time. `--write` stores the winner in the checkpoint's "decoding" settings, which
`Recognizer.load` uses (explicit arguments still win), so `assistant transcribe` and the server decode
with it. Tune on dev data only: the test sets of the model card must not choose the settings.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _numbers(cast):
    """An argparse type: a comma-separated list of `cast` (int or float) values."""
    def parse(text: str) -> list:
        try:
            return [cast(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {cast.__name__}s, got {text!r}") from None
    return parse


_floats = _numbers(float)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model name (en) or inference checkpoint; its word LM is the .arpa(.gz) beside it")
    parser.add_argument("--dev", nargs="+", required=True, help="dev manifest(s) (JSON Lines)")
    parser.add_argument("--lm", help="word LM to use instead of the one beside the model")
    parser.add_argument("--lm-weights", type=_floats, default=[0.1, 0.2, 0.35, 0.5, 0.7, 1.0])
    parser.add_argument("--word-bonuses", type=_floats, default=[-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                        help="comma-separated; write --word-bonuses=-1,0,2 when the first is negative")
    beam = parser.add_mutually_exclusive_group()
    beam.add_argument("--beam", type=int, default=None, help="beam size (default: the model's)")
    beam.add_argument("--beams", type=_numbers(int), default=None, help="comma-separated beam sizes to try")
    parser.add_argument("--unk-penalties", type=_floats, default=None,
                        help="comma-separated penalties (<= 0) for words outside the LM (default: the model's); "
                             "write --unk-penalties=-5,-12 since they are negative")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", help="also write the whole grid here")
    parser.add_argument("--write", action="store_true", help="store the best settings in the model checkpoint")
    args = parser.parse_args(argv)

    import torch

    from speech import Recognizer
    from speech.data import read_manifest
    from speech.recognizer import write_decoding
    from speech.train import tune_decoder

    try:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
        recognizer = Recognizer.load(args.model, lm=args.lm)
        entries = [e for path in args.dev for e in read_manifest(path)]
        result = tune_decoder(recognizer, entries, lm_weights=args.lm_weights, word_bonuses=args.word_bonuses,
                              beam_sizes=args.beams,
                              unk_penalties=args.unk_penalties, beam_size=args.beam, progress=True)
    except (OSError, ValueError) as exc:
        print(f"tune_decoder: {exc}", file=sys.stderr)
        return 2

    best, current, greedy = result["best"], result["current"], result["greedy"]
    bonuses = sorted({g["word_bonus"] for g in result["grid"]})
    for beam, unk in sorted({(g["beam_size"], g["unk_penalty"]) for g in result["grid"]}):
        cells = [g for g in result["grid"] if (g["beam_size"], g["unk_penalty"]) == (beam, unk)]
        rtf = max(g["decode_rtf"] for g in cells)
        print(f"WER % on {result['n_utts']} utterances, beam {beam}, unk_penalty {unk:g}, decoding RTF <= {rtf:.4f} "
              f"(rows: LM weight, columns: word bonus)")
        print("lm_w \\ bonus " + " ".join(f"{b:>6g}" for b in bonuses))
        for w in sorted({g["lm_weight"] for g in cells}):
            row = {g["word_bonus"]: g["wer"] for g in cells if g["lm_weight"] == w}
            print(f"{w:>12g} " + " ".join(f"{100 * row[b]:6.1f}" if b in row else "      " for b in bonuses))

    def describe(cell) -> str:
        return (f"lm_weight {cell['lm_weight']:g}, word_bonus {cell['word_bonus']:g}, beam {cell['beam_size']}, "
                f"unk_penalty {cell['unk_penalty']:g}): WER {100 * cell['wer']:.1f} CER {100 * cell['cer']:.1f}, "
                f"decoding RTF {cell['decode_rtf']:.4f}")

    print(f"greedy: WER {100 * greedy['wer']:.1f} CER {100 * greedy['cer']:.1f}")
    print("current (" + describe(current))
    print("best    (" + describe(best))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.write:
        target = write_decoding(args.model, {name: best[name] for name in
                                             ("lm_weight", "word_bonus", "beam_size", "unk_penalty")})
        print(f"wrote these settings into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
