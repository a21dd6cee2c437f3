#!/usr/bin/python3
"""Helpers of scripts/bench-vs-llamacpp.sh (numpy only; Debian's python3-numpy).

  tokens  --out FILE --n N --vocab V [--seed S]
      N token ids drawn uniformly from [3, V) (no BOS/EOS/UNK), whitespace-separated.
  compare --tokens FILE [--tol 1e-3] [--min_agree 0.99] NAME=LOGITS ... PAIR ...
      LOGITS: a text file with one line of floats per position (llama-logits, model-bench
      --logits_of) or a safetensors file holding "logits" [T, V] (hf_llama_reference.py
      logits). Each PAIR is A:B or A:B:info, names of two LOGITS. Prints, per pair, the max
      and mean |A - B| over the spread (max - min) of B's logits, both over all positions, and
      how many positions' argmaxes agree. A pair fails when the max is above --tol or fewer
      than --min_agree of the argmaxes agree; `info` pairs are printed, never failed.
      Exits 1 when a pair fails.
  table   --raw DIR [--prefill 512,4096] [--contexts 1024,...] [--batches 8,32]
      Reads the raw outputs the script left in DIR and prints the tokens/s table.
"""
import argparse
import glob
import json
import os
import re
import statistics
import struct
import sys

import numpy as np


def cmd_tokens(a):
    rng = np.random.default_rng(a.seed)
    ids = rng.integers(3, a.vocab, size=a.n)
    with open(a.out, "w") as f:
        f.write(" ".join(str(int(t)) for t in ids) + "\n")


def read_logits(path, T):
    if path.endswith(".safetensors"):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
            m = hdr["logits"]
            if m["dtype"] != "F32":
                sys.exit("%s: logits are %s, want F32" % (path, m["dtype"]))
            b, e = m["data_offsets"]
            f.seek(8 + n + b)
            x = np.frombuffer(f.read(e - b), "<f4").reshape(m["shape"]).astype(np.float64)
    else:
        rows = []
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts:
                    try:
                        rows.append(np.array(parts, dtype=np.float64))
                    except ValueError:  # a stray log line
                        continue
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            sys.exit("%s: rows of different widths %s" % (path, sorted(widths)[:4]))
        x = np.stack(rows)
    if x.shape[0] != T:
        sys.exit("%s: %d positions of logits, want %d (one per token)" % (path, x.shape[0], T))
    return x


def cmd_compare(a):
    T = len(open(a.tokens).read().split())
    logits, pairs = {}, []
    for item in a.items:
        if "=" in item:
            name, path = item.split("=", 1)
            logits[name] = path
        else:
            pairs.append(item.split(":"))
    loaded = {}

    def get(name):
        if name not in loaded:
            loaded[name] = read_logits(logits[name], T)
        return loaded[name]

    failed = False
    print("| logits of A vs B (%d positions) | max abs diff / spread of B | mean abs diff / "
          "spread | argmax agrees | verdict |" % T)
    print("|---|---:|---:|---:|---|")
    for pair in pairs:
        A, B = pair[0], pair[1]
        info = len(pair) > 2 and pair[2] == "info"
        x, y = get(A), get(B)
        if x.shape != y.shape:
            sys.exit("%s %s and %s %s differ in shape" % (A, x.shape, B, y.shape))
        spread = float(y.max() - y.min())
        d = np.abs(x - y)
        rel_max, rel_mean = float(d.max()) / spread, float(d.mean()) / spread
        agree = int((x.argmax(1) == y.argmax(1)).sum())
        ok = rel_max <= a.tol and agree >= a.min_agree * T
        verdict = "(informational)" if info else ("ok" if ok else "FAIL")
        failed |= not ok and not info
        print("| %s vs %s | %.3g | %.3g | %d/%d | %s |" % (A, B, rel_max, rel_mean, agree, T,
                                                          verdict))
    print("(spread of B: max - min of B's logits over all positions; a pair passes with max "
          "<= %g and argmax agreement >= %.0f%%)" % (a.tol, 100 * a.min_agree))
    sys.exit(1 if failed else 0)


# --- the table ---------------------------------------------------------------------------


def median(v):
    return statistics.median(v) if v else None


def llama_bench(path):
    """{(n_prompt, n_gen, n_depth, fa): avg tokens/s} of a llama-bench -o json file."""
    if not os.path.exists(path):
        return {}
    text = open(path).read()
    start = text.find("[")
    try:
        rows = json.loads(text[start:]) if start >= 0 else []
    except ValueError:
        rows = []
    return {(r["n_prompt"], r["n_gen"], r.get("n_depth", 0), int(r["flash_attn"])):
            r["avg_ts"] for r in rows}


def llama_batched(paths):
    """{pl: median speed_tg} over llama-batched-bench --output-format jsonl logs."""
    got = {}
    for path in paths:
        for line in open(path):
            line = line.strip()
            if line.startswith("{") and "speed_tg" in line:
                r = json.loads(line)
                got.setdefault(r["pl"], []).append(r["speed_tg"])
    return {k: median(v) for k, v in got.items()}


ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)?")


def infmem_prefill(path):
    if not os.path.exists(path):
        return None
    v = [float(m.group(1)) for m in re.finditer(r"^prefill: ([0-9.]+) tokens/s", open(path).read(),
                                                 re.M)]
    return median(v)


