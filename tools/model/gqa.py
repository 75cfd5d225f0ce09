"""Adds a shared-buffer GroupQueryAttention graph of the same weights to an exported model folder.

Takes a folder holding the Optimum-layout `model.onnx` (weights embedded, as export.py writes it) and `model.json`,
and leaves in it:

- `model.weights`: the initializers, once, as ONNX external data (tensors under 1 KiB stay inline);
- `model.optimum.onnx`: the Optimum graph, unchanged but for its weights now living in model.weights;
- `model.onnx`: the same decoder with each layer's attention as ONNX Runtime's contrib op
  com.microsoft::GroupQueryAttention, referencing the same model.weights entries. Its past_key_values.{i}.key/.value
  are [B,H,max_sequence_length,Dh] buffers that the caller binds as present.{i}.key/.value too (one OrtValue for
  both, through an IoBinding): GroupQueryAttention writes the new tokens' K/V in place, at index
  seqlens_k[b] + 1 - S of row b, where seqlens_k = sum(attention_mask[b]) - 1 (rows are right-padded);
- `model.json` pointing at the GQA graph, with "past_present_share_buffer": true and the Optimum graph as
  variants.optimum.

Builds the graph with onnx.helper only (no torch). Run with Debian's python3 (python3-onnx, python3-numpy):
    /usr/bin/python3 gqa.py ../../models/tiny-chat
Running it again on a converted folder rebuilds everything from model.optimum.onnx.

--dtype float16 writes both graphs in float16 (ONNX Runtime's CUDA GroupQueryAttention kernel has no float32
one): float16 weights in the output's own model.weights, float16 activations and past/present tensors
("dtype": "float16" in model.json, which the engine allocates the KV cache in), int64 ids/mask/positions, and logits
Cast to float32 so the host reads [B,1,V] float32 whatever the dtype. --out-dir writes the converted folder
elsewhere; a converted folder (model.optimum.onnx) is never rewritten in place in another dtype:
    /usr/bin/python3 gqa.py ../../models/tiny-chat --dtype float16 --out-dir /tmp/tiny-chat-fp16
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHTS = "model.weights"
OPTIMUM = "model.optimum.onnx"
GQA = "model.onnx"
OPSET = 17
MS_DOMAIN = "com.microsoft"
DTYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16}


def _has_gqa(model):
    return any(n.op_type == "GroupQueryAttention" for n in model.graph.node)


def _load_source(model_dir):
    """The Optimum graph with its weights in memory: model.onnx as export.py writes it, or, in a folder this
    script already converted, model.optimum.onnx (read before model.weights is rewritten)."""
    path = os.path.join(model_dir, GQA)
    head = onnx.load(path, load_external_data=False)
    if _has_gqa(head):
        path = os.path.join(model_dir, OPTIMUM)
    model = onnx.load(path)  # resolves external data, leaving every tensor's bytes in raw_data
    if _has_gqa(model):
        raise ValueError(f"{path}: already a GroupQueryAttention graph; no Optimum source to convert")
    return model, path


def _tensor_bytes(tensor):
    return numpy_helper.to_array(tensor).tobytes()


def _float_type(model):
    """The element type of the model's weights (that of the token embedding)."""
    return next(t.data_type for t in model.graph.initializer if t.name == "model.wte.weight")


