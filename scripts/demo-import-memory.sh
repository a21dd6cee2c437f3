#!/usr/bin/env bash
# docs/results.md, "A long-term memory for a pretrained model": treats models/brown-lm-window
# as a pretrained checkpoint, exports it in Hugging Face layout, imports it back with a
# long-term memory (infmem-convert --memory=infinite, the settings of models/brown-lm), trains
# only the memory (--freeze=backbone) on the Brown train split, and evaluates the window model,
# its re-import, and the fine-tuned model: test perplexity by position and the swap-prefix
# memory test. Needs data/brown (scripts/fetch-brown.sh).
#   scripts/demo-import-memory.sh [STEPS]     (default 200; about 20 minutes on one core)
source "$(dirname "$0")/train-common.sh"
steps=${1:-200}
CONVERT=build/release/train/infmem-convert
cmake --build --preset release -j 2 --target infmem-train infmem-convert >/dev/null
demo=$RUNS/import-demo
rm -rf "$demo/hf" "$demo/window" "$demo/infinite"
mkdir -p "$demo"
"$CONVERT" --to_hf --model_dir=models/brown-lm-window --out="$demo/hf"
"$CONVERT" --hf_dir="$demo/hf" --out="$demo/window" --memory=window --segment_length=128
"$CONVERT" --hf_dir="$demo/hf" --out="$demo/infinite" --memory=infinite --segment_length=128 \
  --num_basis=128 --num_samples=128 --tau=0.75 --ridge_lambda=1.0 --sticky=true
resume=()
[ -f "$demo/tuned/optimizer.pt" ] && resume=(--resume)
"$TRAIN" finetune --task=text --data=data/brown --model_dir="$demo/infinite" --out="$demo/tuned" \
  --freeze=backbone --length=1024 --batch=4 --steps="$steps" --warmup=20 --lr=1e-3 \
  --log_every=10 --checkpoint_every=25 --seed=1 --threads="$THREADS" "${resume[@]}"
for m in models/brown-lm-window "$demo/window" "$demo/infinite" "$demo/tuned"; do
  "$TRAIN" eval --task=text --data=data/brown --split=test --model_dir="$m" --threads="$THREADS"
  "$TRAIN" eval --task=text --data=data/brown --split=test --model_dir="$m" --threads="$THREADS" \
    --swap_prefix=1024
done
