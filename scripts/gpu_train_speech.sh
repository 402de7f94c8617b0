#!/usr/bin/env bash
# A short acoustic-model training run on a CUDA machine, from the repository root.
#
#   RUN_DIR=runs/speech_gpu MINUTES=8 scripts/gpu_train_speech.sh [extra speech.train arguments]
#
# Data: a pack from scripts/pack_speech_data.py at $PACK (default .gpu/speechpack) when present: the
# lent GPU machine gets only the working tree and a few carried folders (64 MiB together), so the audio
# travels as Opus. Without a pack: the mix of the shipped model's CPU run from data/speech (real speech
# weighted per corpus, FOTAQ, Asterisk, synthetic, the extra voices when built), else ../shared (real only).
# Drascula and the kids' game / warzone words stay out: they are the shipped model's unseen real tests.
#
# On the lent machine (no network; python3 there has torch but not soundfile or librosa):
#   here:  echo /.gpu/ >> .git/info/exclude; echo /.whl/ >> .git/info/exclude
#          python scripts/pack_speech_data.py --train data/speech/real_train.jsonl data/speech/fotaq.jsonl:1.5 data/speech/bass.jsonl:1.5 \
#              data/speech/asterisk.jsonl:2 --fraction real_train:picovoice_wakeword=0.3 \
#              --dev data/speech/real_dev.jsonl --out .gpu/speechpack --budget-mb 36
#          python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#              --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl soundfile cffi pycparser
#   run:   carry [".gpu", ".whl"], command: INIT_FROM=speech/pretrained/en.pt MINUTES=8 bash scripts/gpu_train_speech.sh
# The run's best/last weights (fp32, no optimizer state), metrics and log are copied to $OUT when the
# device tool sets it (files back are limited to 16 MB each), else they stay in $RUN_DIR.
#
# AMP=1 adds bfloat16 autocast (off by default: the cuDNN LSTM in fp32/TF32 is already fast at this size).
# Resumes from $RUN_DIR/latest.pt when present; INIT_FROM=path starts from those weights instead (a
# training checkpoint or the shipped speech/pretrained/en.pt). With several GPUs: NPROC=4 (torchrun, nccl).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${RUN_DIR:-runs/speech_gpu}"
MINUTES="${MINUTES:-8}"
NPROC="${NPROC:-1}"
PACK="${PACK:-.gpu/speechpack}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if [ -d .whl ] && ! "$PY" -c "import soundfile" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p "$RUN_DIR"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('cuda:', torch.cuda.get_device_name(0))"

TRAIN=()
DEV=()
CORPUS_WEIGHTS="kathleen=1.2,picovoice_wakeword=0.5,speech_commands=8,an4=8"
if [ -f "$PACK/pack.json" ]; then
  mapfile -t TRAIN < <("$PY" -c "import json,sys; [print(sys.argv[1] + '/' + a) for a in json.load(open(sys.argv[1] + '/pack.json'))['train_args']]" "$PACK")
  mapfile -t DEV < <("$PY" -c "import json,sys; [print(sys.argv[1] + '/' + a) for a in json.load(open(sys.argv[1] + '/pack.json'))['dev_args']]" "$PACK")
  # the pack already keeps only part of the wake words: do not weight them down twice
  CORPUS_WEIGHTS="kathleen=1.2,speech_commands=8,an4=8"
else
  if [ -f data/speech/real_train.jsonl ]; then
    TRAIN+=("data/speech/real_train.jsonl:1")
  else
    TRAIN+=("../shared/data/speech/train.jsonl:1")
  fi
  for m in data/speech/asterisk.jsonl:2 data/speech/fotaq.jsonl:1.5 data/speech/bass.jsonl:1.5 data/speech/synth_train.jsonl:1 \
           data/speech_debian_extra/synth_train.jsonl:1 data/speech_neural/synth_train.jsonl:1; do
    [ -f "${m%:*}" ] && TRAIN+=("$m")
  done
  for m in data/speech/real_dev.jsonl; do
    [ -f "$m" ] && DEV+=("$m")
  done
  [ ${#DEV[@]} -eq 0 ] && DEV+=("../shared/data/speech/dev.jsonl")
fi

EXTRA=()
if [ -n "${INIT_FROM:-${RESUME_FROM:-}}" ] && [ ! -f "$RUN_DIR/latest.pt" ]; then
  EXTRA+=(--init-from "${INIT_FROM:-$RESUME_FROM}")
fi
# pitch shifting needs librosa, which the lent machine lacks
PITCH=0.1
"$PY" -c "import librosa" 2>/dev/null || PITCH=0

HOURS=$(awk "BEGIN {print $MINUTES / 60}")
# guessed (never measured): about 0.3 s per 600-second batch on one H100 with 6 loader workers
SCHEDULE_STEPS="${SCHEDULE_STEPS:-$(awk "BEGIN {print int($MINUTES * 150 * $NPROC)}")}"
LAUNCH=("$PY")
if [ "$NPROC" -gt 1 ]; then
  LAUNCH=("$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC")
fi
set -x
# --silent-start 4 and room-tone padding: see AcousticConfig.silent_start and AugmentConfig.pad_prob
"${LAUNCH[@]}" scripts/train_speech.py --preset default --silent-start 4 \
  --train "${TRAIN[@]}" --corpus-weights "$CORPUS_WEIGHTS" --dev "${DEV[@]}" --out "$RUN_DIR" \
  --device auto ${AMP:+--amp} --threads 4 --workers 6 --batch-seconds 600 --set max_batch_items=256 \
  --lr 2e-3 --warmup 200 --max-hours "$HOURS" --schedule-steps "$SCHEDULE_STEPS" \
  --eval-every 200 --checkpoint-minutes 2 --log-every 20 --no-progress \
  --augment "{\"pad_prob\":0.8,\"pad_seconds\":[0.1,0.6],\"pitch_prob\":$PITCH,\"speed_prob\":0.5,\"noise_prob\":0.3,\"reverb_prob\":0.15,\"telephone_prob\":0.2,\"codec_prob\":0.05,\"spec_prob\":0.6}" \
  "${EXTRA[@]}" "$@" || echo "training stopped with status $?"
set +x
ls -la "$RUN_DIR"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  # weights only (the optimizer state would push latest.pt over the 16 MB a returned file may have)
  "$PY" - "$RUN_DIR" "$OUT" <<'EOF'
import sys, torch
run, out = sys.argv[1], sys.argv[2]
for name in ("best.pt", "latest.pt"):
    try:
        ck = torch.load(f"{run}/{name}", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        continue
    keep = {k: v for k, v in ck.items() if k not in ("optimizer", "scheduler")}
    torch.save(keep, f"{out}/{name.replace('.pt', '_weights.pt')}")
EOF
  cp "$RUN_DIR"/metrics.jsonl "$RUN_DIR"/train.log "$RUN_DIR"/config.json "$OUT"/ 2>/dev/null || true
  ls -la "$OUT"
fi
