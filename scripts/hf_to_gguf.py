#!/usr/bin/python3
"""Writes a Hugging Face LLaMA / Qwen2 / Qwen3 checkpoint as a GGUF file for llama.cpp.

  hf_to_gguf.py --hf_dir DIR --out FILE.gguf --gguf_py LLAMA_CPP_SRC/gguf-py
                [--outtype f32|f16|bf16|q8_0|q4_0] [--tokenizer_pre NAME]
                [--keep_hf_rope_layout]

A small stand-in for llama.cpp's convert_hf_to_gguf.py, which needs torch, transformers and
sentencepiece: this needs only numpy (Debian's python3-numpy) and llama.cpp's own gguf-py
(--gguf_py). Used by scripts/bench-vs-llamacpp.sh and to make the GGUF files that infmem's GGUF
import is tested against (then quantized by llama.cpp itself: llama-quantize-oracle, see
scripts/fetch-oracles.sh). It reads what tests/model/hf_llama_reference.py writes: float32,
float16 or bfloat16 safetensors (one file or shards with model.safetensors.index.json).

- LlamaForCausalLM (and MistralForCausalLM, the same network) -> architecture "llama".
  Hugging Face stores Wq and Wk (and their biases) permuted for its rotate-half RoPE; llama.cpp's
  LLAMA architecture rotates interleaved pairs (Meta's layout), so the rows are un-permuted
  exactly as convert_hf_to_gguf.py does (LlamaModel.permute). --keep_hf_rope_layout skips that:
  a control that must break the logits' agreement. rope_scaling "llama3" becomes the tensor
  rope_freqs.weight (per-frequency divisors of the angle), as convert_hf_to_gguf.py writes it.
- Qwen2ForCausalLM -> "qwen2" (q/k/v biases as blk.N.attn_{q,k,v}.bias) and Qwen3ForCausalLM
  -> "qwen3" (blk.N.attn_{q,k}_norm.weight). No permutation: llama.cpp runs both with NeoX
  (rotate-half) RoPE, Hugging Face's layout. No rope_scaling.
- head_dim (config.json's, else hidden/heads) is written as {arch}.attention.key_length,
  value_length and rope.dimension_count.
- Vocabulary, first found of:
  tokenizer.model   SentencePiece (parsed here from its protobuf, no sentencepiece package):
                    tokenizer.ggml.model "llama"; padded with unused pieces to vocab_size;
  tokenizer.json    with a BPE model: tokenizer.ggml.model "gpt2", tokenizer.ggml.pre from
                    --tokenizer_pre (default llama-bpe), the tokens by id with the added tokens
                    (type control when special, user-defined otherwise), "[PAD<id>]" unused
                    tokens up to vocab_size, the merges as "a b";
  (neither)         a synthetic SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte
                    tokens and numbered pieces.
  bos/eos ids from config.json, else generation_config.json; add_bos_token and a string
  chat_template from tokenizer_config.json when present.
- --outtype: f32 (default) keeps every tensor in float32; f16 / bf16 store 2-D weights as
  float16 / bfloat16; q8_0 / q4_0 quantize 2-D weights with gguf-py's own Q8_0 / Q4_0 (llama.cpp's
  reference quantizers, in numpy; a tensor whose rows are not a multiple of 32 falls back to
  float16). 1-D tensors (norms, biases, rope_freqs) stay float32, as llama.cpp's converter
  keeps them.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# Hugging Face architecture -> (GGUF architecture, un-permute Wq/Wk, extra per-layer tensors)
ARCHS = {
    "LlamaForCausalLM": ("llama", True, ()),
    "MistralForCausalLM": ("llama", True, ()),
    "Qwen2ForCausalLM": ("qwen2", False, ()),
    "Qwen3ForCausalLM": ("qwen3", False, (("self_attn.q_norm.weight", "attn_q_norm.weight"),
                                          ("self_attn.k_norm.weight", "attn_k_norm.weight"))),
}
LAYER_TENSORS = [  # (Hugging Face name in model.layers.N., GGUF name in blk.N., required)
    ("input_layernorm.weight", "attn_norm.weight", True),
    ("self_attn.q_proj.weight", "attn_q.weight", True),
    ("self_attn.k_proj.weight", "attn_k.weight", True),
    ("self_attn.v_proj.weight", "attn_v.weight", True),
    ("self_attn.q_proj.bias", "attn_q.bias", False),
    ("self_attn.k_proj.bias", "attn_k.bias", False),
    ("self_attn.v_proj.bias", "attn_v.bias", False),
    ("self_attn.o_proj.weight", "attn_output.weight", True),
    ("post_attention_layernorm.weight", "ffn_norm.weight", True),
    ("mlp.gate_proj.weight", "ffn_gate.weight", True),
    ("mlp.up_proj.weight", "ffn_up.weight", True),
    ("mlp.down_proj.weight", "ffn_down.weight", True),
]


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    hdr.pop("__metadata__", None)
    return hdr, 8 + n


def load_tensors(hf_dir):
    """{name: float32 ndarray} of a (possibly sharded) safetensors checkpoint."""
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for fn in files:
        path = os.path.join(hf_dir, fn)
        hdr, base = read_header(path)
        with open(path, "rb") as f:
            for name, m in hdr.items():
                b, e = m["data_offsets"]
                f.seek(base + b)
                raw = f.read(e - b)
                if m["dtype"] == "BF16":  # bfloat16 is the high half of a float32
                    arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
                elif m["dtype"] in ("F16", "F32"):
                    arr = np.frombuffer(raw, {"F16": "<f2", "F32": "<f4"}[m["dtype"]])
                else:
                    sys.exit("%s: tensor %s has dtype %s (want F32, F16 or BF16)"
                             % (path, name, m["dtype"]))
                out[name] = arr.astype(np.float32).reshape(m["shape"])
    return out


def unpermute(w, n_head):
    """Hugging Face's rotate-half row order back to interleaved pairs (convert_hf_to_gguf)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama3_rope_freqs(rs, theta, d):
    """rope_freqs.weight of a llama3 rope_scaling: llama.cpp divides frequency i by entry i."""
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    smooth = (old / wavelen - lo) / (hi - lo)
    scaled = np.where(wavelen > old / lo, inv / factor,
                      np.where(wavelen < old / hi, inv, (1 - smooth) * inv / factor + smooth * inv))
    return (inv / scaled).astype(np.float32)


