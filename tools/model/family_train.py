"""Trains a family preset (family_presets.py) briefly on the corpus build_corpus.py writes: the conversations
rendered with the family's published template and tokenized with its fixture tokenizer, packed into windows.
A few minutes on CPU, so that greedy decoding answers in the corpus's manner instead of repeating one token.
Seeded and single-process deterministic.

    /usr/bin/python3 family_train.py --preset llama --out work/llama.pt
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import family_presets
from decoder import Decoder

# What closes a conversation in the token stream: an end-of-text token the family lists among its stop tokens.
END_OF_CONVERSATION = {"llama": "<|end_of_text|>", "qwen2": "<|endoftext|>", "glm4": "<|endoftext|>"}


def tokenize(preset, tokenizer, corpus, conversations):
    ids = []
    with open(corpus, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= conversations:
                break
            text = family_presets.render(preset, json.loads(line)["messages"], add_generation_prompt=False)
            ids.extend(tokenizer.encode(text + END_OF_CONVERSATION[preset.name]))
    return np.asarray(ids, dtype=np.int64)


@torch.no_grad()
def evaluate(model, data, seq_len):
    model.eval()
    n = min((len(data) - 1) // seq_len, 32)
    x = torch.from_numpy(np.stack([data[r * seq_len:(r + 1) * seq_len] for r in range(n)]))
    y = torch.from_numpy(np.stack([data[r * seq_len + 1:(r + 1) * seq_len + 1] for r in range(n)]))
    logits = model.forward_train(x)
    model.train()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", required=True, choices=sorted(family_presets.PRESETS))
    p.add_argument("--corpus", default="work/corpus.jsonl")
    p.add_argument("--cl100k", default="work/cl100k_base.tiktoken")
    p.add_argument("--base-vocab", type=int, default=4096)
    p.add_argument("--conversations", type=int, default=8000)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    preset = family_presets.PRESETS[args.preset]
    tokenizer = family_presets.FamilyTokenizer(preset, args.cl100k, args.base_vocab)
    folder = os.path.join(os.path.dirname(os.path.abspath(args.out)), f"{preset.name}-tokenizer")
    os.makedirs(folder, exist_ok=True)
    tokenizer.write(folder)
    t0 = time.time()
    data = tokenize(preset, tokenizer, args.corpus, args.conversations)
    split = int(len(data) * 0.98)
    train, val = data[:split], data[split:]
    print(f"{preset.name}: tokens train {len(train):,} val {len(val):,} ({time.time() - t0:.0f}s)", flush=True)

    cfg = preset.config(args.base_vocab)
    model = Decoder(cfg)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(args.seed)
    warmup, start = 50, time.time()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(train) - args.seq_len - 1, size=args.batch_size)
        x = torch.from_numpy(np.stack([train[s:s + args.seq_len] for s in starts]))
        y = torch.from_numpy(np.stack([train[s + 1:s + args.seq_len + 1] for s in starts]))
        logits = model.forward_train(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1} loss {loss.item():.3f} lr {lr:.2e} {(time.time() - start) / 60:.1f} min", flush=True)
    val_loss = evaluate(model, val, args.seq_len)
    summary = {"steps": args.steps, "train_tokens": args.steps * args.batch_size * args.seq_len,
               "val_loss": round(val_loss, 4), "minutes": round((time.time() - start) / 60, 1),
               "base_vocab": args.base_vocab, "conversations": args.conversations, "seed": args.seed}
    print(json.dumps(summary), flush=True)
    torch.save({"preset": preset.name, "config": cfg.to_dict(), "state_dict": model.state_dict(),
                "summary": summary}, args.out)


if __name__ == "__main__":
    main()
