"""Exports the trained checkpoint to models/tiny-chat in the Hugging Face Optimum decoder layout, adds the
shared-buffer GroupQueryAttention graph of the same weights (gqa.py), and writes the manifest (model.json),
reference outputs for the .NET tests (reference.json) and the model's README."""
import argparse
import inspect
import json
import os

import onnx
import torch

import bpe
import chat_template
import gqa
import quantize
from gpt2 import GPT2, Config, OnnxDecoder, attention_allowed

OPSET = 17


def load(checkpoint):
    ckpt = torch.load(checkpoint, map_location="cpu")
    model = GPT2(Config(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt["summary"]


def export_onnx(model, path):
    cfg = model.cfg
    wrapper = OnnxDecoder(model).eval()
    b, s, p = 2, 3, 4
    past = []
    for _ in range(cfg.n_layer):
        past += [torch.randn(b, cfg.n_head, p, cfg.head_dim), torch.randn(b, cfg.n_head, p, cfg.head_dim)]
    args = (torch.randint(0, cfg.vocab_size, (b, s)), torch.ones(b, p + s, dtype=torch.int64),
            torch.arange(p, p + s).unsqueeze(0).expand(b, s).contiguous(), *past)
    past_names = [f"past_key_values.{i}.{kv}" for i in range(cfg.n_layer) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(cfg.n_layer) for kv in ("key", "value")]
    dynamic_axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size"},
    }
    for n in past_names:
        dynamic_axes[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in present_names:
        dynamic_axes[n] = {0: "batch_size", 2: "total_sequence_length"}
    # The TorchScript exporter: torch >= 2.5 takes `dynamo` (and from 2.9 defaults it to True); 1.13 has no such
    # argument.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(wrapper, args, path, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names], dynamic_axes=dynamic_axes,
                          # Folding would store the tied embedding twice (once transposed for the head).
                          do_constant_folding=False, **legacy)
    graph_model = onnx.load(path)
    # The tracer cannot see that h[:, -1:, :] has length 1; say so, so consumers know logits are [B,1,V].
    logits_shape = graph_model.graph.output[0].type.tensor_type.shape
    logits_shape.dim[1].Clear()
    logits_shape.dim[1].dim_value = 1
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, path)


@torch.no_grad()
def step(model, ids, past):
    """One KV-cached forward exactly as the ONNX graph computes it (batch 1)."""
    cfg = model.cfg
    p = past[0].shape[2] if past else 0
    x = torch.tensor([ids], dtype=torch.int64)
    mask = torch.ones(1, p + len(ids), dtype=torch.int64)
    pos = torch.arange(p, p + len(ids)).unsqueeze(0)
    h, presents = model.hidden(x, pos, attention_allowed(mask, len(ids)), past if past else None)
    return model.logits(h[:, -1, :])[0], presents


def greedy(model, prompt_ids, max_new, stop_id=None):
    logits, past = step(model, prompt_ids, None)
    first_logits = logits
    out = []
    for _ in range(max_new):
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        if stop_id is not None and nxt == stop_id:
            break
        logits, past = step(model, [nxt], past)
    return out, first_logits


REFERENCE_CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "user", "content": "What does String.Trim do?"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "Tell me something about computers."}],
    # Long multi-turn history (> 200 tokens) to exercise long prefill.
    [{"role": "system", "content": "You are a friendly assistant who knows .NET well."},
     {"role": "user", "content": "What is List in System.Collections.Generic?"},
     {"role": "assistant", "content": "Represents a strongly typed list of objects that can be accessed by index. "
                                      "Provides methods to search, sort, and manipulate lists."},
     {"role": "user", "content": "Tell me a fortune."},
     {"role": "assistant", "content": "You will be successful in your work, but only after you stop reading "
                                      "fortunes and start writing code that compiles on the first try."},
     {"role": "user", "content": "What does Dictionary.TryGetValue do?"},
     {"role": "assistant", "content": "Gets the value associated with the specified key. Returns true if the "
                                      "dictionary contains an element with the specified key; otherwise, false."},
     {"role": "user", "content": "Explain the Dispose method of Stream."},
     {"role": "assistant", "content": "Releases all resources used by the Stream. Call it when you are done "
                                      "with the stream so that the underlying handles are closed."},
     {"role": "user", "content": "Give me a quote about science."}],
]