def read_json(hf_dir, name):
    path = os.path.join(hf_dir, name)
    return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}


def varint(buf, i):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def proto_fields(buf):
    """(field number, wire type, value) of a protobuf message; value: int, bytes or float."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = struct.unpack("<f", buf[i:i + 4])[0], i + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        yield field, wire, v


def sentencepiece_vocab(path):
    """[(piece, score, type)] of a SentencePiece ModelProto (field 1: repeated pieces)."""
    pieces = []
    for field, wire, v in proto_fields(open(path, "rb").read()):
        if field != 1 or wire != 2:
            continue
        piece, score, kind = "", 0.0, 1  # type defaults to NORMAL
        for f, w, x in proto_fields(v):
            if f == 1 and w == 2:
                piece = x.decode("utf-8")
            elif f == 2 and w == 5:
                score = x
            elif f == 3 and w == 0:
                kind = x
        pieces.append((piece, score, kind))
    return pieces


def spm_vocabulary(path, V):
    """(tokens, scores, types) of a SentencePiece model of at most V pieces (padded), else None.
    SentencePiece and GGUF share the type numbers."""
    try:
        pieces = sentencepiece_vocab(path)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error):
        return None
    if not 0 < len(pieces) <= V:
        return None
    for i in range(len(pieces), V):
        pieces.append(("[PAD%d]" % i, -1000.0, 5))  # UNUSED
    return [p for p, _, _ in pieces], [s for _, s, _ in pieces], [t for _, _, t in pieces]


def synthetic_vocabulary(V):
    """(tokens, scores, types) of a SentencePiece-style vocabulary of V numbered pieces."""
    if V < 259 + 1:
        sys.exit("vocab_size %d is too small for the synthetic vocabulary" % V)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256  # UNKNOWN, CONTROL, CONTROL, BYTE
    tokens += ["\u2581t%d" % i for i in range(len(tokens), V)]
    types += [1] * (V - len(types))  # NORMAL
    scores = [0.0] * 259 + [-float(i) for i in range(V - 259)]
    return tokens, scores, types


def bpe_vocabulary(path, V):
    """(tokens, types, merges) of a tokenizer.json with a BPE model, else None."""
    tj = json.load(open(path, encoding="utf-8"))
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        return None
    by_id = {i: t for t, i in model["vocab"].items()}
    types = {}
    for a in tj.get("added_tokens") or []:
        by_id[a["id"]] = a["content"]
        types[a["id"]] = 3 if a.get("special") else 4  # CONTROL, USER_DEFINED
    outside = sorted(i for i in by_id if not 0 <= i < V)
    if outside:
        sys.exit("%s: token ids %s... outside vocab_size %d" % (path, outside[:3], V))
    tokens = [by_id.get(i, "[PAD%d]" % i) for i in range(V)]
    types = [types.get(i, 1) if i in by_id else 5 for i in range(V)]  # NORMAL, UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    return tokens, types, merges


def special_id(cfg, gen, key):
    """An id from config.json, else generation_config.json (the first of a list), else None."""
    for src in (cfg, gen):
        v = src.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, int):
            return v
    return None


def write_vocabulary(w, hf_dir, cfg, V, tokenizer_pre):
    """Writes the tokenizer.* keys; returns where the vocabulary came from."""
    gen = read_json(hf_dir, "generation_config.json")
    tok_cfg = read_json(hf_dir, "tokenizer_config.json")
    bos, eos = special_id(cfg, gen, "bos_token_id"), special_id(cfg, gen, "eos_token_id")
    spm_path, bpe_path = (os.path.join(hf_dir, n) for n in ("tokenizer.model", "tokenizer.json"))
    spm = spm_vocabulary(spm_path, V) if os.path.exists(spm_path) else None
    bpe = bpe_vocabulary(bpe_path, V) if not spm and os.path.exists(bpe_path) else None
    if bpe:
        tokens, types, merges = bpe
        source = "tokenizer.json (BPE, pre %s, %d merges)" % (tokenizer_pre, len(merges))
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(tokenizer_pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
    else:
        tokens, scores, types = spm or synthetic_vocabulary(V)
        source = spm_path if spm else "synthetic"
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_unk_token_id(0)
        bos, eos = (1 if bos is None else bos), (2 if eos is None else eos)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    add_bos = tok_cfg.get("add_bos_token", None if bpe else True)
    if isinstance(add_bos, bool):
        w.add_add_bos_token(add_bos)
    if isinstance(tok_cfg.get("chat_template"), str):
        w.add_chat_template(tok_cfg["chat_template"])
    return source


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hf_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--gguf_py", required=True, help="llama.cpp's gguf-py directory")
    p.add_argument("--outtype", choices=["f32", "f16", "bf16", "q8_0", "q4_0"], default="f32")
    p.add_argument("--tokenizer_pre", default="llama-bpe",
                   help="tokenizer.ggml.pre of a BPE (tokenizer.json) vocabulary")
    p.add_argument("--keep_hf_rope_layout", action="store_true",
                   help="control: do not un-permute Wq/Wk (breaks agreement)")
    a = p.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # llama.cpp's own writer
    Q = gguf.GGMLQuantizationType

    cfg = read_json(a.hf_dir, "config.json")
    archs = cfg.get("architectures") or [None]
    if len(archs) != 1 or archs[0] not in ARCHS:
        sys.exit("%s/config.json: architectures %r, want one of %s"
                 % (a.hf_dir, cfg.get("architectures"), sorted(ARCHS)))
    arch, permute, extra = ARCHS[archs[0]]
    e, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or h
    d = cfg.get("head_dim") or e // h
    V = cfg["vocab_size"]
    theta = float(cfg.get("rope_theta", 10000.0))
    rs = cfg.get("rope_scaling")
    if rs and not (arch == "llama" and rs.get("rope_type", rs.get("type")) == "llama3"):
        sys.exit("%s/config.json: rope_scaling %r is not supported here (only llama3, for llama)"
                 % (a.hf_dir, rs))
    t = load_tensors(a.hf_dir)

    qtype, ftype = {"f32": (Q.F32, gguf.LlamaFileType.ALL_F32),
                    "f16": (Q.F16, gguf.LlamaFileType.MOSTLY_F16),
                    "bf16": (Q.BF16, gguf.LlamaFileType.MOSTLY_BF16),
                    "q8_0": (Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
                    "q4_0": (Q.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0)}[a.outtype]
    w = gguf.GGUFWriter(a.out, arch)
    w.add_name(cfg.get("_name_or_path") or os.path.basename(os.path.normpath(a.hf_dir)))
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(e)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(h)
    w.add_head_count_kv(kv)
    w.add_key_length(d)
    w.add_value_length(d)
    w.add_rope_dimension_count(d)
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_vocab_size(V)
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    source = write_vocabulary(w, a.hf_dir, cfg, V, a.tokenizer_pre)

    names = [("model.embed_tokens.weight", "token_embd.weight", True)]
    for i in range(L):
        hp, gp = "model.layers.%d." % i, "blk.%d." % i
        names += [(hp + hn, gp + gn, req) for hn, gn, req in LAYER_TENSORS]
        names += [(hp + hn, gp + gn, True) for hn, gn in extra]
    names.append(("model.norm.weight", "output_norm.weight", True))
    tied = cfg.get("tie_word_embeddings", False)
    if not tied:  # tied: llama.cpp reuses token_embd
        names.append(("lm_head.weight", "output.weight", True))
    unknown = set(t) - {n for n, _, _ in names} - {"lm_head.weight"}
    if unknown:
        sys.exit("%s: tensors this converter does not map for %s: %s"
                 % (a.hf_dir, archs[0], sorted(unknown)[:5]))
    missing = [n for n, _, req in names if req and n not in t]
    if missing:
        sys.exit("%s: missing tensors %s" % (a.hf_dir, missing[:5]))
    names = [(hn, gn) for hn, gn, _ in names if hn in t]
    if rs:
        w.add_tensor("rope_freqs.weight", llama3_rope_freqs(rs, theta, d))
    fallback = []
    for hf_name, gguf_name in names:
        x = t[hf_name]
        if permute and not a.keep_hf_rope_layout and ".q_proj." in hf_name:
            x = unpermute(x, h)
        elif permute and not a.keep_hf_rope_layout and ".k_proj." in hf_name:
            x = unpermute(x, kv)
        x = np.ascontiguousarray(x, dtype=np.float32)
        q = Q.F32 if x.ndim == 1 else qtype
        if q in (Q.Q8_0, Q.Q4_0) and x.shape[-1] % gguf.GGML_QUANT_SIZES[q][0]:
            q = Q.F16
            fallback.append(gguf_name)
        if q == Q.F32:
            w.add_tensor(gguf_name, x)
        elif q == Q.F16:
            w.add_tensor(gguf_name, x.astype(np.float16))
        else:
            w.add_tensor(gguf_name, gguf.quants.quantize(x, q), raw_dtype=q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    params = sum(x.size for x in t.values())
    print("wrote %s: %s %s, %d tensors, %d parameters, vocabulary %s%s%s" % (
        a.out, arch, a.outtype, len(names) + bool(rs), params, source,
        ", rope_freqs (llama3)" if rs else "",
        ", Wq/Wk left in Hugging Face's layout (control)" if a.keep_hf_rope_layout else ""),
        file=sys.stderr)
    if fallback:
        print("  float16, rows not a multiple of 32: %s" % ", ".join(fallback), file=sys.stderr)


if __name__ == "__main__":
    main()
