#!/usr/bin/python3
"""Writes a Hugging Face LLaMA checkpoint as a GGUF file for llama.cpp (benchmarks only).

  hf_to_gguf.py --hf_dir DIR --out FILE.gguf --gguf_py LLAMA_CPP_SRC/gguf-py
                [--outtype f32|f16|q8_0] [--keep_hf_rope_layout]

A small stand-in for llama.cpp's convert_hf_to_gguf.py, which needs torch, transformers and
sentencepiece: this needs only numpy (Debian's python3-numpy) and llama.cpp's own gguf-py
(--gguf_py). It reads what tests/model/hf_llama_reference.py writes and what infmem-convert
imports: LlamaForCausalLM, float32/float16/bfloat16 safetensors (one file or shards with
model.safetensors.index.json), no biases, no rope_scaling.

- Architecture "llama". Hugging Face stores Wq and Wk permuted for its rotate-half RoPE;
  llama.cpp's LLAMA architecture rotates interleaved pairs (Meta's layout), so the rows are
  un-permuted exactly as convert_hf_to_gguf.py does (LlamaModel.permute).
  --keep_hf_rope_layout skips that: a control that must break the logits' agreement.
- Vocabulary: the SentencePiece tokenizer.model of the checkpoint when it has vocab_size pieces
  (parsed here from its protobuf, no sentencepiece package needed), padded with unused pieces
  when it has fewer; otherwise a synthetic SentencePiece ("llama") vocabulary: <unk>, <s>,
  </s>, the 256 byte tokens and numbered pieces. Either way a valid GGUF vocabulary of
  vocab_size tokens; the benchmark feeds token ids.
- --outtype: f32 (default) keeps every tensor in float32; f16 stores 2-D weights as float16;
  q8_0 quantizes 2-D weights with gguf-py's own Q8_0 (llama.cpp's reference quantizer, in
  numpy). 1-D norm weights stay float32, as llama.cpp's converter keeps them.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


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


def vocabulary(hf_dir, V):
    """(tokens, scores, types, source); SentencePiece and GGUF share the type numbers."""
    path = os.path.join(hf_dir, "tokenizer.model")
    if os.path.exists(path):
        try:
            pieces = sentencepiece_vocab(path)
        except (ValueError, IndexError, UnicodeDecodeError, struct.error):
            pieces = []
        if 0 < len(pieces) <= V:
            for i in range(len(pieces), V):
                pieces.append(("[PAD%d]" % i, -1000.0, 5))  # UNUSED
            return ([p for p, _, _ in pieces], [s for _, s, _ in pieces],
                    [t for _, _, t in pieces], path)
    if V < 259 + 1:
        sys.exit("vocab_size %d is too small for the synthetic vocabulary" % V)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256  # UNKNOWN, CONTROL, CONTROL, BYTE
    tokens += ["\u2581t%d" % i for i in range(len(tokens), V)]
    types += [1] * (V - len(types))  # NORMAL
    scores = [0.0] * 259 + [-float(i) for i in range(V - 259)]
    return tokens, scores, types, "synthetic"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hf_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--gguf_py", required=True, help="llama.cpp's gguf-py directory")
    p.add_argument("--outtype", choices=["f32", "f16", "q8_0"], default="f32")
    p.add_argument("--keep_hf_rope_layout", action="store_true",
                   help="control: do not un-permute Wq/Wk (breaks agreement)")
    a = p.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # llama.cpp's own writer

    cfg = json.load(open(os.path.join(a.hf_dir, "config.json")))
    if cfg.get("architectures") != ["LlamaForCausalLM"]:
        sys.exit("%s/config.json: architectures %r, want [\"LlamaForCausalLM\"]"
                 % (a.hf_dir, cfg.get("architectures")))
    if cfg.get("rope_scaling"):
        sys.exit("%s/config.json: rope_scaling is not supported here" % a.hf_dir)
    e, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", h)
    V = cfg["vocab_size"]
    t = load_tensors(a.hf_dir)
    if any(n.endswith(".bias") for n in t):
        sys.exit("%s: biases are not supported here" % a.hf_dir)

    qtype, ftype = {"f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
                    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
                    "q8_0": (gguf.GGMLQuantizationType.Q8_0,
                             gguf.LlamaFileType.MOSTLY_Q8_0)}[a.outtype]
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(cfg.get("_name_or_path") or os.path.basename(os.path.normpath(a.hf_dir)))
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(e)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(h)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(e // h)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_vocab_size(V)
    w.add_file_type(ftype)

    tokens, scores, types, source = vocabulary(a.hf_dir, V)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(cfg.get("bos_token_id", 1))
    w.add_eos_token_id(cfg.get("eos_token_id", 2))
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)

    names = [("model.embed_tokens.weight", "token_embd.weight")]
    for i in range(L):
        hp, gp = "model.layers.%d." % i, "blk.%d." % i
        names += [(hp + "input_layernorm.weight", gp + "attn_norm.weight"),
                  (hp + "self_attn.q_proj.weight", gp + "attn_q.weight"),
                  (hp + "self_attn.k_proj.weight", gp + "attn_k.weight"),
                  (hp + "self_attn.v_proj.weight", gp + "attn_v.weight"),
                  (hp + "self_attn.o_proj.weight", gp + "attn_output.weight"),
                  (hp + "post_attention_layernorm.weight", gp + "ffn_norm.weight"),
                  (hp + "mlp.gate_proj.weight", gp + "ffn_gate.weight"),
                  (hp + "mlp.up_proj.weight", gp + "ffn_up.weight"),
                  (hp + "mlp.down_proj.weight", gp + "ffn_down.weight")]
    names.append(("model.norm.weight", "output_norm.weight"))
    if "lm_head.weight" in t and not cfg.get("tie_word_embeddings", False):
        names.append(("lm_head.weight", "output.weight"))  # tied: llama.cpp reuses token_embd
    unknown = set(t) - {n for n, _ in names} - {"lm_head.weight"}
    if unknown:
        sys.exit("%s: tensors this converter does not map: %s" % (a.hf_dir, sorted(unknown)[:5]))
    for hf_name, gguf_name in names:
        if hf_name not in t:
            sys.exit("%s: missing tensor %s" % (a.hf_dir, hf_name))
        x = t[hf_name]
        if not a.keep_hf_rope_layout and hf_name.endswith("q_proj.weight"):
            x = unpermute(x, h)
        elif not a.keep_hf_rope_layout and hf_name.endswith("k_proj.weight"):
            x = unpermute(x, kv)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            w.add_tensor(gguf_name, x)
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(gguf_name, x.astype(np.float16))
        else:
            w.add_tensor(gguf_name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    params = sum(x.size for x in t.values())
    print("wrote %s: %s, %d tensors, %d parameters, vocabulary %s%s" % (
        a.out, a.outtype, len(names), params, source,
        ", Wq/Wk left in Hugging Face's layout (control)" if a.keep_hf_rope_layout else ""),
        file=sys.stderr)


if __name__ == "__main__":
    main()