def infmem_decode(path):
    """{context: tokens/s} from model-bench --model_dirs tables (step median in ms)."""
    if not os.path.exists(path):
        return {}
    got = {}
    for line in open(path):
        m = ROW.match(line)
        if m:
            got.setdefault(int(m.group(1)), []).append(1e3 / float(m.group(2)))
    return {k: median(v) for k, v in got.items()}


def infmem_batched(path):
    """{sessions: tokens/s} from model-bench's batched-decode table."""
    if not os.path.exists(path):
        return {}
    got, in_table = {}, False
    for line in open(path):
        if line.startswith("batched decode"):
            in_table = True
        m = ROW.match(line)
        if in_table and m and m.group(3):
            got.setdefault(int(m.group(1)), []).append(float(m.group(3)))
    return {k: median(v) for k, v in got.items()}


def fmt(v, note=""):
    if v is None:
        return "-"
    s = "{:,.0f}".format(v) if v >= 100 else "%.1f" % v
    return s + note


def cmd_table(a):
    raw = a.raw
    prefill = [int(x) for x in a.prefill.split(",") if x]
    contexts = [int(x) for x in a.contexts.split(",") if x]
    batches = [int(x) for x in a.batches.split(",") if x]
    lb = {q: {**llama_bench(os.path.join(raw, "llama-pp-%s.json" % q)),
              **llama_bench(os.path.join(raw, "llama-tg-%s.json" % q))} for q in ("f32", "q8_0")}
    lbb = {(q, fa): llama_batched(sorted(glob.glob(os.path.join(raw, "llama-batched-%s-fa%s-*.log"
                                                              % (q, fa)))))
           for q in ("f32", "q8_0") for fa in ("on", "off")}
    cols = ["full", "infinite", "full-f16kv", "int8"]
    ipp = {(c, n): infmem_prefill(os.path.join(raw, "infmem-%s-pp%d.txt" % (c, n)))
           for c in cols for n in prefill}
    idec = {c: infmem_decode(os.path.join(raw, "infmem-%s-decode.txt" % c)) for c in cols}
    ibat = {c: infmem_batched(os.path.join(raw, "infmem-%s-batched.txt" % c)) for c in cols}
    have = {c: any(v is not None for (cc, _), v in ipp.items() if cc == c) or bool(idec[c])
            for c in cols}
    cols = [c for c in cols if c in ("full", "infinite") or have[c]]

    def best_q8(key_on, key_off, table):
        on, off = table.get(key_on), table.get(key_off)
        if on is None and off is None:
            return "-"
        if off is None or (on is not None and on >= off):
            return fmt(on, " (fa on)")
        return fmt(off, " (fa off)")

    head = ["", "llama.cpp F32, fa on", "llama.cpp F32, fa off", "llama.cpp Q8_0 (faster fa)",
            "infmem full", "infmem infinite"]
    if "full-f16kv" in cols:
        head.append("infmem full, float16 KV cache")
    if "int8" in cols:
        head.append("infmem full, int8 weights" +
                    (", float16 KV cache" if "full-f16kv" in cols else ""))
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))

    def row(label, cells):
        print("| " + " | ".join([label] + cells[:len(head) - 1]) + " |")

    for n in prefill:
        f = lb["f32"]
        row("prefill %d tokens" % n,
            [fmt(f.get((n, 0, 0, 1))), fmt(f.get((n, 0, 0, 0))),
             best_q8((n, 0, 0, 1), (n, 0, 0, 0), lb["q8_0"])] +
            [fmt(ipp[(c, n)]) for c in cols])
    for ctx in contexts:
        f = lb["f32"]
        keys = [k for k in f if k[0] == 0 and k[2] == ctx]
        ng = keys[0][1] if keys else 64
        row("decode, 1 stream, context %s" % ("%dk" % (ctx // 1024) if ctx % 1024 == 0 else ctx),
            [fmt(f.get((0, ng, ctx, 1))), fmt(f.get((0, ng, ctx, 0))),
             best_q8((0, ng, ctx, 1), (0, ng, ctx, 0), lb["q8_0"])] +
            [fmt(idec[c].get(ctx)) for c in cols])
    for b in batches:
        q8 = {("x", 1): lbb[("q8_0", "on")].get(b), ("x", 0): lbb[("q8_0", "off")].get(b)}
        row("batched decode, %d streams" % b,
            [fmt(lbb[("f32", "on")].get(b)), fmt(lbb[("f32", "off")].get(b)),
             best_q8(("x", 1), ("x", 0), q8)] + [fmt(ibat[c].get(b)) for c in cols])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokens")
    t.add_argument("--out", required=True)
    t.add_argument("--n", type=int, required=True)
    t.add_argument("--vocab", type=int, required=True)
    t.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("compare")
    c.add_argument("--tokens", required=True)
    c.add_argument("--tol", type=float, default=1e-3)
    c.add_argument("--min_agree", type=float, default=0.99)
    c.add_argument("items", nargs="+")
    b = sub.add_parser("table")
    b.add_argument("--raw", required=True)
    b.add_argument("--prefill", default="512,4096")
    b.add_argument("--contexts", default="1024,4096,16384")
    b.add_argument("--batches", default="8,32")
    a = p.parse_args()
    {"tokens": cmd_tokens, "compare": cmd_compare, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
