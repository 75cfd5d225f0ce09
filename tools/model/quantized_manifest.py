"""model.json's declarations of quantize.py's variants and the model README's section listing them: the bookkeeping
after the graphs are written, apart from the quantizing itself."""
import json
import os

# Each float32 graph of a model.json folder, its quantized file, its variant key and whether it shares past/present.
GRAPHS = (("model.onnx", "model.{name}.onnx", "{name}", True),
          ("model.optimum.onnx", "model.optimum.{name}.onnx", "optimum-{name}", False))


def update_manifest(model_dir, chosen):
    path = os.path.join(model_dir, "model.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["weights_file"] = "model.weights"
    variants = manifest.setdefault("variants", {})
    variants.setdefault("optimum", {"onnx_file": "model.optimum.onnx", "past_present_share_buffer": False})
    variants["optimum"]["weights_file"] = "model.weights"
    for name, cfg in chosen.items():
        quantization = {"method": "MatMulNBits", "bits": cfg["bits"], "block_size": cfg["block_size"],
                        "accuracy_level": cfg["accuracy_level"], "symmetric": cfg["symmetric"],
                        "clip_search": cfg["clip_search"]}
        for _, target, key, share in GRAPHS:
            variants[key.format(name=name)] = {"onnx_file": target.format(name=name), "past_present_share_buffer": share,
                                               "weights_file": f"model.{name}.weights", "quantization": quantization}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


README_SECTION = "## Weight-quantized variants"


def update_readme(model_dir):
    """Writes the README's section on model.json's quantized variants (replacing an earlier one), before its
    "## Files" section."""
    path = os.path.join(model_dir, "README.md")
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if README_SECTION in text:
        start = text.index(README_SECTION)
        end = text.find("\n## ", start + len(README_SECTION))
        text = text[:start] + (text[end + 1:] if end >= 0 else "")
    lines = [README_SECTION, "",
             "Written by `tools/model/quantize.py` from the float32 graphs; `--Engine:ModelVariant NAME` serves one. Every",
             "MatMul with a constant weight (the 24 layer projections and the LM head) is ONNX Runtime's",
             "`com.microsoft::MatMulNBits`; the tied token embedding's Gather is `com.microsoft::GatherBlockQuantized` over",
             "the LM head's codes (stored once). LayerNorms, biases and the position embedding stay float32, and so does the",
             "KV cache. Greedy agreement with float32 and perplexity: tools/model/README.md and",
             "`QuantizedVariantTests`.", "",
             "| variant | graph | weights | bits | block | zero points | accuracy_level |",
             "|---|---|---|---|---|---|---|"]
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        variants = json.load(f)["variants"]
    for key, v in variants.items():
        cfg = v.get("quantization")
        if cfg is None:
            continue
        mib = {k: os.path.getsize(os.path.join(model_dir, v[k])) / 2**20 for k in ("onnx_file", "weights_file")}
        lines.append(f"| `{key}` | `{v['onnx_file']}` ({mib['onnx_file']:.2f} MiB) | `{v['weights_file']}` "
                     f"({mib['weights_file']:.2f} MiB) | {cfg['bits']} | {cfg['block_size']} | "
                     f"{'none (symmetric)' if cfg['symmetric'] else 'uint8 (asymmetric)'} | {cfg['accuracy_level']} |")
    lines.append("")
    marker = "\n## Files"
    at = text.find(marker)
    section = "\n".join(lines)
    text = text.rstrip("\n") + "\n\n" + section if at < 0 else text[:at + 1] + section + "\n" + text[at + 1:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