SAMPLE_CONVERSATIONS = [
    ["Hello!", "What does Console.WriteLine do?", "Thank you."],
    ["Tell me something about computers.", "What is HttpClient for?"],
    ["Who are you?", "Give me a quote about love.", "Goodbye."],
]


def write_reference(model, tokenizer, path, new_tokens):
    refs = []
    for messages in REFERENCE_CONVERSATIONS:
        prompt = chat_template.render(messages, add_generation_prompt=True)
        ids = tokenizer.encode(prompt)
        tokens, logits = greedy(model, ids, new_tokens)
        refs.append({"messages": messages, "prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens,
                     "greedy_text": tokenizer.decode(tokens),
                     "last_logits": [float(f"{v:.7g}") for v in logits.tolist()]})
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"template": "tiny-chat", "greedy_new_tokens": new_tokens,
                   "logits_tolerance": 1e-4, "references": refs}, f)
    return refs


def sample_conversations(model, tokenizer):
    transcripts = []
    for turns in SAMPLE_CONVERSATIONS:
        messages = []
        for user in turns:
            messages.append({"role": "user", "content": user})
            ids = tokenizer.encode(chat_template.render(messages, add_generation_prompt=True))
            reply, _ = greedy(model, ids, 96, stop_id=bpe.ENDOFTEXT_ID)
            ended = reply and reply[-1] == bpe.ENDOFTEXT_ID
            text = tokenizer.decode(reply[:-1] if ended else reply).strip()
            messages.append({"role": "assistant", "content": text})
            messages[-1]["ended_turn"] = ended
        transcripts.append(messages)
    return transcripts


def manifest(cfg, summary, name="tiny-chat"):
    """model.json for a GPT-2 of `cfg` (r50k_base, tiny-chat template); `summary` None for an untrained model."""
    return {
        "name": name,
        "architecture": "gpt2",
        "num_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.head_dim,
        "hidden_size": cfg.n_embd,
        "vocab_size": cfg.vocab_size,
        "context_length": cfg.n_positions,
        "dtype": "float32",
        "onnx_file": "model.onnx",
        "opset": OPSET,
        "tokenizer": {"kind": "tiktoken", "encoding": "r50k_base",
                      "special_tokens": {"<|endoftext|>": bpe.ENDOFTEXT_ID}},
        "chat_template": "tiny-chat",
        "bos_token_id": None,
        "eos_token_id": bpe.ENDOFTEXT_ID,
        "end_of_turn_token_ids": [bpe.ENDOFTEXT_ID],
        "pad_token_id": bpe.ENDOFTEXT_ID,
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids",
                   "past_key": "past_key_values.{layer}.key", "past_value": "past_key_values.{layer}.value"},
        "outputs": {"logits": "logits", "present_key": "present.{layer}.key",
                    "present_value": "present.{layer}.value"},
        "kv_layout": "batch_heads_sequence_headdim",
        "logits_mode": "last",
        "training": None if summary is None else {"steps": summary["steps"], "train_tokens": summary["train_tokens"],
                                                  "validation_loss": round(summary["val_loss"], 4)},
    }


