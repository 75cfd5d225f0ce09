"""Writes weight-quantized variants of a converted model folder (gqa.py's layout): every MatMul whose weight is a
constant becomes ONNX Runtime's contrib op com.microsoft::MatMulNBits, and the tied token embedding's Gather becomes
com.microsoft::GatherBlockQuantized over the same quantized bytes as the LM head.

For each variant (default: int8 and int4) it writes, next to the float32 files:
- `model.<name>.weights`: the variant's initializers, once for both graphs (ONNX external data; tensors under
  1 KiB stay inline), as model.weights is for the float32 pair;
- `model.<name>.onnx`: the GroupQueryAttention graph (model.onnx) with quantized weights;
- `model.optimum.<name>.onnx`: the Optimum graph (model.optimum.onnx) with quantized weights;
and declares them in model.json: variants.<name> (the GQA graph, shared past/present buffer) and
variants.optimum-<name> (the Optimum graph). Run it again after gqa.py or export.py, which rewrite model.json:
    /usr/bin/python3 quantize.py ../../models/tiny-chat

Layout, from ONNX Runtime's docs/ContribOperators.md and contrib_ops/cpu/quantization (matmul_nbits_helper.h,
gather_block_quantized.cc): a weight W [K,N] (y = x W) is quantized in blocks of `block_size` consecutive
elements along K, one block per output column n; dequantized = (q - zero_point) * scale.
- MatMulNBits B: uint8 [N, k_blocks, block_size * bits / 8], k_blocks = ceil(K / block_size); for bits < 8 the
  elements of a block are packed low bits first (element 2i in the low nibble of byte i for 4 bits).
- scales: float32 [N, k_blocks] (the type of A).
- zero_points: uint8 [N, ceil(k_blocks * bits / 8)], packed like B; absent means 2^(bits-1) (128 or 8).
- GatherBlockQuantized (uint8 data, gather_axis 0, quantize_axis 1): data [V, K * bits / 8], scales [V, k_blocks],
  zero_points [V, ceil(k_blocks * bits / 8)]: byte for byte the LM head's B [V, k_blocks, blob] viewed as 2-D, so the
  variant's weights file holds the tied embedding once and both initializers point at the same bytes.

Pure numpy round-to-nearest; no calibration data; deterministic (the same input bytes give the same files).
"""
import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

from quantized_manifest import GRAPHS, update_manifest, update_readme

MS_DOMAIN = "com.microsoft"
INLINE_BELOW = 1024
# The shipped choices, and why, are in tools/model/README.md ("Weight-quantized variants").
VARIANTS = {
    "int8": {"bits": 8, "block_size": 32, "accuracy_level": 4, "symmetric": True, "clip_search": False},
    "int4": {"bits": 4, "block_size": 32, "accuracy_level": 4, "symmetric": False, "clip_search": False},
}


def _round_to_nearest(blocks, lo, hi, bits, symmetric):
    """Codes, scales and zero points of `blocks` [N, k_blocks, block_size] for the ranges [lo, hi] a block."""
    top = (1 << bits) - 1
    if symmetric:
        # Zero point 2^(bits-1) (the op's default, so no zero_points input): codes -2^(bits-1) .. 2^(bits-1)-1.
        # The scale takes the sign of the block's largest-magnitude bound so that it lands on -2^(bits-1), the one
        # extra code the negative side has: all 2^bits codes are usable (ONNX Runtime's quantizer does the same).
        half = 1 << (bits - 1)
        extreme = np.where(np.abs(hi) > np.abs(lo), hi, lo)
        scales = extreme / -half
        safe = np.where(scales == 0, 1.0, scales)
        codes = np.clip(np.rint(blocks / safe[:, :, None]), -half, half - 1) + half
        zero_points = np.full(scales.shape, half, dtype=np.float64)
    else:
        # The range widened to include 0, so that 0 is exact and K's zero padding costs nothing.
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        scales = (hi - lo) / top
        safe = np.where(scales == 0, 1.0, scales)
        zero_points = np.clip(np.rint(-lo / safe), 0, top)
        codes = np.clip(np.rint(blocks / safe[:, :, None] + zero_points[:, :, None]), 0, top)
    return codes, scales, zero_points


