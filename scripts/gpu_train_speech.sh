#!/usr/bin/env bash
# A short acoustic-model training run on a CUDA machine; the checkpoints land in $OUT (default runs/speech_gpu).
#
#   OUT=/path/to/out MINUTES=8 scripts/gpu_train_speech.sh [extra speech.train arguments]
#
# Uses the same code as the CPU run (device auto -> cuda, TF32, bigger batches, 6 loader workers).
# AMP=1 adds bfloat16 autocast (off by default: the cuDNN LSTM in fp32/TF32 is already fast at this size).
# Data: data/speech/*_train.jsonl if present (real speech weighted 3x), else ../shared/data/speech (real only).
# Resumes from $OUT/latest.pt when present; RESUME_FROM=runs/speech/best.pt starts from those weights instead.
# With several GPUs: NPROC=4 scripts/gpu_train_speech.sh  (torchrun, DDP over nccl).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/speech_gpu}"
MINUTES="${MINUTES:-8}"
NPROC="${NPROC:-1}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mkdir -p "$OUT"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('cuda:', torch.cuda.get_device_name(0))"

TRAIN=()
if [ -f data/speech/real_train.jsonl ]; then
  TRAIN+=("data/speech/real_train.jsonl:3")
else
  TRAIN+=("../shared/data/speech/train.jsonl:3")
fi
[ -f data/speech/asterisk.jsonl ] && TRAIN+=("data/speech/asterisk.jsonl:2")
for m in data/speech/synth_train.jsonl data/speech/extra_train.jsonl; do
  [ -f "$m" ] && TRAIN+=("$m:1")
done
DEV=()
for m in data/speech/real_dev.jsonl data/speech/synth_dev.jsonl; do
  [ -f "$m" ] && DEV+=("$m")
done
[ ${#DEV[@]} -eq 0 ] && DEV+=("../shared/data/speech/dev.jsonl")

EXTRA=()
if [ -n "${RESUME_FROM:-}" ] && [ ! -f "$OUT/latest.pt" ]; then
  EXTRA+=(--init-from "$RESUME_FROM")
fi

HOURS=$(awk "BEGIN {print $MINUTES / 60}")
# about 0.8 s per 600-second batch on one H100 (the CPU loaders set the pace): size the cosine decay to the run
SCHEDULE_STEPS="${SCHEDULE_STEPS:-$(awk "BEGIN {print int($MINUTES * 75 * $NPROC)}")}"
LAUNCH=("$PY")
if [ "$NPROC" -gt 1 ]; then
  LAUNCH=("$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC")
fi
set -x
"${LAUNCH[@]}" scripts/train_speech.py --preset default \
  --train "${TRAIN[@]}" --dev "${DEV[@]}" --out "$OUT" \
  --device auto ${AMP:+--amp} --threads 4 --workers 6 --batch-seconds 600 --set max_batch_items=256 \
  --lr 2e-3 --warmup 200 --max-hours "$HOURS" --schedule-steps "$SCHEDULE_STEPS" \
  --eval-every 200 --checkpoint-minutes 2 --log-every 20 --no-progress \
  --augment '{"pitch_prob": 0.1}' "${EXTRA[@]}" "$@"
ls -la "$OUT"
