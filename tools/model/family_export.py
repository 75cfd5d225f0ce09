"""Exports a trained family checkpoint (family_train.py) as the two exports a user would bring, and torch's reference:

    <out-dir>/optimum/  model.onnx (torch.onnx.export, Optimum's decoder layout: Concat KV, position_ids, logits for
                        every position, weights embedded), config.json, generation_config.json, tokenizer files
    <out-dir>/gqa/      model.onnx + model.onnx.data (genai_graph.py: GroupQueryAttention with the rotary inside),
                        genai_config.json, tokenizer files
    <out-dir>/reference.json  prompts rendered with the published template, their ids (the Python reference
                        tokenizer), torch's greedy continuation and last-position logits, the end-of-turn run, and the
                        template cases the engine must render identically

Neither folder has a model.json: the engine reads them as it reads a user's export.

    /usr/bin/python3 family_export.py --checkpoint work/llama.pt --out-dir ../../tests/fixtures/families/llama
"""
import argparse
import inspect
import json
import os
import shutil

import onnx
import torch

import family_presets
import genai_graph
from decoder import Config, Decoder, OnnxDecoder, greedy

OPSET = 17

REFERENCE_CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "user", "content": "What does String.Trim do?"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "Tell me something about computers."}],
    # A long history (> 200 tokens): long prefill, and a prefix reused turn after turn.
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
     {"role": "user", "content": "Give me a quote about science."}],
]

# What each template must render exactly: system, user, assistant turns, the generation prompt, and the edge cases
# the published templates treat specially (Llama 3 trims content; GLM-4 drops empty turns; Qwen2 adds a system turn).
TEMPLATE_CASES = [
    ([{"role": "user", "content": "Hi"}], True),
    ([{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Hi"}], True),
    ([{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello! How can I help you today?"}], False),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "  What is 2 + 2?\n"}], True),
    ([{"role": "system", "content": ""}, {"role": "user", "content": "Tell me a fortune."}], True),
    ([{"role": "user", "content": "Zürich, 東京, Москва — ok?"}, {"role": "assistant", "content": ""}], False),
]


def load(checkpoint):
    ckpt = torch.load(checkpoint, map_location="cpu")
    model = Decoder(Config(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return family_presets.PRESETS[ckpt["preset"]], model, ckpt["summary"]


def export_optimum(model, path, check=True):
    cfg = model.cfg
    b, s, p = 2, 3, 4
    past = []
    for _ in range(cfg.num_layers):
        past += [torch.randn(b, cfg.num_kv_heads, p, cfg.head_dim), torch.randn(b, cfg.num_kv_heads, p, cfg.head_dim)]
    args = (torch.randint(0, cfg.vocab_size, (b, s)), torch.ones(b, p + s, dtype=torch.int64),
            torch.arange(p, p + s).unsqueeze(0).expand(b, s).contiguous(), *past)
    past_names = [f"past_key_values.{i}.{kv}" for i in range(cfg.num_layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(cfg.num_layers) for kv in ("key", "value")]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    axes.update({n: {0: "batch_size", 2: "past_sequence_length"} for n in past_names})
    axes.update({n: {0: "batch_size", 2: "past_sequence_length + 1"} for n in present_names})
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(OnnxDecoder(model).eval(), args, path, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names], dynamic_axes=axes,
                          # Folding would store a tied embedding twice (once transposed for the head).
                          do_constant_folding=False, **legacy)
    if check:
        onnx.checker.check_model(onnx.load(path))


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def reference(preset, model, tokenizer, base_vocab, new_tokens):
    stops = [tokenizer.specials[e] for e in preset.eos]
    refs = []
    for messages in REFERENCE_CONVERSATIONS:
        prompt = family_presets.render(preset, messages, add_generation_prompt=True)
        ids = tokenizer.encode(prompt)
        tokens, logits = greedy(model, ids, new_tokens)
        turn, _ = greedy(model, ids, 64, stop_ids=stops)
        refs.append({"messages": messages, "prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens,
                     "greedy_text": tokenizer.decode(tokens), "turn_ids": turn,
                     "turn_text": tokenizer.decode(turn), "turn_ended": bool(turn) and turn[-1] in stops,
                     "last_logits": [float(f"{v:.7g}") for v in logits.tolist()]})
    cases = []
    for messages, generation in TEMPLATE_CASES:
        text = family_presets.render(preset, messages, generation)
        cases.append({"messages": messages, "add_generation_prompt": generation, "text": text,
                      "ids": tokenizer.encode(text)})
    return {"family": preset.name, "model_type": preset.model_type, "template": preset.engine_template,
            "end_of_turn_ids": stops, "greedy_new_tokens": new_tokens, "logits_tolerance": 1e-4,
            "references": refs, "template_cases": cases}


def export(checkpoint, out_dir, cl100k, new_tokens=32):
    preset, model, summary = load(checkpoint)
    cfg, base = model.cfg, summary["base_vocab"]
    tokenizer = family_presets.FamilyTokenizer(preset, cl100k, base)
    sizes = {}
    for layout in ("optimum", "gqa"):
        folder = os.path.join(out_dir, layout)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        tokenizer.write(folder)
        if layout == "optimum":
            export_optimum(model, os.path.join(folder, "model.onnx"))
            write_json(os.path.join(folder, "config.json"), family_presets.config_json(preset, cfg, base))
            write_json(os.path.join(folder, "generation_config.json"), family_presets.generation_config_json(preset, base))
        else:
            genai_graph.write(model, folder)
            write_json(os.path.join(folder, "genai_config.json"), family_presets.genai_config_json(preset, cfg, base))
        sizes[layout] = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    ref = reference(preset, model, tokenizer, base, new_tokens)
    ref["training"] = summary
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False)
    return preset, ref, sizes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--cl100k", default="work/cl100k_base.tiktoken")
    p.add_argument("--reference-tokens", type=int, default=32)
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    preset, ref, sizes = export(args.checkpoint, args.out_dir, args.cl100k, args.reference_tokens)
    for layout, size in sizes.items():
        print(f"{preset.name}/{layout}: {size / 2**20:.2f} MiB")
    for r in ref["references"]:
        print(f"{len(r['prompt_ids'])} tokens -> {r['greedy_text']!r} | turn ended: {r['turn_ended']}")


if __name__ == "__main__":
    main()
