#!/usr/bin/env bash
# How the shipped weights were trained: SRResNet (mse phase) then SRGAN-MSE (gan phase), each for a fixed
# wall-clock budget (SIGTERM makes srgan save a checkpoint and exit cleanly). Runs from the repo root with
# the package importable (PYTHONPATH=. or pip install -e .).
#   DATA       training folders (default .devdata/train: T91 + BSD200 as lossless WebP, see docs/RESULTS.md)
#   EVAL       a benchmark set evaluated during training (default .devdata/Set5)
#   OUT        where generator weights and logs are copied (default release/)
#   MSE_SECONDS / GAN_SECONDS   wall-clock budget of each phase
set -euo pipefail
DATA=${DATA:-.devdata/train}
EVAL=${EVAL:-.devdata/Set5}
OUT=${OUT:-release}
RUNS=${RUNS:-/tmp/srgan-release}
MSE_SECONDS=${MSE_SECONDS:-300}
GAN_SECONDS=${GAN_SECONDS:-120}
GAN_STEPS=${GAN_STEPS:-2400}
WORKERS=${WORKERS:-12}
mkdir -p "$OUT"
export SRGAN_CACHE_DIR=${SRGAN_CACHE_DIR:-/tmp/srgan-cache}
PY=${PYTHON:-python3}

timeout -s TERM "$MSE_SECONDS" $PY -m srgan train --config paper-srresnet \
    train_data="$DATA" eval_data="$EVAL" out_dir="$RUNS/srresnet" \
    batch_size=64 lr=2e-4 num_workers="$WORKERS" checkpoint_every=1000 keep_last=1 \
    log_every=250 eval_every=1000 progress=false || [ $? -eq 124 ]
cp "$RUNS/srresnet/generator.safetensors" "$OUT/srresnet.safetensors"
cp "$RUNS/srresnet/log.jsonl" "$OUT/srresnet-log.jsonl"

timeout -s TERM "$GAN_SECONDS" $PY -m srgan train --config srgan-mse \
    train_data="$DATA" eval_data="$EVAL" out_dir="$RUNS/srgan" init_from="$OUT/srresnet.safetensors" \
    steps="$GAN_STEPS" num_workers="$WORKERS" checkpoint_every=600 keep_last=1 \
    log_every=200 eval_every=600 progress=false || [ $? -eq 124 ]
cp "$RUNS/srgan/generator.safetensors" "$OUT/srgan.safetensors"
cp "$RUNS/srgan/log.jsonl" "$OUT/srgan-log.jsonl"
ls -la "$OUT"
