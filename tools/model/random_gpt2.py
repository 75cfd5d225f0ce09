"""Makes a GPT-2-shape model with random weights, laid out like models/tiny-chat, for benchmarking larger shapes.

Seeded initialization: gpt2.py's normal(0, 0.02) weights, plus normal(0, 0.02) noise on the biases and LayerNorm
parameters (gpt2.py starts them at 0 and 1, and the exporter would merge equal initializers into one). Exported
exactly as export.py exports the trained model (the Optimum graph, opset 17), with a model.json of the same
structure (r50k_base tokenizer, the tiny-chat template, <|endoftext|> = 50256 ends a turn; "training": null), then
converted by gqa.py: model.onnx (GroupQueryAttention, shared past/present buffer), model.optimum.onnx
(variants.optimum) and model.weights, in float32 or float16. The text it generates is noise; the shapes and the
work per token are GPT-2's. No reference.json.

    /usr/bin/python3 random_gpt2.py --layers 2 --d-model 128 --heads 4 --out-dir /tmp/rnd
    python3 random_gpt2.py --layers 24 --d-model 1024 --heads 16 --dtype float16 --out-dir /tmp/gpt2-24l-fp16
"""
import argparse
import json
import os

import onnx
import torch

import export
import gqa
from gpt2 import GPT2, Config

# export.py embeds the weights in one protobuf before gqa.py moves them out, and a protobuf stops at 2 GiB.
MAX_FLOAT32_BYTES = 2 ** 31 - 2 ** 26


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--d-model", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--positions", type=int, default=2048)
    p.add_argument("--dtype", choices=list(gqa.DTYPES), default="float32",
                   help="weights, activations and KV cache of both graphs (logits are float32 either way)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="model.json name (default random-gpt2-<layers>l-d<d-model>)")
    p.add_argument("--out-dir", required=True)
    args = p.parse_args()
    if args.d_model % args.heads:
        p.error("--d-model must be a multiple of --heads")
    if args.vocab <= 50256:
        p.error("--vocab must hold r50k_base's 50,257 tokens")

    cfg = Config(vocab_size=args.vocab, n_positions=args.positions, n_layer=args.layers, n_head=args.heads,
                 n_embd=args.d_model)
    torch.manual_seed(args.seed)
    model = GPT2(cfg).eval()
    with torch.no_grad():
        for t in model.parameters():
            if t.dim() == 1:
                t.add_(torch.randn_like(t) * 0.02)
    params = sum(t.numel() for t in model.parameters())
    if 4 * params > MAX_FLOAT32_BYTES:
        p.error(f"{params:,} parameters: over 2 GiB of float32, more than one ONNX protobuf holds")
    print(f"{params:,} parameters, seed {args.seed}")

    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, gqa.GQA)
    export.export_onnx(model, onnx_path)  # the Optimum graph, weights embedded
    exported = {t.name for t in onnx.load(onnx_path, load_external_data=False).graph.initializer}
    missing = sorted(f"model.{k}" for k in model.state_dict() if f"model.{k}" not in exported)
    if missing:
        raise AssertionError(f"{onnx_path}: the exporter merged or dropped {', '.join(missing)}")
    del model
    name = args.name or f"random-gpt2-{args.layers}l-d{args.d_model}"
    with open(os.path.join(args.out_dir, "model.json"), "w", encoding="utf-8") as f:
        json.dump(export.manifest(cfg, None, name), f, indent=2)
        f.write("\n")
    for file, size in gqa.convert(args.out_dir, dtype=args.dtype).items():
        print(f"{file}: {size:,} bytes ({size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
