#!/usr/bin/env bash
# Trains models/brown-lm (infinite memory, the server's default model) and
# models/brown-lm-window (the same model without long-term memory, the baseline of
# docs/results.md) on the Brown corpus: one SentencePiece tokenizer for both, both runs at
# once (one thread each), then test-split perplexity of both.
#   scripts/train-brown-lm.sh          (about 80 minutes on two cores)
source "$(dirname "$0")/train-common.sh"
build_trainer
scripts/fetch-brown.sh
[ -f "$RUNS/brown-tokenizer/tokenizer.model" ] ||
  "$TRAIN" tokenizer --data=data/brown --out="$RUNS/brown-tokenizer" --vocab_size=4096
args=(--task=text --data=data/brown --tokenizer="$RUNS/brown-tokenizer/tokenizer.model"
      --dim=128 --layers=3 --heads=4 --tie_embeddings --segment_length=128 --num_basis=128
      --num_samples=128 --tau=0.75 --ridge_lambda=1.0 --length=1024 --batch=4 --steps=1500
      --warmup=100 --lr=1e-3 --log_every=25 --checkpoint_every=250 --seed=1)
train_pair brown "${args[@]}"
ship brown-infinite brown-lm
ship brown-window brown-lm-window
for m in brown-lm brown-lm-window; do
  "$TRAIN" eval --task=text --data=data/brown --split=test --model_dir=models/$m --threads=1 \
    --device=cpu
done