def to_float16(model, keep_float32=("logits",)):
    """Rewrites `model` (in place, and returns it) to compute in float16: float32 initializers and tensor
    attributes (Constant values, clamped to float16's finite range, so float32's minimum as a mask value becomes
    -65504) become float16, Casts to float32 cast to float16, float32 graph inputs and outputs become float16; each
    output named in `keep_float32` stays float32 through a final Cast. Initializers must hold their data (no
    external-data references) unless already float16."""
    graph = model.graph
    info = np.finfo(np.float16)

    def half(tensor):
        if tensor.data_location == TensorProto.EXTERNAL:
            raise ValueError(f"{tensor.name}: float32 external data; load the model with its weights to convert it")
        values = np.clip(numpy_helper.to_array(tensor), info.min, info.max).astype(np.float16)
        return numpy_helper.from_array(values, tensor.name)

    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(half(tensor))
    for node in graph.node:
        for a in node.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise ValueError(f"{node.name}: subgraphs are not converted")
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(half(a.t))
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.FLOATS) and node.op_type == "Constant":
                raise ValueError(f"{node.name}: Constant value_float(s) is not converted")
    for value in list(graph.input) + list(graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT and value.name not in keep_float32:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    del graph.value_info[:]  # intermediate types change; ONNX Runtime infers them again

    for name in keep_float32:
        half_name = f"{name}_float16"
        for node in graph.node:
            node.output[:] = [half_name if o == name else o for o in node.output]
            node.input[:] = [half_name if i == name else i for i in node.input]
        graph.node.append(helper.make_node("Cast", [half_name], [name], name=f"/{name}/Cast", to=TensorProto.FLOAT))
    return model


def _layer_norm_epsilon(model):
    for node in model.graph.node:
        if node.op_type == "LayerNormalization":
            for a in node.attribute:
                if a.name == "epsilon":
                    return a.f
    return 1e-5


def build_gqa_graph(cfg, initializers, epsilon):
    """The decoder graph, attention as GroupQueryAttention in packed-QKV mode. `initializers` are the Optimum
    model's TensorProtos (external-data references), reused as they are."""
    n_layer, n_head, n_kv = cfg["num_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim, d_model, vocab = cfg["head_dim"], cfg["hidden_size"], cfg["vocab_size"]
    if n_head != n_kv:
        raise ValueError("GPT-2 has one KV head per query head")
    nodes, consts = [], []

    def const(name, value, dtype):
        consts.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def node(op, inputs, output, domain=None, **attrs):
        name = output if isinstance(output, str) else output[0]
        outputs = [output] if isinstance(output, str) else list(output)
        nodes.append(helper.make_node(op, inputs, outputs, name=name.replace("_output", ""), domain=domain, **attrs))
        return output

    def linear(x, prefix, out):
        wt = node("Transpose", [f"{prefix}.weight"], f"{out}/Transpose_output", perm=[1, 0])
        y = node("MatMul", [x, wt], f"{out}/MatMul_output")
        return node("Add", [y, f"{prefix}.bias"], f"{out}/Add_output")

    def layer_norm(x, prefix, out):
        return node("LayerNormalization", [x, f"{prefix}.weight", f"{prefix}.bias"], f"{out}/LayerNormalization_output",
                    axis=-1, epsilon=epsilon)

    def gelu_tanh(x, out):
        # torch's gelu(approximate="tanh") exactly as the Optimum export spells it (ORT fuses it either way).
        c0 = const(f"{out}/c0.044715", 0.044715, np.float32)
        c1 = const(f"{out}/c_sqrt_2_over_pi", 0.7978845608028654, np.float32)
        one = const(f"{out}/c1", 1.0, np.float32)
        half = const(f"{out}/c0.5", 0.5, np.float32)
        x2 = node("Mul", [x, x], f"{out}/Mul_output")
        x3 = node("Mul", [x, x2], f"{out}/Mul_1_output")
        t = node("Mul", [c0, x3], f"{out}/Mul_2_output")
        t = node("Add", [x, t], f"{out}/Add_output")
        t = node("Mul", [c1, t], f"{out}/Mul_3_output")
        t = node("Tanh", [t], f"{out}/Tanh_output")
        t = node("Add", [one, t], f"{out}/Add_1_output")
        t = node("Mul", [x, t], f"{out}/Mul_4_output")
        return node("Mul", [half, t], f"{out}/Mul_5_output")

    # seqlens_k[b] = sum(attention_mask[b]) - 1 (int32); total_sequence_length = attention_mask's width (int32 scalar).
    axis1 = const("/const/axes_1", [1], np.int64)
    one64 = const("/const/one_i64", 1, np.int64)
    mask_sum = node("ReduceSum", ["attention_mask", axis1], "/seqlens_k/ReduceSum_output", keepdims=0)
    mask_sum = node("Sub", [mask_sum, one64], "/seqlens_k/Sub_output")
    seqlens_k = node("Cast", [mask_sum], "seqlens_k", to=TensorProto.INT32)
    mask_shape = node("Shape", ["attention_mask"], "/total_sequence_length/Shape_output")
    width = node("Gather", [mask_shape, one64], "/total_sequence_length/Gather_output", axis=0)
    total_len = node("Cast", [width], "total_sequence_length", to=TensorProto.INT32)

    tok = node("Gather", ["model.wte.weight", "input_ids"], "/wte/Gather_output", axis=0)
    pos = node("Gather", ["model.wpe.weight", "position_ids"], "/wpe/Gather_output", axis=0)
    x = node("Add", [tok, pos], "/embed/Add_output")

    for i in range(n_layer):
        p, out = f"model.h.{i}", f"/h.{i}"
        h = layer_norm(x, f"{p}.ln_1", f"{out}/ln_1")
        qkv = linear(h, f"{p}.attn.c_attn", f"{out}/attn/c_attn")  # [B,S,3D]: q | k | v, each heads-major
        attn = node("GroupQueryAttention",
                    [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len],
                    [f"{out}/attn/GroupQueryAttention_output", f"present.{i}.key", f"present.{i}.value"],
                    domain=MS_DOMAIN, num_heads=n_head, kv_num_heads=n_kv)[0]
        a = linear(attn, f"{p}.attn.c_proj", f"{out}/attn/c_proj")
        x = node("Add", [x, a], f"{out}/Add_output")
        h = layer_norm(x, f"{p}.ln_2", f"{out}/ln_2")
        h = linear(h, f"{p}.c_fc", f"{out}/c_fc")
        h = gelu_tanh(h, f"{out}/gelu")
        h = linear(h, f"{p}.c_proj", f"{out}/c_proj")
        x = node("Add", [x, h], f"{out}/Add_1_output")

    x = layer_norm(x, "model.ln_f", "/ln_f")
    last = node("Slice", [x, const("/const/start_-1", [-1], np.int64),
                          const("/const/end_max", [np.iinfo(np.int64).max], np.int64), axis1], "/Slice_output")
    wte_t = node("Transpose", ["model.wte.weight"], "/lm_head/Transpose_output", perm=[1, 0])
    node("MatMul", [last, wte_t], "logits")

    kv_dims = ["batch_size", n_kv, "max_sequence_length", head_dim]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", 1, vocab])]
    for i in range(n_layer):
        for kv in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kv}", TensorProto.FLOAT, kv_dims))
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kv}", TensorProto.FLOAT, kv_dims))

    graph = helper.make_graph(nodes, "tiny-chat-gqa", inputs, outputs, initializer=list(initializers) + consts)
    model = helper.make_model(graph, producer_name="tools/model/gqa.py",
                              opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)])
    if d_model != n_head * head_dim:
        raise ValueError("hidden_size must be num_attention_heads * head_dim")
    return model


