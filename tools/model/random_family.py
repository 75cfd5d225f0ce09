"""A family-shaped model with seeded random weights, at any size, in both export layouts, for benchmarks at a
realistic width (not committed). Default: Qwen2.5-0.5B's shape, 24 layers, hidden 896, 14 heads of 64 with 2 KV
heads, intermediate 4,864, vocabulary 151,936 (tied), about 494 M parameters:

    /usr/bin/python3 random_family.py --out-dir /tmp/qwen2.5-0.5b-random
    /usr/bin/python3 random_family.py --layers 2 --out-dir /tmp/qwen2-2l-random   # a quick smoke of the same shape

writes <out-dir>/optimum (model.onnx + model.onnx_data, config.json, generation_config.json) and <out-dir>/gqa
(model.onnx + model.onnx.data, genai_config.json), each with the tokenizer files (cl100k_base's 100,256 ranks, then
the family's special tokens, as family_export.py writes them), and <out-dir>/reference.json (torch's greedy tokens
for two prompts, so a reader can check what it loaded). The text it generates is noise; the work per token is the
shape's. Float32: about 2 GiB of weights per layout at the default size, ~8 GiB of memory while exporting.
"""
import argparse
import json
import os
import shutil
import time

import onnx
import torch

import family_export
import family_presets
import genai_graph
from decoder import Config, Decoder, greedy

CL100K_TOKENS = 100256


def export_optimum_external(model, folder):
    """torch.onnx.export into a scratch folder (torch writes external files of its own above 2 GiB), then every weight
    moved to one model.onnx_data, as Optimum stores a large model (a protobuf holds at most 2 GiB)."""
    scratch = os.path.join(folder, "export.tmp")
    os.makedirs(scratch)
    family_export.export_optimum(model, os.path.join(scratch, "model.onnx"), check=False)
    proto = onnx.load(os.path.join(scratch, "model.onnx"))
    onnx.save_model(proto, os.path.join(folder, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
    shutil.rmtree(scratch)
    onnx.checker.check_model(os.path.join(folder, "model.onnx"))  # by path: works for any size


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", required=True)
    p.add_argument("--preset", default="qwen2", choices=sorted(family_presets.PRESETS))
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--hidden", type=int, default=896)
    p.add_argument("--heads", type=int, default=14)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--intermediate", type=int, default=4864)
    p.add_argument("--vocab", type=int, default=151936)
    p.add_argument("--positions", type=int, default=4096)
    p.add_argument("--cl100k", default="work/cl100k_base.tiktoken")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    preset = family_presets.PRESETS[args.preset]
    if args.vocab < CL100K_TOKENS + len(preset.specials):
        raise SystemExit(f"--vocab must hold cl100k's {CL100K_TOKENS} tokens and {len(preset.specials)} specials")
    overrides = {**preset.model, "num_layers": args.layers, "hidden_size": args.hidden, "num_heads": args.heads,
                 "num_kv_heads": args.kv_heads, "head_dim": args.head_dim, "intermediate_size": args.intermediate,
                 "max_positions": args.positions}
    overrides["rotary_dim"] = args.head_dim if preset.model["rotary_dim"] == preset.model["head_dim"] else args.head_dim // 2
    cfg = Config(vocab_size=args.vocab, **overrides)
    started = time.time()
    with torch.no_grad():
        model = Decoder(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"{preset.name}: {params:,} parameters ({time.time() - started:.0f}s)", flush=True)

    tokenizer = family_presets.FamilyTokenizer(preset, args.cl100k, CL100K_TOKENS)
    for layout in ("optimum", "gqa"):
        folder = os.path.join(args.out_dir, layout)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        tokenizer.write(folder)
        if layout == "optimum":
            export_optimum_external(model, folder)
            family_export.write_json(os.path.join(folder, "config.json"), family_presets.config_json(preset, cfg, CL100K_TOKENS))
            family_export.write_json(os.path.join(folder, "generation_config.json"),
                                     family_presets.generation_config_json(preset, CL100K_TOKENS))
        else:
            genai_graph.write(model, folder)
            family_export.write_json(os.path.join(folder, "genai_config.json"),
                                     family_presets.genai_config_json(preset, cfg, CL100K_TOKENS))
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print(f"{layout}: {size / 2**20:,.1f} MiB ({time.time() - started:.0f}s)", flush=True)

    refs = []
    for messages in family_export.REFERENCE_CONVERSATIONS[:2]:
        ids = tokenizer.encode(family_presets.render(preset, messages, add_generation_prompt=True))
        tokens, _ = greedy(model, ids, 8)
        refs.append({"messages": messages, "prompt_ids": ids, "greedy_ids": tokens})
    with open(os.path.join(args.out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"family": preset.name, "parameters": params, "config": cfg.to_dict(), "seed": args.seed,
                   "references": refs}, f)
    print(f"done in {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