def write_readme(path, cfg, summary, sizes, transcripts):
    mib = {name: f"{size / 2**20:.2f} MiB" for name, size in sizes.items()}
    lines = [
        "# tiny-chat",
        "",
        "The default model of AutoGlm.Orleans: a GPT-2 architecture decoder trained here from scratch, so the",
        "repository ships a real model without downloading one. Made by `tools/model` (see its README for the",
        "exact commands); every file in this folder is an output of that pipeline.",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | GPT-2: {cfg.n_layer} layers, d_model {cfg.n_embd}, {cfg.n_head} heads "
        f"(head dim {cfg.head_dim}), {cfg.n_positions} positions, tied embedding |",
        f"| parameters | {sum(p.numel() for p in GPT2(cfg).parameters()):,} |",
        "| tokenizer | r50k_base (GPT-2's BPE, 50,257 tokens; `<|endoftext|>` = 50256) |",
        "| chat template | `tiny-chat`: `<|system|>\\n…\\n`, `<|user|>\\n…\\n`, `<|assistant|>\\n…<|endoftext|>` |",
        "| end of turn | token 50256 (`<|endoftext|>`) |",
        f"| ONNX | opset {OPSET} + com.microsoft 1, float32, last-position logits; two graphs of the same weights: "
        f"`model.onnx` (GroupQueryAttention, shared past/present buffer, {mib[gqa.GQA]}) and `model.optimum.onnx` "
        f"(Optimum decoder layout, {mib[gqa.OPTIMUM]}) |",
        f"| weights | `model.weights`: {sizes[gqa.WEIGHTS] / 2**20:.1f} MiB of ONNX external data, stored once for both "
        "graphs |",
        f"| training | {summary['steps']} steps × {summary['args']['batch_size']} × {summary['args']['seq_len']} "
        f"tokens = {summary['train_tokens']:,} tokens, seed {summary['args']['seed']}, "
        f"{summary['minutes']:.0f} min on 2 CPU cores |",
        f"| validation loss | {summary['val_loss']:.3f} (cross-entropy per token, 2% held-out conversations) |",
        "",
        "## Data and licence",
        "",
        "Multi-turn conversations generated by `tools/model/build_corpus.py` from text that Debian packages ship:",
        "",
        "- `fortunes` (fortune-mod's data files, BSD licence: /usr/share/doc/fortunes/copyright), as replies to",
        "  requests for quotes; the offensive collection is not used.",
        "- the .NET SDK's reference-pack XML documentation (MIT, /usr/share/dotnet/LICENSE.txt; the text comes from",
        "  dotnet/dotnet-api-docs), as answers to questions about .NET types and members.",
        "- a few hand-written greetings.",
        "",
        "The model weights are released with the repository under its licence.",
        "",
        "## Interface",
        "",
        "Two graphs of the same weights (`model.weights`), with the same tensor names: `input_ids` [B,S] int64,",
        "`attention_mask` [B,T] int64, `position_ids` [B,S] int64 and each layer's `past_key_values.{i}.key/.value`",
        "float32 in, `logits` [B,1,V] (last position only) and `present.{i}.key/.value` out. They differ in what the",
        "KV tensors are.",
        "",
        "### `model.onnx`: GroupQueryAttention over a shared buffer (the default)",
        "",
        "`model.json`: `\"onnx_file\": \"model.onnx\"`, `\"past_present_share_buffer\": true`. Each layer's attention is",
        "ONNX Runtime's contrib op `com.microsoft::GroupQueryAttention`, packed QKV, no rotary: the layout ONNX Runtime",
        "GenAI runs with `search.past_present_share_buffer: true`. In float32 only the CPU kernel runs it: ONNX",
        "Runtime 1.31's CUDA kernel is registered for float16 and bfloat16 alone, so a CUDA session would place these",
        "nodes on the CPU.",
        "",
        "- `past_key_values.{i}.key/.value` are [B,H,Cap,Dh] buffers allocated once. Bind the same OrtValue as",
        "  `past_key_values.{i}.key` and as `present.{i}.key` (and likewise `.value`) through one `OrtIoBinding`:",
        "  GroupQueryAttention writes the new tokens' K/V into it in place, and no step copies the cache.",
        "- Rows are right-padded. Row b holds L_b cached tokens at positions [0, L_b); its S new tokens go at L_b.",
        "  Its `attention_mask` row has ones at the first L_b + S positions and zeros after; `position_ids` are",
        "  L_b, L_b + 1, …. The graph takes `seqlens_k[b] = sum(attention_mask[b]) - 1` and",
        "  `total_sequence_length` = T, the mask's width (the longest row's L_b + S). Only the row sums count: left",
        "  padding is not expressible. Cache positions at or after a row's L_b + S are never read.",
        "- The present's length is max(T, past buffer length): keep T ≤ Cap, and the present is the bound buffer.",
        "- GroupQueryAttention's constraints: S > 1 with a non-empty past (chunked prefill, a new turn on a cached",
        "  conversation) requires B = 1. Decoding steps (S = 1) batch rows of any lengths; a batched first prompt",
        "  (S = T) needs rows of equal length, since a shorter row's last position (the logits') would be padding.",
        "",
        "### `model.optimum.onnx`: the Hugging Face Optimum decoder layout",
        "",
        "`model.json`: `variants.optimum` (`\"past_present_share_buffer\": false`). `attention_mask` is [B,P+S],",
        "`past_key_values.{i}.key/.value` [B,H,P,Dh] (P = 0 for the first step), and each step returns new",
        "`present.{i}.key/.value` [B,H,P+S,Dh]: the past concatenated with the new tokens' K/V.",
        "Masked scores use float32's minimum (not -inf), so left-padded rows never produce NaN.",
        "",
        "## Greedy samples",
        "",
        "Each reply below is greedy decoding (at most 96 tokens) of the history before it.",
        "",
    ]
    for i, messages in enumerate(transcripts, 1):
        lines.append(f"### Conversation {i}")
        lines.append("")
        for m in messages:
            who = "User" if m["role"] == "user" else "Assistant"
            suffix = "" if m["role"] == "user" or m.get("ended_turn") else " *(no end of turn within 96 tokens)*"
            lines.append(f"- **{who}:** {m['content']}{suffix}")
        lines.append("")
    lines += ["## Files", "",
              "- `model.onnx`: the decoder with GroupQueryAttention (shared past/present buffer); `model.json` names it.",
              "- `model.optimum.onnx`: the same decoder in the Optimum layout.",
              "- `model.weights`: both graphs' weights (ONNX external data; tensors under 1 KiB stay inline).",
              "- `model.json`: our manifest (architecture, tokenizer, template, stop tokens, tensor names).",
              "- `reference.json`: prompts, their r50k ids, torch's greedy continuation and last-position logits;",
              "  the .NET tests assert ONNX Runtime reproduces them.",
              "- `model.int8.*`, `model.optimum.int8.onnx`, `model.int4.*`, `model.optimum.int4.onnx`: the weight-quantized",
              "  variants (above; `tools/model/quantize.py`).",
              "- `quality.json`: conversations held out of the training corpus (`tools/model/quality_set.py`), on which the",
              "  .NET tests and the `variants` benchmark compare a variant with float32.", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", default="work/checkpoint.pt")
    p.add_argument("--ranks", default="work/r50k_base.tiktoken")
    p.add_argument("--out-dir", default="../../models/tiny-chat")
    p.add_argument("--reference-tokens", type=int, default=40)
    args = p.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out_dir, exist_ok=True)
    model, summary = load(args.checkpoint)
    tokenizer = bpe.R50kTokenizer(args.ranks)
    onnx_path = os.path.join(args.out_dir, "model.onnx")
    export_onnx(model, onnx_path)
    print(f"model.onnx (Optimum, weights embedded): {os.path.getsize(onnx_path) / 2**20:.1f} MiB")
    with open(os.path.join(args.out_dir, "model.json"), "w", encoding="utf-8") as f:
        json.dump(manifest(model.cfg, summary), f, indent=2)
        f.write("\n")
    # model.onnx becomes the GroupQueryAttention graph, the Optimum one model.optimum.onnx, the weights model.weights;
    # model.json then names the GQA graph and lists the Optimum one as a variant.
    sizes = gqa.convert(args.out_dir)
    for name, size in sizes.items():
        print(f"{name}: {size / 2**20:.2f} MiB")
    refs = write_reference(model, tokenizer, os.path.join(args.out_dir, "reference.json"), args.reference_tokens)
    for r in refs:
        print(f"prompt {len(r['prompt_ids'])} tokens -> {r['greedy_text']!r}")
    transcripts = sample_conversations(model, tokenizer)
    write_readme(os.path.join(args.out_dir, "README.md"), model.cfg, summary, sizes, transcripts)
    for t in transcripts:
        for m in t:
            print(f"{m['role']}: {m['content']}")
    # The weight-quantized variants of the new weights (model.json and the README gain their entries).
    quantize.quantize_all(args.out_dir, quantize.VARIANTS)


if __name__ == "__main__":
    main()
