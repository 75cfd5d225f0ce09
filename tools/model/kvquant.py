"""Adds an INT8-KV variant of the shared-buffer GroupQueryAttention graph to a converted model folder.

ONNX Runtime's CPU GroupQueryAttention (1.31) quantizes each new token's K/V on write into an int8 past/present
buffer, and reads it back dequantized, when the node has k_quant_type/v_quant_type, kv_cache_bit_width=8 and
k_scale/v_scale inputs (12, 13); it does so with the past/present buffer shared, as the engine runs it (checked: the
cache bytes equal numpy's round-half-even clamp(x / scale, -128, 127), the outputs attention over the dequantized
cache to 2e-7). This script:

1. calibrates symmetric per-channel scales: runs the float32 model (a numpy GPT-2 over the folder's own weights,
   checked against reference.json's torch logits first) over conversations of the training split of the corpus and
   takes, per layer, KV head and channel, max |K| and max |V|; scale = max / 127, so nothing seen in calibration clips;
2. writes the scales to `model.int8kv.kvscales` (float32, layer by layer: key [1,H,1,Dh] then value [1,H,1,Dh]) and
   `model.int8kv.onnx`: model.onnx with each GroupQueryAttention node given the scales (external data in that file,
   so the engine can hash exactly the bytes the graph reads) and int8 past_key_values/present; the weights stay in
   model.weights;
3. declares the variant in model.json: variants.int8kv = {onnx_file, past_present_share_buffer, kv_dtype: "int8",
   kv_scales_file};
4. writes `validation.jsonl`: the corpus's last conversations (inside the 2% validation split train.py holds out),
   the held-out text the engine's tests measure perplexity and greedy agreement on;
5. prints the numpy model's perplexity and teacher-forced top-1 agreement on that text, float32 KV vs int8 KV
   (quantized as ONNX Runtime does), as a check independent of ONNX Runtime.

Run after gqa.py (which rewrites model.json's variants), from tools/model, with the corpus and ranks of README.md:
    /usr/bin/python3 kvquant.py ../../models/tiny-chat --corpus work/corpus.jsonl --ranks work/r50k_base.tiktoken
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import bpe
import chat_template

GRAPH = "model.int8kv.onnx"
SCALES = "model.int8kv.kvscales"
VALIDATION = "validation.jsonl"
VARIANT = "int8kv"
QMAX = 127


class NumpyGpt2:
    """GPT-2 forward in float32 numpy over the initializers of the folder's graph; returns each layer's K and V."""

    def __init__(self, model_dir, cfg):
        graph = onnx.load(os.path.join(model_dir, cfg["onnx_file"]))  # resolves model.weights
        self.w = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
        self.eps = next((a.f for n in graph.graph.node if n.op_type == "LayerNormalization"
                         for a in n.attribute if a.name == "epsilon"), 1e-5)
        self.layers, self.heads, self.head_dim = cfg["num_layers"], cfg["num_key_value_heads"], cfg["head_dim"]

    def _ln(self, x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def _linear(self, x, p):
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def forward(self, ids, quantize=None, logits=True):
        """ids: 1-D token ids at positions 0…T-1. quantize: None, or per layer (k_scale, v_scale) [H,1,Dh] to round
        K/V through int8 as the int8 cache stores them. Returns (logits [T,V] or None, [(K, V) [H,T,Dh] per layer])."""
        t = len(ids)
        h, d = self.heads, self.head_dim
        x = self.w["model.wte.weight"][ids] + self.w["model.wpe.weight"][np.arange(t)]
        causal = np.triu(np.full((t, t), -np.inf, np.float32), 1)
        kv = []
        for i in range(self.layers):
            p = f"model.h.{i}"
            qkv = self._linear(self._ln(x, p + ".ln_1"), p + ".attn.c_attn")
            q, k, v = (qkv[:, j * h * d:(j + 1) * h * d].reshape(t, h, d).transpose(1, 0, 2) for j in range(3))
            kv.append((k, v))
            if quantize is not None:
                k, v = (dequantize(quantize_int8(a, s), s) for a, s in zip((k, v), quantize[i]))
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(d)) + causal
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            a = (scores / scores.sum(-1, keepdims=True)) @ v
            x = x + self._linear(a.transpose(1, 0, 2).reshape(t, h * d), p + ".attn.c_proj")
            m = self._linear(self._ln(x, p + ".ln_2"), p + ".c_fc")
            m = 0.5 * m * (1 + np.tanh(0.7978845608028654 * (m + 0.044715 * m ** 3)))
            x = x + self._linear(m, p + ".c_proj")
        if not logits:
            return None, kv
        return self._ln(x, "model.ln_f") @ self.w["model.wte.weight"].T, kv


def quantize_int8(x, scale):
    """What ONNX Runtime stores: round half to even of x / scale, clamped to int8."""
    return np.clip(np.rint(x / scale), -128, 127).astype(np.int8)


def dequantize(q, scale):
    return q.astype(np.float32) * scale


def check_against_reference(model, model_dir):
    with open(os.path.join(model_dir, "reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    worst = 0.0
    for r in ref["references"]:
        logits, _ = model.forward(np.array(r["prompt_ids"]))
        worst = max(worst, float(np.abs(logits[-1] - np.array(r["last_logits"], np.float32)).max()))
    if worst > 1e-3:
        raise AssertionError(f"numpy GPT-2 differs from reference.json's torch logits by {worst:.2e}")
    return worst


def conversations(corpus):
    with open(corpus, encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f]


def calibrate(model, tokenizer, convs, max_tokens):
    """Per layer (k_max, v_max) [H,1,Dh] over the conversations, each from position 0, cut at max_tokens."""
    h, d = model.heads, model.head_dim
    maxima = [(np.zeros((h, 1, d), np.float32), np.zeros((h, 1, d), np.float32)) for _ in range(model.layers)]
    tokens = 0
    for messages in convs:
        ids = tokenizer.encode(chat_template.render(messages))[:max_tokens]
        _, kv = model.forward(np.array(ids), logits=False)
        for (km, vm), (k, v) in zip(maxima, kv):
            np.maximum(km, np.abs(k).max(1, keepdims=True), out=km)
            np.maximum(vm, np.abs(v).max(1, keepdims=True), out=vm)
        tokens += len(ids)
    return maxima, tokens


def evaluate(model, tokenizer, convs, scales, max_tokens):
    """Perplexity of float32 and int8 KV on the conversations, and how often their argmax agree (teacher forced)."""
    nll = {"fp32": 0.0, "int8": 0.0}
    agree = count = 0
    for messages in convs:
        ids = np.array(tokenizer.encode(chat_template.render(messages))[:max_tokens])
        argmax = {}
        for name, quant in (("fp32", None), ("int8", scales)):
            logits, _ = model.forward(ids, quantize=quant)
            logits = logits[:-1].astype(np.float64)
            top = logits.max(-1, keepdims=True)
            logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
            nll[name] -= logp[np.arange(len(ids) - 1), ids[1:]].sum()
            argmax[name] = logits.argmax(-1)
        agree += int((argmax["fp32"] == argmax["int8"]).sum())
        count += len(ids) - 1
    return {k: float(np.exp(v / count)) for k, v in nll.items()}, agree / count, count


def write_scales(model_dir, scales):
    """The scale bytes, layer by layer (key then value), and each tensor's (offset, length) in the file."""
    places, offset = [], 0
    with open(os.path.join(model_dir, SCALES), "wb") as f:
        for k, v in scales:
            pair = []
            for s in (k, v):
                data = np.ascontiguousarray(s[None].astype("<f4")).tobytes()  # [1,H,1,Dh]
                f.write(data)
                pair.append((offset, len(data)))
                offset += len(data)
            places.append(pair)
    return places


