"""The `assistant` command line.

Each sub-command is a thin shell over a library function. Callers' mistakes end
with one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

DEFAULT_DB = "data/assistant.db"


class CommandError(Exception):
    """A mistake the user can fix; printed as one line."""


# --------------------------------------------------------------------- speech
def _load_recognizer(args):
    import torch

    from speech import Recognizer

    if args.threads < 1:
        raise CommandError(f"--threads must be >= 1, got {args.threads}")
    # One thread is what the streaming LSTM is built and benchmarked for; torch's default (every core)
    # made `evaluate` 100x slower on a 2-core machine busy with training (threads waiting on each other).
    torch.set_num_threads(args.threads)
    options = {}
    if args.beam is not None:
        options["beam_size"] = args.beam
    return Recognizer.load(args.model, lm=args.lm, quantize=args.int8, **options)


def _phrases(args) -> list[str] | None:
    """The phrase list of --phrase and --phrases FILE (one phrase per line; # starts a comment), or None."""
    from speech.decoder import read_phrases

    phrases = list(args.phrase or [])
    if args.phrases:
        path = Path(args.phrases)
        if not path.is_file():
            raise CommandError(f"no such phrase file: {path}")
        phrases += read_phrases(path)
        if not phrases:
            raise CommandError(f"no phrases in {path}")
    return phrases or None


def cmd_transcribe(args) -> int:
    from speech import load_audio

    phrases = _phrases(args)
    if phrases and args.hotword:
        raise CommandError("give --hotword or --phrase/--phrases, not both")
    recognizer = _load_recognizer(args)
    recognizer.stream(phrases=phrases)  # a bad phrase list fails once, before any file
    files = args.files
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise CommandError(f"no such file: {missing[0]}")
    progress = None
    if len(files) > 1 and not args.no_progress:
        from tqdm import tqdm

        progress = tqdm(total=len(files), unit="file", file=sys.stderr, disable=None)
    status = 0
    for path in files:
        try:
            transcript = recognizer.transcribe(load_audio(path), hotwords=args.hotword or None, phrases=phrases)
        except ValueError as exc:  # one bad file does not stop the batch
            print(f"assistant transcribe: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        finally:
            if progress is not None:
                progress.update(1)
        if args.json:
            print(json.dumps({"file": path, **transcript.to_dict()}), flush=True)
        elif len(files) > 1:
            print(f"{path}\t{transcript.text}", flush=True)
        else:
            print(transcript.text, flush=True)
    if progress is not None:
        progress.close()
    return status


def cmd_evaluate(args) -> int:
    from speech.data import read_manifest
    from speech.train import evaluate

    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be >= 1, got {args.limit}")
    phrases = _phrases(args)
    recognizer = _load_recognizer(args)
    if phrases:
        recognizer.stream(phrases=phrases)  # validate once
    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise CommandError(f"no such manifest: {manifest}")
    try:
        entries = read_manifest(manifest)
    except (ValueError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    if not entries:
        raise CommandError(f"no utterances in {manifest}")
    sets = [("all", entries)]
    corpora = sorted({e.corpus or "?" for e in entries})
    if args.by_corpus and len(corpora) > 1:
        sets += [(c, [e for e in entries if (e.corpus or "?") == c]) for c in corpora]
    configs = [("greedy", 1, None)]
    if phrases:  # command mode: the decoder picks one of the phrases, beam and LM play no part
        configs = [("phrases", recognizer.beam_size, recognizer.lm)]
    elif recognizer.lm is not None or args.beam:
        beam = args.beam or (recognizer.beam_size if recognizer.beam_size > 1 else 8)  # the model's tuned beam
        configs.append(("beam+lm" if recognizer.lm is not None else "beam", beam, recognizer.lm))
    rows = []
    for set_name, subset in sets:
        for name, beam, lm in configs:
            recognizer.beam_size, recognizer.lm = beam, lm
            result = evaluate(recognizer, subset, max_utts=args.limit, progress=not args.json, phrases=phrases)
            rows.append({"set": set_name, "decoder": name, **result})
    if args.json:
        print(json.dumps({"manifest": str(manifest), "int8": recognizer.quantize, "results": rows}))
    else:
        print(f"{manifest} ({'int8' if recognizer.quantize else 'float'} weights)")
        print(f"{'set':<16} {'decoder':<10} {'utts':>6} {'WER %':>7} {'95% CI':>13} {'CER %':>7} {'RTF':>7}")
        for r in rows:
            low, high = r["wer_ci"]
            print(
                f"{r['set']:<16} {r['decoder']:<10} {r['n_utts']:>6} {100 * r['wer']:>7.2f} "
                f"{f'{100 * low:.1f}-{100 * high:.1f}':>13} {100 * r['cer']:>7.2f} {r.get('rtf', float('nan')):>7.4f}"
            )
        print("95% CI: bootstrap over utterances, how far the WER could move on another sample of this size")
    return 0


def cmd_train_speech(args) -> int:
    from speech.train import main as train_main

    return train_main(args.rest) or 0


def cmd_train_dialogue(args) -> int:
    from dialogue.train import main as train_main

    return train_main(args.rest) or 0


# ------------------------------------------------------------------ assistant
def cmd_serve(args) -> int:
    # assistant never imports server (DESIGN.md section 2): hand over to it as a program.
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "server", *args.rest]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    sys.stdout.flush()
    os.execve(sys.executable, command, env)
    return 0  # not reached


def cmd_chat(args) -> int:
    from assistant.terminal import main as chat_main

    return chat_main(args.rest) or 0


def cmd_history(args) -> int:
    from assistant.memory import ConversationNotFound, Memory

    if not Path(args.db).is_file():
        raise CommandError(f"no conversation database at {args.db}")
    memory = Memory(args.db)
    try:
        if args.conversation_id is None:
            data = memory.list_conversations()
        else:
            data = memory.export_conversation(args.conversation_id)
    except ConversationNotFound as exc:
        raise CommandError(str(exc)) from None
    finally:
        memory.close()
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_backup(args) -> int:
    import sqlite3

    from assistant.memory import Memory

    if not Path(args.db).is_file():
        raise CommandError(f"no conversation database at {args.db}")
    try:
        memory = Memory(args.db)
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot open {args.db}: {exc}") from None
    try:
        stats = memory.backup(args.path)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        raise CommandError(f"backup to {args.path} failed: {exc}") from None
    finally:
        memory.close()
    print(f"backed up {args.db} to {args.path}: {stats['conversations']} conversations, {stats['turns']} turns")
    return 0


def cmd_bench(args) -> int:
    root = Path(__file__).resolve().parent.parent
    script = root / "bench" / "run_all.py"
    if not script.is_file():
        raise CommandError("benchmarks live in the source checkout (bench/run_all.py), not in an installed package")
    return subprocess.call([sys.executable, str(script), *args.rest])


# ----------------------------------------------------------------------- main
# Commands that hand all their arguments to another entry point (which has its own --help).
FORWARDED = {
    "serve": (cmd_serve, "run the websocket server and the browser demo (see `assistant serve --help`)"),
    "chat": (cmd_chat, "chat in the terminal, typed or from audio files (see `assistant chat --help`)"),
    "train-speech": (cmd_train_speech, "train a speech model (see `assistant train-speech --help`)"),
    "train-dialogue": (cmd_train_dialogue, "train a dialogue model (see `assistant train-dialogue --help`)"),
    "bench": (cmd_bench, "run the benchmarks in bench/"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Offline LSTM voice assistant.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def speech_options(p):
        p.add_argument("--model", default="en", help="shipped model name or checkpoint path (default: en)")
        p.add_argument("--beam", type=int, default=None, help="beam size; 1 = greedy (default: the model's)")
        p.add_argument("--lm", default=None, help="word n-gram LM in ARPA format (default: the model's)")
        p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=None,
                       help="int8 weights for the acoustic model: about 3x faster at the same beam+LM WER "
                            "(default: the model's choice; the shipped model runs int8, --no-int8 runs float)")
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
        p.add_argument("--phrase", action="append", metavar="TEXT",
                       help="command mode: the text must be one of these phrases, or empty (repeatable)")
        p.add_argument("--phrases", metavar="FILE", help="command mode with the phrases of FILE, one per line")

    p = sub.add_parser("transcribe", help="print the text of audio files (wav, flac, mp3, ogg)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file with words, timestamps, confidences")
    p.add_argument("--hotword", action="append", metavar="WORD", help="boost a word or phrase (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for many files")
    speech_options(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("evaluate", help="WER and CER of a model on a JSON Lines manifest")
    p.add_argument("manifest")
    p.add_argument("--limit", type=int, default=None,
                   help="a fixed random subset of N utterances (per corpus with --by-corpus)")
    p.add_argument("--by-corpus", action="store_true", help="also score each corpus of the manifest apart")
    p.add_argument("--json", action="store_true")
    speech_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("history", help="print a stored conversation as JSON (or list them)")
    p.add_argument("conversation_id", nargs="?", default=None)
    p.add_argument("--db", default=DEFAULT_DB, help=f"conversation database (default: {DEFAULT_DB})")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("backup", help="copy the conversation database consistently, even while the server runs")
    p.add_argument("path", help="where the copy goes (written whole, then renamed into place)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"conversation database (default: {DEFAULT_DB})")
    p.set_defaults(func=cmd_backup)

    for name, (_, help_text) in FORWARDED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0] in FORWARDED:
        # argparse.REMAINDER cannot pass on a leading --help, so forward before parsing.
        args = argparse.Namespace(command=argv[0], func=FORWARDED[argv[0]][0], rest=argv[1:], verbose=False)
    else:
        args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CommandError as exc:
        print(f"assistant {args.command}: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"assistant {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
