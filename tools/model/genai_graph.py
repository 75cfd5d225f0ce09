"""The decoder (decoder.py) as onnxruntime-genai's model builder writes it for the CPU provider, built with onnx.helper:

- inputs input_ids [B,S], attention_mask [B,T] and past_key_values.{i}.key/.value [B,KV,P,Dh]; no position_ids:
  GroupQueryAttention does the rotary itself (do_rotary) from cos/sin caches [max_positions, rotary_dim/2], at the
  positions it derives from seqlens_k (sum(attention_mask[b]) - 1), so right-padded rows need no positions;
- per layer: (Skip)SimplifiedLayerNormalization (RMSNorm) or (Skip)LayerNormalization, one packed QKV MatMul (+ its
  bias for Qwen2 and GLM-4), com.microsoft::GroupQueryAttention (packed QKV, rotary_interleaved for GLM-4), o_proj,
  the SwiGLU MLP as gate/up MatMuls, Sigmoid·Mul (SiLU) and Mul, or a GELU MLP (FastGelu);
- logits [B,S,V] for every position, present.{i}.key/.value [B,KV,T,Dh], which the caller binds to the same buffers
  as the past (genai_config.json search.past_present_share_buffer);
- weights as ONNX external data in model.onnx.data, MatMul weights stored [in, out] as the builder stores them.

A tied head multiplies by the embedding's transpose instead of storing a transposed copy (the builder writes the copy;
the fixture would be twice the size for the same computation).
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MS = "com.microsoft"
DATA_FILE = "model.onnx.data"


def build(model, name="decoder"):
    """An onnx.ModelProto of `model` (decoder.Decoder), weights in memory."""
    cfg = model.cfg
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    nodes, inits = [], []

    def init(key, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=array.dtype), key))
        return key

    def node(op, inputs, outputs, path, domain=None, **attrs):
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        nodes.append(helper.make_node(op, inputs, outs, name=path, domain=domain, **attrs))
        return outputs

    def out(path):
        return f"{path}/output_0"

    def matmul(x, weight_key, path, bias=None):
        y = node("MatMul", [x, weight_key], out(f"{path}/MatMul"), f"{path}/MatMul")
        if bias is not None:
            y = node("Add", [y, bias], out(f"{path}/Add"), f"{path}/Add")
        return y

    def linear(x, prefix, path, torch_key):
        w = init(f"{prefix}.MatMul.weight", sd[f"{torch_key}.weight"].T)
        b = init(f"{prefix}.Add.bias", sd[f"{torch_key}.bias"]) if f"{torch_key}.bias" in sd else None
        return matmul(x, w, path, b)

    rms = cfg.norm == "rms"

    def norm(x, torch_key, prefix, path):
        gamma = init(f"{prefix}.weight", sd[f"{torch_key}.weight"])
        ins = [x, gamma] if rms else [x, gamma, init(f"{prefix}.bias", sd[f"{torch_key}.bias"])]
        op = "SimplifiedLayerNormalization" if rms else "LayerNormalization"
        return node(op, ins, out(f"{path}/{op}"), f"{path}/{op}", axis=-1, epsilon=cfg.norm_eps, stash_type=1)

    def skip_norm(x, skip, torch_key, prefix, path):
        """(x + skip) normalized, and x + skip (the next residual), as the builder fuses them."""
        gamma = init(f"{prefix}.weight", sd[f"{torch_key}.weight"])
        op = "SkipSimplifiedLayerNormalization" if rms else "SkipLayerNormalization"
        ins = [x, skip, gamma] if rms else [x, skip, gamma, init(f"{prefix}.bias", sd[f"{torch_key}.bias"])]
        normed, total = out(f"{path}/{op}"), f"{path}/{op}/output_3"
        node(op, ins, [normed, "", "", total], f"{path}/{op}", domain=MS, epsilon=cfg.norm_eps)
        return normed, total

    # attention_mask -> seqlens_k (int32 [B], valid length - 1) and total_sequence_length (int32 scalar).
    mask_path = "/model/attn_mask_reformat/attn_mask_subgraph"
    axes = init("/model/constants/TensorProto.INT64/1D/1", np.array([1], dtype=np.int64))
    one = init("/model/constants/TensorProto.INT64/0D/1", np.array(1, dtype=np.int64))
    s = node("ReduceSum", ["attention_mask", axes], out(f"{mask_path}/ReduceSum"), f"{mask_path}/ReduceSum", keepdims=0)
    s = node("Sub", [s, one], out(f"{mask_path}/Sub"), f"{mask_path}/Sub")
    seqlens_k = node("Cast", [s], out(f"{mask_path}/Sub/Cast"), f"{mask_path}/Sub/Cast", to=TensorProto.INT32)
    shape = node("Shape", ["attention_mask"], out(f"{mask_path}/Shape"), f"{mask_path}/Shape")
    width = node("Gather", [shape, one], out(f"{mask_path}/Gather"), f"{mask_path}/Gather", axis=0)
    total_len = node("Cast", [width], out(f"{mask_path}/Gather/Cast"), f"{mask_path}/Gather/Cast", to=TensorProto.INT32)

    cos_cache = init("cos_cache", model.cos_cache.numpy())
    sin_cache = init("sin_cache", model.sin_cache.numpy())
    embed = init("model.embed_tokens.weight", sd["embed_tokens.weight"])
    x = node("Gather", [embed, "input_ids"], out("/model/embed_tokens/Gather"), "/model/embed_tokens/Gather", axis=0)

    residual = None
    for i in range(cfg.num_layers):
        t, p, path = f"layers.{i}", f"model.layers.{i}", f"/model/layers.{i}"
        if residual is None:
            h, residual = norm(x, f"{t}.input_layernorm", f"{p}.input_layernorm", f"{path}/input_layernorm"), x
        else:
            h, residual = skip_norm(x, residual, f"{t}.input_layernorm", f"{p}.input_layernorm", f"{path}/input_layernorm")
        # One packed projection: q | k | v along the output channels, as GroupQueryAttention takes them.
        a = f"{t}.self_attn"
        w = np.concatenate([sd[f"{a}.{n}_proj.weight"] for n in "qkv"], axis=0).T
        qkv_w = init(f"{p}.attn.qkv_proj.MatMul.weight", w)
        qkv_b = (init(f"{p}.attn.qkv_proj.Add.bias", np.concatenate([sd[f"{a}.{n}_proj.bias"] for n in "qkv"]))
                 if cfg.qkv_bias else None)
        qkv = matmul(h, qkv_w, f"{path}/attn/qkv_proj", qkv_b)
        gqa = f"{path}/attn/GroupQueryAttention"
        attn = node("GroupQueryAttention",
                    [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len,
                     cos_cache, sin_cache],
                    [out(gqa), f"present.{i}.key", f"present.{i}.value"], gqa, domain=MS,
                    num_heads=cfg.num_heads, kv_num_heads=cfg.num_kv_heads, scale=1.0 / math.sqrt(cfg.head_dim),
                    local_window_size=-1, do_rotary=1, rotary_interleaved=int(cfg.rotary_interleaved), softcap=0.0)[0]
        o = linear(attn, f"{p}.attn.o_proj", f"{path}/attn/o_proj", f"{a}.o_proj")
        h, residual = skip_norm(o, residual, f"{t}.post_attention_layernorm", f"{p}.post_attention_layernorm",
                                f"{path}/post_attention_layernorm")
        m, mp = f"{t}.mlp", f"{p}.mlp"
        if cfg.mlp == "swiglu":
            gate = linear(h, f"{mp}.gate_proj", f"{path}/mlp/gate_proj", f"{m}.gate_proj")
            up = linear(h, f"{mp}.up_proj", f"{path}/mlp/up_proj", f"{m}.up_proj")
            sig = node("Sigmoid", [gate], out(f"{path}/mlp/act_fn/Sigmoid"), f"{path}/mlp/act_fn/Sigmoid")
            act = node("Mul", [gate, sig], out(f"{path}/mlp/act_fn/Mul"), f"{path}/mlp/act_fn/Mul")
            prod = node("Mul", [act, up], out(f"{path}/mlp/Mul"), f"{path}/mlp/Mul")
            x = linear(prod, f"{mp}.down_proj", f"{path}/mlp/down_proj", f"{m}.down_proj")
        else:
            fc = matmul(h, init(f"{mp}.fc1.MatMul.weight", sd[f"{m}.fc_in.weight"].T), f"{path}/mlp/fc1")
            act = node("FastGelu", [fc, init(f"{mp}.fc1.Add.bias", sd[f"{m}.fc_in.bias"])],
                       out(f"{path}/mlp/act_fn/FastGelu"), f"{path}/mlp/act_fn/FastGelu", domain=MS)
            x = linear(act, f"{mp}.fc2", f"{path}/mlp/fc2", f"{m}.fc_out")

    h, _ = skip_norm(x, residual, "norm", "model.layers.final_norm_layernorm", "/model/layers.final_norm_layernorm")
    if cfg.tie_word_embeddings:
        head = node("Transpose", [embed], out("/lm_head/Transpose"), "/lm_head/Transpose", perm=[1, 0])
    else:
        head = init("lm_head.MatMul.weight", sd["lm_head.weight"].T)
    node("MatMul", [h, head], "logits", "/lm_head/MatMul")

    kv, d = cfg.num_kv_heads, cfg.head_dim
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", cfg.vocab_size])]
    for i in range(cfg.num_layers):
        for part in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(
                f"past_key_values.{i}.{part}", TensorProto.FLOAT, ["batch_size", kv, "past_sequence_length", d]))
            outputs.append(helper.make_tensor_value_info(
                f"present.{i}.{part}", TensorProto.FLOAT, ["batch_size", kv, "total_sequence_length", d]))
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    return helper.make_model(graph, producer_name="tools/model/genai_graph.py",
                             opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)])


def write(model, folder, filename="model.onnx"):
    """Writes folder/model.onnx with its weights in folder/model.onnx.data; returns both sizes in bytes."""
    proto = build(model)
    data_path = os.path.join(folder, DATA_FILE)
    if os.path.exists(data_path):
        os.remove(data_path)  # onnx appends to an existing data file
    onnx.save_model(proto, os.path.join(folder, filename), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA_FILE, size_threshold=1024)
    return {filename: os.path.getsize(os.path.join(folder, filename)), DATA_FILE: os.path.getsize(data_path)}
