#!/usr/bin/env bash
# A short acoustic-model training run on a CUDA machine; the checkpoints land in $OUT (default runs/speech_gpu).
#
#   OUT=/path/to/out MINUTES=8 scripts/gpu_train_speech.sh [extra speech.train arguments]
#
# Uses the same code as the CPU run (device auto -> cuda, TF32, bigger batches, 6 loader workers).
# AMP=1 adds bfloat16 autocast (off by default: the cuDNN LSTM in fp32/TF32 is already fast at this size).
# Data: the mix of the shipped model's run (real speech weighted per corpus, FOTAQ, Asterisk, synthetic) plus
# the extra voices when built; without data/speech, ../shared (real only).
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
  TRAIN+=("data/speech/real_train.jsonl:1")
else
  TRAIN+=("../shared/data/speech/train.jsonl:1")
fi
CORPUS_WEIGHTS="kathleen=1.2,picovoice_wakeword=0.5,speech_commands=8,an4=8"
# drascula and the kids' game / warzone words stay out: they are the shipped model's unseen real test sets
for m in data/speech/asterisk.jsonl:2 data/speech/fotaq.jsonl:1.5 data/speech/synth_train.jsonl:1 \
         data/speech_debian_extra/synth_train.jsonl:1 data/speech_neural/synth_train.jsonl:1; do
  [ -f "${m%:*}" ] && TRAIN+=("$m")
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
  --train "${TRAIN[@]}" --corpus-weights "$CORPUS_WEIGHTS" --dev "${DEV[@]}" --out "$OUT" \
  --device auto ${AMP:+--amp} --threads 4 --workers 6 --batch-seconds 600 --set max_batch_items=256 \
  --lr 2e-3 --warmup 200 --max-hours "$HOURS" --schedule-steps "$SCHEDULE_STEPS" \
  --eval-every 200 --checkpoint-minutes 2 --log-every 20 --no-progress \
  --augment '{"pitch_prob":0.1,"speed_prob":0.5,"noise_prob":0.3,"reverb_prob":0.15,"telephone_prob":0.2,"codec_prob":0.05,"spec_prob":0.6}' \
  "${EXTRA[@]}" "$@"
ls -la "$OUT"