def convert(model_dir, out_dir=None, dtype="float32"):
    """Writes model.weights, model.optimum.onnx and the GQA model.onnx into out_dir (default: model_dir), both graphs
    in `dtype`, and model.json (model_dir's, updated). Returns the three files' sizes in bytes."""
    out_dir = model_dir if out_dir is None else out_dir
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        cfg = json.load(f)

    source, source_path = _load_source(model_dir)
    epsilon = _layer_norm_epsilon(source)
    if _float_type(source) != DTYPES[dtype]:
        if _float_type(source) != TensorProto.FLOAT:
            raise ValueError(f"{source_path}: weights are not float32; only float32 converts to {dtype}")
        in_place = os.path.exists(out_dir) and os.path.samefile(model_dir, out_dir)
        if in_place and os.path.basename(source_path) == OPTIMUM:
            raise ValueError(f"{model_dir} is a converted float32 folder; write the {dtype} model with --out-dir")
        to_float16(source)
    original = {t.name: _tensor_bytes(t) for t in source.graph.initializer}

    # 1. The Optimum graph, its weights moved out to model.weights (onnx appends to an existing file: start fresh).
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, "model.json")
    weights_path, optimum_path, gqa_path = (os.path.join(out_dir, n) for n in (WEIGHTS, OPTIMUM, GQA))
    if os.path.exists(weights_path):
        os.remove(weights_path)
    onnx.save_model(source, optimum_path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=WEIGHTS, size_threshold=1024)

    # 2. The GQA graph, sharing the Optimum model's initializers: the same TensorProtos, external-data entries
    #    included. Serialized directly so that nothing can write tensor data a second time.
    optimum = onnx.load(optimum_path, load_external_data=False)
    gqa = build_gqa_graph(cfg, optimum.graph.initializer, epsilon)
    if dtype == "float16":
        to_float16(gqa)  # the weights are float16 already; this converts the graph's own constants and its I/O
    with open(gqa_path, "wb") as f:
        f.write(gqa.SerializeToString())

    onnx.checker.check_model(optimum_path)
    onnx.checker.check_model(gqa_path)
    if dtype == "float16":
        # No float32 left where float16 meets it (checked on the Optimum graph: onnx has no schema for GQA's op).
        onnx.shape_inference.infer_shapes(optimum, check_type=True, strict_mode=True)

    # 3. Both graphs read back exactly the bytes the source model embedded.
    for path in (optimum_path, gqa_path):
        loaded = {t.name: _tensor_bytes(t) for t in onnx.load(path).graph.initializer if t.name in original}
        if loaded.keys() != original.keys() or any(loaded[k] != v for k, v in original.items()):
            raise AssertionError(f"{path}: initializers differ from the source model's")
    external = sum(len(v) for k, v in original.items()
                   if any(t.name == k and t.data_location == TensorProto.EXTERNAL for t in optimum.graph.initializer))
    if os.path.getsize(weights_path) != external:
        raise AssertionError(f"{weights_path}: {os.path.getsize(weights_path)} bytes, expected {external}")

    cfg["dtype"] = dtype
    cfg["onnx_file"] = GQA
    cfg["past_present_share_buffer"] = True
    cfg["variants"] = {"optimum": {"onnx_file": OPTIMUM, "past_present_share_buffer": False}}
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    return {name: os.path.getsize(os.path.join(out_dir, name)) for name in (GQA, OPTIMUM, WEIGHTS)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", nargs="?", default="../../models/tiny-chat")
    p.add_argument("--out-dir", help="write the converted folder here instead of into model_dir")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32",
                   help="weights, activations and KV cache (logits are float32 either way)")
    args = p.parse_args()
    for name, size in convert(args.model_dir, args.out_dir, args.dtype).items():
        print(f"{name}: {size:,} bytes ({size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