def external(name, shape, offset, length):
    """An initializer whose float32 data lies at [offset, offset + length) of the scales file."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape, data_location=TensorProto.EXTERNAL)
    for key, value in (("location", SCALES), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def write_graph(model_dir, cfg, places):
    """model.onnx with int8 KV: each GroupQueryAttention gets its layer's scales and the quantization attributes."""
    graph = onnx.load(os.path.join(model_dir, cfg["onnx_file"]), load_external_data=False)
    h, d = cfg["num_key_value_heads"], cfg["head_dim"]
    layer = 0
    for node in graph.graph.node:
        if node.op_type != "GroupQueryAttention":
            continue
        (k_off, k_len), (v_off, v_len) = places[layer]
        k_name, v_name = f"model.h.{layer}.attn.k_scale", f"model.h.{layer}.attn.v_scale"
        graph.graph.initializer.extend([external(k_name, [1, h, 1, d], k_off, k_len),
                                        external(v_name, [1, h, 1, d], v_off, v_len)])
        # Inputs 7-11 (cos/sin cache, position_ids, attention_bias, head_sink) stay absent.
        node.input.extend([""] * (12 - len(node.input)) + [k_name, v_name])
        node.attribute.extend([helper.make_attribute("k_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("v_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("kv_cache_bit_width", 8)])
        layer += 1
    if layer != cfg["num_layers"]:
        raise ValueError(f"{cfg['onnx_file']}: {layer} GroupQueryAttention nodes for {cfg['num_layers']} layers")
    for value in list(graph.graph.input) + list(graph.graph.output):
        if value.name.startswith(("past_key_values.", "present.")):
            value.type.tensor_type.elem_type = TensorProto.INT8
    graph.graph.name += "-int8kv"
    path = os.path.join(model_dir, GRAPH)
    with open(path, "wb") as f:
        f.write(graph.SerializeToString())
    onnx.checker.check_model(path)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", nargs="?", default="../../models/tiny-chat")
    p.add_argument("--corpus", default="work/corpus.jsonl")
    p.add_argument("--ranks", default="work/r50k_base.tiktoken")
    p.add_argument("--calibration", type=int, default=512, help="training conversations to calibrate on")
    p.add_argument("--validation", type=int, default=64, help="last conversations of the corpus to write and evaluate")
    p.add_argument("--max-tokens", type=int, default=1024, help="tokens of a conversation used, from its start")
    args = p.parse_args()

    manifest_path = os.path.join(args.model_dir, "model.json")
    with open(manifest_path, encoding="utf-8") as f:
        cfg = json.load(f)
    if not cfg.get("past_present_share_buffer") or cfg.get("dtype") != "float32":
        raise ValueError(f"{args.model_dir}: expected gqa.py's float32 shared-buffer graph as the default")
    model = NumpyGpt2(args.model_dir, cfg)
    print(f"numpy GPT-2 vs reference.json: max |logits diff| {check_against_reference(model, args.model_dir):.2e}")

    tokenizer = bpe.R50kTokenizer(args.ranks)
    convs = conversations(args.corpus)
    # train.py holds out the last 2% of the corpus's tokens: the first conversations are training text.
    maxima, tokens = calibrate(model, tokenizer, convs[:args.calibration], args.max_tokens)
    scales = [(k / QMAX, v / QMAX) for k, v in maxima]
    for i, (k, v) in enumerate(maxima):
        print(f"layer {i}: max |K| {k.max():.2f} (channel median {np.median(k):.2f}), "
              f"max |V| {v.max():.2f} (median {np.median(v):.2f})")
    print(f"calibrated on {len(convs[:args.calibration])} training conversations, {tokens:,} tokens")

    write_graph(args.model_dir, cfg, write_scales(args.model_dir, scales))
    cfg.setdefault("variants", {})[VARIANT] = {"onnx_file": GRAPH, "past_present_share_buffer": True,
                                               "kv_dtype": "int8", "kv_scales_file": SCALES}
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    held_out = convs[-args.validation:]
    with open(os.path.join(args.model_dir, VALIDATION), "w", encoding="utf-8") as f:
        for messages in held_out:
            f.write(json.dumps({"messages": messages}) + "\n")
    ppl, agreement, count = evaluate(model, tokenizer, held_out, scales, args.max_tokens)
    print(f"validation ({len(held_out)} conversations, {count:,} predicted tokens): perplexity fp32 {ppl['fp32']:.4f}, "
          f"int8 KV {ppl['int8']:.4f} ({ppl['int8'] / ppl['fp32'] - 1:+.3%}); top-1 agreement {agreement:.2%}")


if __name__ == "__main__":
    main()
