"""Trains the tiny-chat GPT-2 on the corpus from build_corpus.py. Seeded and single-process deterministic."""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import bpe
import chat_template
from gpt2 import GPT2, Config


def tokenize_corpus(corpus_path, tokenizer, cache_path):
    if os.path.exists(cache_path):
        return np.fromfile(cache_path, dtype=np.int32)
    ids = []
    with open(corpus_path, encoding="utf-8") as f:
        for line in f:
            ids.extend(tokenizer.encode(chat_template.render(json.loads(line)["messages"])))
    arr = np.asarray(ids, dtype=np.int32)
    arr.tofile(cache_path)
    return arr


def batches(data, seq_len, batch_size, n_positions, rng):
    # Packed windows over the token stream; a window may span conversations (each one starts with its
    # own marker after the previous one's <|endoftext|>), which teaches the turn structure at every offset.
    # Half the windows sit at a random absolute position so every position embedding up to the context
    # length is trained, although a window is shorter than the context.
    while True:
        starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
        offsets = np.where(rng.random(batch_size) < 0.5, 0, rng.integers(0, n_positions - seq_len + 1, size=batch_size))
        x = np.stack([data[s:s + seq_len] for s in starts]).astype(np.int64)
        y = np.stack([data[s + 1:s + seq_len + 1] for s in starts]).astype(np.int64)
        pos = offsets[:, None] + np.arange(seq_len)[None, :]
        yield torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(pos.astype(np.int64))


@torch.no_grad()
def evaluate(model, data, seq_len, batch_size=16):
    model.eval()
    losses = []
    n = (len(data) - 1) // seq_len
    for i in range(0, min(n, 64), batch_size):
        rows = range(i, min(i + batch_size, n))
        x = torch.from_numpy(np.stack([data[r * seq_len:(r + 1) * seq_len] for r in rows]).astype(np.int64))
        y = torch.from_numpy(np.stack([data[r * seq_len + 1:(r + 1) * seq_len + 1] for r in rows]).astype(np.int64))
        logits = model.forward_train(x)
        losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item())
    model.train()
    return float(np.mean(losses))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default="work/corpus.jsonl")
    p.add_argument("--ranks", default="work/r50k_base.tiktoken")
    p.add_argument("--out", default="work/checkpoint.pt")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--context", type=int, default=2048)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    tokenizer = bpe.R50kTokenizer(args.ranks)
    t0 = time.time()
    data = tokenize_corpus(args.corpus, tokenizer, args.corpus + ".ids")
    split = int(len(data) * 0.98)
    train_data, val_data = data[:split], data[split:]
    print(f"tokens: train {len(train_data):,} val {len(val_data):,} ({time.time() - t0:.0f}s)", flush=True)

    cfg = Config(n_layer=args.layers, n_head=args.heads, n_embd=args.d_model, n_positions=args.context)
    model = GPT2(cfg)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(args.seed)
    warmup = 100
    start = time.time()
    step = 0
    history = []
    for x, y, pos in batches(train_data, args.seq_len, args.batch_size, cfg.n_positions, rng):
        if step >= args.steps:
            break
        elapsed = time.time() - start
        frac = step / args.steps
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        logits = model.forward_train(x, pos)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            tps = step * args.batch_size * args.seq_len / (time.time() - start)
            print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} {tps:,.0f} tok/s {elapsed / 60:.1f} min", flush=True)
        if step % 200 == 0:
            val = evaluate(model, val_data, args.seq_len)
            history.append({"step": step, "val_loss": val})
            print(f"step {step} val_loss {val:.3f}", flush=True)
    val = evaluate(model, val_data, args.seq_len)
    summary = {"steps": step, "train_tokens": step * args.batch_size * args.seq_len, "val_loss": val,
               "minutes": (time.time() - start) / 60, "history": history, "config": vars(cfg),
               "args": vars(args)}
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}), flush=True)
    torch.save({"config": vars(cfg), "state_dict": model.state_dict(), "summary": summary}, args.out)


if __name__ == "__main__":
    main()