def quantize_blocks(w_nk, bits, block_size, symmetric, clip_search):
    """Block quantization of W^T ([N,K] float32, each row one output's weights along K). Returns (codes
    [N, k_blocks, block_size] uint8, scales [N, k_blocks] float32, zero points [N, k_blocks] uint8 or None when
    symmetric). K is zero-padded up to a whole number of blocks, as ONNX Runtime's quantizer does.
    Round-to-nearest over each block's [min, max]; with `clip_search`, each block's range is also tried shrunk
    (x0.98, x0.96, ... x0.70) and the range with the least squared error kept: clipping an outlier or two buys a
    finer step for the rest of the block, which at 4 bits is the better trade."""
    n, k = w_nk.shape
    k_blocks = -(-k // block_size)
    padded = np.zeros((n, k_blocks * block_size), dtype=np.float32)
    padded[:, :k] = w_nk
    blocks = padded.reshape(n, k_blocks, block_size).astype(np.float64)
    lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    best = None
    for ratio in (np.arange(1.0, 0.695, -0.02) if clip_search else [1.0]):
        codes, scales, zp = _round_to_nearest(blocks, lo * ratio, hi * ratio, bits, symmetric)
        error = np.sum(((codes - zp[:, :, None]) * scales[:, :, None] - blocks) ** 2, axis=2)
        if best is None:
            best = [codes, scales, zp, error]
            continue
        better = error < best[3]
        best[0] = np.where(better[:, :, None], codes, best[0])
        for i, value in ((1, scales), (2, zp), (3, error)):
            best[i] = np.where(better, value, best[i])
    codes, scales, zp, _ = best
    return codes.astype(np.uint8), scales.astype(np.float32), None if symmetric else zp.astype(np.uint8)


def pack_low_first(codes, bits):
    """Packs the last axis of uint8 `codes` (each < 2^bits) into bytes, element 0 in the lowest bits."""
    per_byte = 8 // bits
    length = codes.shape[-1]
    padded_len = -(-length // per_byte) * per_byte
    padded = np.zeros(codes.shape[:-1] + (padded_len,), dtype=np.uint8)
    padded[..., :length] = codes
    grouped = padded.reshape(codes.shape[:-1] + (padded_len // per_byte, per_byte)).astype(np.uint16)
    packed = np.zeros(grouped.shape[:-1], dtype=np.uint16)
    for i in range(per_byte):
        packed |= grouped[..., i] << (i * bits)
    return packed.astype(np.uint8)


def unpack_low_first(packed, bits, length):
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    parts = [(packed >> (i * bits)) & mask for i in range(per_byte)]
    return np.stack(parts, axis=-1).reshape(packed.shape[:-1] + (-1,))[..., :length]


def dequantize(b, scales, zero_points, bits, k):
    """W^T [N,K] from MatMulNBits inputs, read back through the documented layout (the writer's self-check)."""
    n, k_blocks, _ = b.shape
    block_size = b.shape[2] * 8 // bits
    codes = unpack_low_first(b, bits, block_size).astype(np.float64)
    zp = (np.full((n, k_blocks), 1 << (bits - 1)) if zero_points is None
          else unpack_low_first(zero_points, bits, k_blocks))
    return ((codes - zp[:, :, None]) * scales[:, :, None].astype(np.float64)).reshape(n, -1)[:, :k]


class Quantized:
    """One weight's MatMulNBits initializers and their shapes."""

    def __init__(self, name, w_nk, cfg):
        bits, block_size = cfg["bits"], cfg["block_size"]
        self.n, self.k = w_nk.shape
        codes, scales, zp = quantize_blocks(w_nk, bits, block_size, cfg["symmetric"], cfg["clip_search"])
        self.b = numpy_helper.from_array(pack_low_first(codes, bits), f"{name}_Q{bits}")
        self.scales = numpy_helper.from_array(scales, f"{name}_scales")
        self.zero_points = None if zp is None else numpy_helper.from_array(pack_low_first(zp, bits), f"{name}_zero_points")
        restored = dequantize(numpy_helper.to_array(self.b), scales, None if zp is None else numpy_helper.to_array(self.zero_points), bits, self.k)
        # Round-to-nearest is off by at most half a step inside the block's representable range, and by the distance
        # to that range outside it (clipped).
        def per_element(values):
            return np.repeat(values, block_size, axis=1)[:, :self.k]
        zero = np.full(scales.shape, 1 << (bits - 1)) if zp is None else zp.astype(np.float64)
        ends = np.stack([(0 - zero) * scales, ((1 << bits) - 1 - zero) * scales])
        low, high = per_element(ends.min(axis=0)), per_element(ends.max(axis=0))
        outside = np.maximum(np.maximum(low - w_nk, w_nk - high), 0)
        error = np.abs(restored - w_nk)
        if not np.all(error <= per_element(np.abs(scales)) * 0.5 + outside + 1e-6):
            raise AssertionError(f"{name}: dequantized weights are off by more than half a quantization step")
        self.rms_error = float(np.sqrt(np.mean(error ** 2)) / max(np.sqrt(np.mean(w_nk.astype(np.float64) ** 2)), 1e-30))

    def tensors(self):
        return [t for t in (self.b, self.scales, self.zero_points) if t is not None]

    def inputs(self):
        return [self.b.name, self.scales.name] + ([self.zero_points.name] if self.zero_points is not None else [])


def constant_weight(node, initializers, producers):
    """(initializer name, W^T [N,K]) when MatMul `node`'s B is a 2-D initializer, directly ([K,N]) or through a
    Transpose(perm=[1,0]) of one ([N,K], the layout torch's Linear stores); else None."""
    b = node.input[1]
    if b in initializers:
        w = numpy_helper.to_array(initializers[b])
        return (b, np.ascontiguousarray(w.T)) if w.ndim == 2 else None
    producer = producers.get(b)
    if producer is not None and producer.op_type == "Transpose" and producer.input[0] in initializers:
        perm = next((list(a.ints) for a in producer.attribute if a.name == "perm"), None)
        w = numpy_helper.to_array(initializers[producer.input[0]])
        if w.ndim == 2 and perm in (None, [1, 0]):
            return producer.input[0], np.ascontiguousarray(w)
    return None


def quantize_graph(model, cfg, cache):
    """Rewrites `model` (weights loaded) in place. `cache` maps weight name -> Quantized and is shared between the
    graphs of one variant, so both reference the same initializers. Returns the names of the rewritten weights."""
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    nodes, rewritten = [], []
    for node in graph.node:
        found = constant_weight(node, initializers, producers) if node.op_type == "MatMul" else None
        if found is None:
            nodes.append(node)
            continue
        name, w_nk = found
        q = cache.get(name) or cache.setdefault(name, Quantized(name, w_nk, cfg))
        attrs = {"K": q.k, "N": q.n, "bits": cfg["bits"], "block_size": cfg["block_size"]}
        if cfg["accuracy_level"]:
            attrs["accuracy_level"] = cfg["accuracy_level"]
        nodes.append(helper.make_node("MatMulNBits", [node.input[0]] + q.inputs(), list(node.output),
                                      name=f"{node.name}_Q{cfg['bits']}", domain=MS_DOMAIN, **attrs))
        rewritten.append(name)

    # The tied embedding: a Gather over a weight the LM head now reads quantized reads the same codes.
    for i, node in enumerate(nodes):
        if node.op_type == "Gather" and isinstance(cache.get(node.input[0]), Quantized):
            q = cache[node.input[0]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if axis != 0:
                raise ValueError(f"{node.name}: Gather on axis {axis}; only row lookups are quantized")
            data = f"{q.b.name}_rows"
            cache.setdefault(data, TensorProto()).CopyFrom(helper.make_tensor(
                data, TensorProto.UINT8, [q.n, int(np.prod(q.b.dims[1:]))], q.b.raw_data, raw=True))
            inputs = [data, node.input[1], q.scales.name] + ([q.zero_points.name] if q.zero_points is not None else [])
            nodes[i] = helper.make_node("GatherBlockQuantized", inputs, list(node.output), name=f"{node.name}_Q{cfg['bits']}",
                                        domain=MS_DOMAIN, bits=cfg["bits"], block_size=cfg["block_size"],
                                        gather_axis=0, quantize_axis=1)

    # Drop the Transposes and float32 weights nothing reads any more.
    while True:
        used = {i for n in nodes for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in nodes if n.op_type == "Transpose" and not any(o in used for o in n.output)]
        if not dead:
            break
        nodes = [n for n in nodes if n not in dead]
    used = {i for n in nodes for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    added = {}
    for name in rewritten:
        for t in cache[name].tensors():
            added[t.name] = t
    for node in nodes:
        if node.op_type == "GatherBlockQuantized":
            added[node.input[0]] = cache[node.input[0]]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + list(added.values()))
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return sorted(set(rewritten))


def write_external(models, weights_path):
    """Moves every initializer of `models` of INLINE_BELOW bytes or more into one file, each name once; the
    GatherBlockQuantized rows (`*_rows`) point at their MatMulNBits B's bytes instead of a copy."""
    offsets, blobs = {}, {}
    for model in models:
        for t in model.graph.initializer:
            data = numpy_helper.to_array(t).tobytes()
            if t.name in blobs and blobs[t.name] != data:
                raise AssertionError(f"{t.name}: differs between the graphs")
            blobs[t.name] = data
    with open(weights_path, "wb") as f:
        for name, data in blobs.items():
            if len(data) < INLINE_BELOW or name.endswith("_rows"):
                continue
            offsets[name] = (f.tell(), len(data))
            f.write(data)
    for name in blobs:
        if name.endswith("_rows"):
            source = name[:-len("_rows")]
            if blobs[source] != blobs[name]:
                raise AssertionError(f"{name}: not the bytes of {source}")
            offsets[name] = offsets[source]
    location = os.path.basename(weights_path)
    for model in models:
        for t in model.graph.initializer:
            if t.name in offsets:
                offset, length = offsets[t.name]
                set_external_data(t, location, offset, length)
                t.ClearField("raw_data")
                t.data_location = TensorProto.EXTERNAL
    return os.path.getsize(weights_path)


def quantize_variant(model_dir, name, cfg):
    cache = {}
    models, report = [], {}
    for source, target, _, _ in GRAPHS:
        model = onnx.load(os.path.join(model_dir, source))  # weights resolved into raw_data
        report[target.format(name=name)] = quantize_graph(model, cfg, cache)
        models.append(model)
    weights_file = f"model.{name}.weights"
    weights_size = write_external(models, os.path.join(model_dir, weights_file))
    sizes = {weights_file: weights_size}
    for (_, target, _, _), model in zip(GRAPHS, models):
        path = os.path.join(model_dir, target.format(name=name))
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        onnx.checker.check_model(path)
        sizes[os.path.basename(path)] = os.path.getsize(path)
    # Read back: every initializer resolves to the bytes the quantizer produced.
    expected = {t.name: bytes(t.raw_data) for q in cache.values() if isinstance(q, Quantized) for t in q.tensors()}
    for (_, target, _, _) in GRAPHS:
        loaded = {t.name: numpy_helper.to_array(t).tobytes()
                  for t in onnx.load(os.path.join(model_dir, target.format(name=name))).graph.initializer}
        for k, v in expected.items():
            if k in loaded and loaded[k] != v:
                raise AssertionError(f"{target}: {k} reads back different bytes")
    errors = {k: q.rms_error for k, q in cache.items() if isinstance(q, Quantized)}
    return sizes, errors, report


def quantize_all(model_dir, chosen):
    """Writes each variant of `chosen` (name -> settings, e.g. VARIANTS), then model.json and the README section."""
    for name, cfg in chosen.items():
        sizes, errors, report = quantize_variant(model_dir, name, cfg)
        print(f"{name}: {cfg}")
        for file, size in sizes.items():
            print(f"  {file}: {size:,} bytes ({size / 2**20:.2f} MiB)")
        for graph, weights in report.items():
            print(f"  {graph}: {len(weights)} MatMul weights quantized")
        worst = max(errors, key=errors.get)
        print(f"  relative RMS weight error: mean {np.mean(list(errors.values())):.4f}, worst {errors[worst]:.4f} ({worst})")
    update_manifest(model_dir, chosen)
    update_readme(model_dir)


def quantize_folder(source_dir, target_dir, name, cfg):
    """A family export folder (one model.onnx with its external data, config.json or genai_config.json and the
    tokenizer files, as family_export.py and random_family.py write it) quantized into `target_dir`: the same files,
    with model.onnx's MatMuls as MatMulNBits and its weights in the same external-data file name. Users' exports
    come one graph to a folder, and so does a quantized model written by onnxruntime-genai's builder; the engine
    loads the new folder as it loads the float32 one."""
    model = onnx.load(os.path.join(source_dir, "model.onnx"))
    locations = {e.value for t in onnx.load(os.path.join(source_dir, "model.onnx"), load_external_data=False).graph.initializer
                 for e in t.external_data if e.key == "location"}
    if len(locations) > 1:
        raise ValueError(f"{source_dir}: weights in {sorted(locations)}; expected one external-data file")
    data_name = next(iter(locations), "model.onnx.data")
    os.makedirs(target_dir, exist_ok=True)
    for entry in os.listdir(source_dir):
        if entry not in ("model.onnx", data_name) and os.path.isfile(os.path.join(source_dir, entry)):
            shutil.copyfile(os.path.join(source_dir, entry), os.path.join(target_dir, entry))
    cache = {}
    rewritten = quantize_graph(model, cfg, cache)
    weights_size = write_external([model], os.path.join(target_dir, data_name))
    path = os.path.join(target_dir, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    # No onnx.checker here: the genai builder's graphs use ONNX Runtime's contrib ops in the default domain
    # (SimplifiedLayerNormalization), which the checker refuses; ONNX Runtime itself is the check (the engine loads it).
    errors = [q.rms_error for q in cache.values() if isinstance(q, Quantized)]
    print(f"{name}: {target_dir}: {len(rewritten)} MatMul weights quantized, {data_name} {weights_size / 2**20:,.1f} MiB, "
          f"relative RMS weight error mean {np.mean(errors):.4f}, worst {max(errors):.4f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", nargs="?", default="../../models/tiny-chat")
    p.add_argument("--folder-out", help="quantize model_dir as one family export folder (model.onnx + external data + "
                                        "configs) into this folder (one variant), instead of model.json variants")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: int8, int4")
    p.add_argument("--block-size", type=int, help="override every variant's block size (power of 2, >= 16)")
    p.add_argument("--accuracy-level", type=int, choices=[0, 1, 4], help="override: 0 float compute, 4 int8 compute")
    p.add_argument("--symmetric", choices=["yes", "no"], help="override: symmetric (no zero points) or asymmetric")
    p.add_argument("--clip-search", choices=["yes", "no"], help="override: search each block's range for the least error")
    args = p.parse_args()
    chosen = {}
    for name in args.variants.split(","):
        cfg = dict(VARIANTS[name])
        if args.block_size is not None:
            cfg["block_size"] = args.block_size
        if args.accuracy_level is not None:
            cfg["accuracy_level"] = args.accuracy_level
        if args.symmetric is not None:
            cfg["symmetric"] = args.symmetric == "yes"
        if args.clip_search is not None:
            cfg["clip_search"] = args.clip_search == "yes"
        chosen[name] = cfg
    if args.folder_out:
        if len(chosen) != 1:
            raise SystemExit("--folder-out writes one variant: pass --variants int8 (or int4)")
        name, cfg = next(iter(chosen.items()))
        quantize_folder(args.model_dir, args.folder_out, name, cfg)
        return
    quantize_all(args.model_dir, chosen)


if __name__ == "__main__":
    main()
