#!/usr/bin/python3
"""Reference for the tests of infmem's Hugging Face (LLaMA family) import.

Standalone: needs only Debian's python3-torch and numpy (no `safetensors` or
`transformers`). The forward pass is written from Hugging Face's documented
LlamaForCausalLM semantics (RMSNorm, rotate-half RoPE with optional llama3
rope_scaling, grouped-query attention, SwiGLU MLP), not taken from its code.

  write  --out DIR --seed S [--shape tiny|tinyllama|bench30m|gguf]
         [--dtype bfloat16|float16|float32]
         [--shards K] [--tokenizer PATH] [--arch LlamaForCausalLM|MistralForCausalLM|
          Qwen2ForCausalLM|Qwen3ForCausalLM|Phi3ForCausalLM] [--head_dim D]
         [--rope_scaling none|llama3] [--tie]
      Writes a checkpoint with random weights in Hugging Face's layout: config.json,
      generation_config.json, model.safetensors (or K shards plus
      model.safetensors.index.json) and, if given, tokenizer.model. Tensors are drawn
      in a fixed order from one seeded generator, so the weights do not depend on
      --shards; they are generated and written one at a time.
  logits --model DIR --tokens FILE --out FILE
      Reads that checkpoint and writes the float32 logits [T, V] of a causal forward
      over the whitespace-separated token ids in FILE (computed in float64 on the
      CPU) as the tensor "logits" of a safetensors file, and prints one line:
      T=<T> V=<V> spread=<max-min> argmax_first=<argmax of row 0>.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch

SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=160, num_attention_heads=4,
                 num_key_value_heads=2, num_hidden_layers=2, vocab_size=4096,
                 rms_norm_eps=1e-6, rope_theta=500000.0, max_position_embeddings=2048),
    "tinyllama": dict(hidden_size=2048, intermediate_size=5632, num_attention_heads=32,
                      num_key_value_heads=4, num_hidden_layers=22, vocab_size=32000,
                      rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=2048),
    # scripts/bench-vs-llamacpp.sh: 29.9M parameters (untied), timed against llama.cpp at
    # contexts up to 32k, hence the long max_position_embeddings (which infmem ignores).
    "bench30m": dict(hidden_size=512, intermediate_size=1408, num_attention_heads=8,
                     num_key_value_heads=8, num_hidden_layers=8, vocab_size=4096,
                     rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=65536),
    # GGUF import tests: the smallest LLaMA whose rows K-quants (256-element blocks) accept.
    "gguf": dict(hidden_size=256, intermediate_size=512, num_attention_heads=4,
                 num_key_value_heads=2, num_hidden_layers=2, vocab_size=4096,
                 rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=2048),
}
# torch dtype, safetensors dtype tag, bytes per element
MODEL_TYPES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
               "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "Phi3ForCausalLM": "phi3"}
DTYPES = {"bfloat16": (torch.bfloat16, "BF16", 2), "float16": (torch.float16, "F16", 2),
          "float32": (torch.float32, "F32", 4)}
# Small enough that a 300-token test sees all three llama3 regimes in the tiny shape
# (head_dim 16, theta 5e5: one unchanged, one smoothed, six divided frequencies).
LLAMA3_TINY = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def tensor_specs(c, tie, arch):
    """[(name, shape, std)] in drawing and storage order; std None marks a norm weight."""
    e, f, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    h, kv = c["num_attention_heads"], c["num_key_value_heads"]
    d = head_dim(c)
    # Projections get std 1/sqrt(fan_in), so attention scores and logits are O(1) and
    # argmaxes vary. Embeddings get 0.25: large enough to matter in the residual stream,
    # small enough that a tied head does not simply echo the input token.
    specs = [("model.embed_tokens.weight", [V, e], 0.25)]
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        specs.append((p + "input_layernorm.weight", [e], None))
        if arch == "Phi3ForCausalLM":
            specs.append((p + "self_attn.qkv_proj.weight", [(h + 2 * kv) * d, e], e ** -0.5))
        else:
            specs += [(p + "self_attn.q_proj.weight", [h * d, e], e ** -0.5),
                      (p + "self_attn.k_proj.weight", [kv * d, e], e ** -0.5),
                      (p + "self_attn.v_proj.weight", [kv * d, e], e ** -0.5)]
        if arch == "Qwen2ForCausalLM":
            specs += [(p + "self_attn.q_proj.bias", [h * d], 0.1),
                      (p + "self_attn.k_proj.bias", [kv * d], 0.1),
                      (p + "self_attn.v_proj.bias", [kv * d], 0.1)]
        if arch == "Qwen3ForCausalLM":
            specs += [(p + "self_attn.q_norm.weight", [d], None),
                      (p + "self_attn.k_norm.weight", [d], None)]
        specs += [(p + "self_attn.o_proj.weight", [e, h * d], (h * d) ** -0.5),
                  (p + "post_attention_layernorm.weight", [e], None)]
        if arch == "Phi3ForCausalLM":
            specs.append((p + "mlp.gate_up_proj.weight", [2 * f, e], e ** -0.5))
        else:
            specs += [(p + "mlp.gate_proj.weight", [f, e], e ** -0.5),
                      (p + "mlp.up_proj.weight", [f, e], e ** -0.5)]
        specs.append((p + "mlp.down_proj.weight", [e, f], f ** -0.5))
    specs.append(("model.norm.weight", [e], None))
    if not tie:
        specs.append(("lm_head.weight", [V, e], e ** -0.5))
    return specs


def numel(shape):
    return int(np.prod(shape, dtype=np.int64))


def st_header(entries):
    """safetensors prefix for [(name, dtype tag, shape, nbytes)] stored in that order."""
    hdr, off = {}, 0
    for name, tag, shape, nb in entries:
        hdr[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [off, off + nb]}
        off += nb
    hdr["__metadata__"] = {"format": "pt"}
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def to_bytes(t):
    if t.dtype == torch.bfloat16:  # torch 1.13 cannot .numpy() a bfloat16 tensor
        t = t.view(torch.int16)
    return t.contiguous().numpy().tobytes()


def split_shards(specs, k, esize):
    """k contiguous, non-empty groups of specs of about equal byte size."""
    if not 1 <= k <= len(specs):
        sys.exit("--shards must be between 1 and %d" % len(specs))
    sizes = [numel(s) * esize for _, s, _ in specs]
    total, acc, groups = sum(sizes), 0, [[] for _ in range(k)]
    for spec, sz in zip(specs, sizes):
        groups[min(k - 1, acc * k // total)].append(spec)
        acc += sz
    if any(not g for g in groups):  # a huge tensor swallowed a share: split by count
        bounds = [len(specs) * j // k for j in range(k + 1)]
        groups = [specs[bounds[j]:bounds[j + 1]] for j in range(k)]
    return groups


def cmd_write(a):
    tdtype, tag, esize = DTYPES[a.dtype]
    c = dict(SHAPES[a.shape])
    scaling = None
    if a.rope_scaling == "llama3":
        scaling = dict(LLAMA3_TINY)
        if a.shape != "tiny":
            scaling["original_max_position_embeddings"] = 8192
    if a.head_dim:
        c["head_dim"] = a.head_dim
    config = {"architectures": [a.arch], "model_type": MODEL_TYPES[a.arch],
              **c, "rope_scaling": scaling, "tie_word_embeddings": a.tie,
              "hidden_act": "silu", "attention_bias": False, "bos_token_id": 1,
              "eos_token_id": 2, "torch_dtype": a.dtype}
    if a.arch in ("MistralForCausalLM", "Phi3ForCausalLM"):
        config["sliding_window"] = None  # full causal attention, as in the reference
    if a.arch.startswith("Qwen"):  # as Qwen ships them: a window that is not applied
        config.update(sliding_window=32768, use_sliding_window=False, max_window_layers=28)
    if a.arch == "Qwen2ForCausalLM":
        del config["attention_bias"]  # Qwen2's q/k/v biases are not a config field
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2}, f, indent=2)
    if a.tokenizer:
        shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.model"))

    specs = tensor_specs(c, a.tie, a.arch)
    total_params = sum(numel(s) for _, s, _ in specs)
    verbose = total_params > 20_000_000
    groups = split_shards(specs, a.shards, esize)
    names = (["model.safetensors"] if a.shards == 1 else
             ["model-%05d-of-%05d.safetensors" % (i + 1, a.shards) for i in range(a.shards)])
    gen = torch.Generator().manual_seed(a.seed)
    weight_map, done = {}, 0
    for fname, group in zip(names, groups):
        with open(os.path.join(a.out, fname), "wb") as f:
            f.write(st_header([(n, tag, s, numel(s) * esize) for n, s, _ in group]))
            for name, shape, std in group:
                w = torch.randn(shape, generator=gen, dtype=torch.float32)
                w = 1.0 + 0.1 * w if std is None else w * std
                f.write(to_bytes(w.to(tdtype)))
                del w
                weight_map[name] = fname
                done += numel(shape)
                if verbose:
                    print("write: %s %s (%.1f%%)" % (name, shape, 100.0 * done / total_params),
                          file=sys.stderr, flush=True)
    if a.shards > 1:
        index = {"metadata": {"total_size": total_params * esize}, "weight_map": weight_map}
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)
    print("wrote %s: %d tensors, %d parameters, %d shard(s)" % (a.out, len(specs), total_params,
                                                                a.shards), file=sys.stderr)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    hdr.pop("__metadata__", None)
    return hdr, 8 + n


class Checkpoint:
    """Lazy reader of a (possibly sharded) safetensors checkpoint; get() gives float64."""

    def __init__(self, d):
        index = os.path.join(d, "model.safetensors.index.json")
        wmap = json.load(open(index))["weight_map"] if os.path.exists(index) else None
        files = sorted(set(wmap.values())) if wmap else ["model.safetensors"]
        self.where = {}
        for fn in files:
            hdr, base = read_header(os.path.join(d, fn))
            for name, meta in hdr.items():
                if name in self.where:
                    sys.exit("tensor %s stored twice" % name)
                self.where[name] = (os.path.join(d, fn), base, meta)
        if wmap and any(os.path.basename(self.where.get(n, ("",))[0]) != fn
                        for n, fn in wmap.items()):
            sys.exit("index weight_map disagrees with the shards")

    def __contains__(self, name):
        return name in self.where

    def get(self, name):
        path, base, m = self.where[name]
        b, e = m["data_offsets"]
        with open(path, "rb") as f:
            f.seek(base + b)
            raw = f.read(e - b)
        if m["dtype"] == "BF16":  # bfloat16 is the high half of a float32
            arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            arr = np.frombuffer(raw, {"F16": "<f2", "F32": "<f4"}[m["dtype"]])
        return torch.from_numpy(arr.reshape(m["shape"]).astype(np.float64))


def inv_frequencies(cfg, d):
    inv = 1.0 / cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    if rs.get("rope_type", rs.get("type")) != "llama3":
        sys.exit("unsupported rope_scaling %r" % rs)
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    smooth = (old / wavelen - lo) / (hi - lo)
    mid = (1 - smooth) * inv / factor + smooth * inv
    return torch.where(wavelen > old / lo, inv / factor,
                       torch.where(wavelen < old / hi, inv, mid))


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(ck, cfg, tokens):
    """float32 logits [T, V] of a causal forward over tokens, computed in float64."""
    T, e, eps = len(tokens), cfg["hidden_size"], cfg["rms_norm_eps"]
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = head_dim(cfg)
    arch = cfg["architectures"][0]
    embed = ck.get("model.embed_tokens.weight")
    x = embed[torch.tensor(tokens, dtype=torch.long)]
    tied = cfg.get("tie_word_embeddings", False)
    if not tied and "lm_head.weight" not in ck:
        sys.exit("untied checkpoint without lm_head.weight")
    if not tied:
        del embed
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_frequencies(cfg, d)[None, :]
    ang = torch.cat((ang, ang), dim=-1)  # [T, d]
    cos, sin = ang.cos(), ang.sin()
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        def w(n):
            return ck.get("model.layers.%d.%s.weight" % (i, n))

        def proj(n):  # q, k or v: [T, heads * d], with Qwen2's bias
            if arch == "Phi3ForCausalLM":  # rows: h·d of q, kv·d of k, kv·d of v
                fused = a @ w("self_attn.qkv_proj").T
                return {"q": fused[:, :h * d], "k": fused[:, h * d:(h + kv) * d],
                        "v": fused[:, (h + kv) * d:]}[n]
            y = a @ w("self_attn.%s_proj" % n).T
            if arch == "Qwen2ForCausalLM":
                y = y + ck.get("model.layers.%d.self_attn.%s_proj.bias" % (i, n))
            return y

        a = rms_norm(x, w("input_layernorm"), eps)
        q = proj("q").view(T, h, d)
        k = proj("k").view(T, kv, d)
        v = proj("v").view(T, kv, d).transpose(0, 1)
        if arch == "Qwen3ForCausalLM":  # each head normalised before RoPE
            q, k = rms_norm(q, w("self_attn.q_norm"), eps), rms_norm(k, w("self_attn.k_norm"), eps)
        q, k = q.transpose(0, 1), k.transpose(0, 1)  # [heads, T, d]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(h // kv, dim=0), v.repeat_interleave(h // kv, dim=0)
        s = (q @ k.transpose(1, 2)) / math.sqrt(d)
        o = torch.softmax(s.masked_fill(future, float("-inf")), dim=-1) @ v
        x = x + o.transpose(0, 1).reshape(T, h * d) @ w("self_attn.o_proj").T
        m = rms_norm(x, w("post_attention_layernorm"), eps)
        if arch == "Phi3ForCausalLM":  # gate rows first, then up
            gate, up = (m @ w("mlp.gate_up_proj").T).chunk(2, dim=-1)
        else:
            gate, up = m @ w("mlp.gate_proj").T, m @ w("mlp.up_proj").T
        gated = torch.nn.functional.silu(gate) * up
        x = x + gated @ w("mlp.down_proj").T
    x = rms_norm(x, ck.get("model.norm.weight"), eps)
    head = embed if tied else ck.get("lm_head.weight")
    return (x @ head.T).to(torch.float32)


def cmd_logits(a):
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    tokens = [int(t) for t in open(a.tokens).read().split()]
    V = cfg["vocab_size"]
    if not tokens or any(not 0 <= t < V for t in tokens):
        sys.exit("tokens must be a non-empty list of ids in [0, %d)" % V)
    logits = forward(Checkpoint(a.model), cfg, tokens)
    data = to_bytes(logits)
    with open(a.out, "wb") as f:
        f.write(st_header([("logits", "F32", list(logits.shape), len(data))]))
        f.write(data)
    print("T=%d V=%d spread=%.6g argmax_first=%d" % (
        len(tokens), V, (logits.max() - logits.min()).item(), int(logits[0].argmax())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a random-weight Hugging Face LLaMA checkpoint")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    w.add_argument("--dtype", choices=list(DTYPES), default="bfloat16")
    w.add_argument("--shards", type=int, default=1)
    w.add_argument("--tokenizer")
    w.add_argument("--arch", choices=list(MODEL_TYPES), default="LlamaForCausalLM")
    w.add_argument("--head_dim", type=int, help="a head width other than hidden/heads")
    w.add_argument("--rope_scaling", choices=["none", "llama3"], default="none")
    w.add_argument("--tie", action="store_true")
    g = sub.add_parser("logits", help="reference logits of a checkpoint for a token list")
    g.add_argument("--model", required=True)
    g.add_argument("--tokens", required=True)
    g.add_argument("--out", required=True)
    a = p.parse_args()
    if sys.byteorder != "little":
        sys.exit("needs a little-endian host")
    cmd_write(a) if a.cmd == "write" else cmd_logits(a)


if __name__ == "__main__":
    main()
