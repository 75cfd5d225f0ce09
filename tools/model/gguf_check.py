"""Checks to_gguf.py's files against llama.cpp itself (tools/llamacpp/build.sh --check runs it).

1. llama.cpp's gguf-py (from the same source tree) reads each file back: the metadata, and every tensor equal to
   our weights (f32) or to gguf-py's own quantization of them (q8_0, q4_0), byte for byte.
2. llama-server on each file (--jinja, so the GGUF's chat template is what renders):
   - its tokenizer gives our ids (reference.json's prompt ids, and bpe.py's on more text: the model cards);
   - its chat template renders chat_template.py's prompt for every reference conversation and a few more;
   - its greedy continuation of each reference prompt, fed back one token at a time, matches ours (reference.json's
     greedy ids: torch's, which the .NET tests check ONNX Runtime reproduces), or the first divergence is reported
     with both sides' logits of the two tokens. llama-server reports log-probabilities (the log-softmax of its raw
     logits, n_probs); ours come from a numpy forward of the same weights, itself checked against reference.json's
     logits. The margin between two tokens is the same in logits and in log-probabilities.
The f32 file must agree on tokens and template and diverge, if at all, only where the two tokens are within
--tie-margin of each other in our logits; q8_0 and q4_0 greedy agreement is reported, not required.
Prints a JSON report (and writes it to --json); exits 1 when a required check fails.

    /usr/bin/python3 gguf_check.py --server ../llamacpp/work/build/bin/llama-server --gguf-dir ../llamacpp/work/gguf \\
        --gguf-py ../llamacpp/work/llama.cpp/gguf-py --ranks work/r50k_base.tiktoken
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np

import bpe
import chat_template
import to_gguf

EXTRA_CONVERSATIONS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "line one\nline two"}],
    [{"role": "user", "content": "Quote: 'single' \"double\" {% raw %} {{ braces }} \\ backslash"}],
]


def read_back(gguf_py, paths, cfg, weights):
    """gguf-py's reading of each file: metadata as written, tensors equal to ours or to gguf-py's quantization."""
    sys.path.insert(0, gguf_py)
    import gguf  # noqa: E402 (the bundled source's package, not an installed one)

    qtypes = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}
    source = dict(to_gguf.gguf_tensors(cfg, weights))
    report = {}
    for quant, path in paths.items():
        reader = gguf.GGUFReader(path)
        field = lambda key: reader.fields[key].contents()  # noqa: E731
        problems = []
        expected = {"general.architecture": "gpt2", "gpt2.block_count": cfg["num_layers"],
                    "gpt2.embedding_length": cfg["hidden_size"], "gpt2.context_length": cfg["context_length"],
                    "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
                    "tokenizer.chat_template": to_gguf.JINJA_TEMPLATE, "general.file_type": to_gguf.FILE_TYPES[quant]}
        problems += [f"{k} = {field(k)!r}" for k, v in expected.items() if field(k) != v]
        if len(field("tokenizer.ggml.tokens")) != cfg["vocab_size"]:
            problems.append("vocabulary size")
        names = {t.name for t in reader.tensors}
        if names != set(source):
            problems.append(f"tensor names differ: {sorted(names ^ set(source))[:5]}")
        max_error = {}
        for tensor in reader.tensors:
            array = source[tensor.name]
            kind = to_gguf.tensor_type(tensor.name, array, quant)
            ours = bytes(tensor.data.tobytes())
            theirs = array.astype("<f4").tobytes() if kind == "f32" else gguf.quants.quantize(array, qtypes[kind]).tobytes()
            if ours != theirs:
                problems.append(f"{tensor.name}: bytes differ from gguf-py's {kind}")
            if kind != "f32":
                restored = gguf.quants.dequantize(tensor.data, qtypes[kind]).reshape(array.shape)
                max_error[tensor.name] = float(np.abs(restored - array).max())
        report[quant] = {"tensors": len(reader.tensors), "problems": problems,
                         "max_dequantization_error": max(max_error.values()) if max_error else 0.0}
    return report


# --- our logits: GPT-2 in numpy over the same weights -------------------------------------------------------------

def _layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def our_logits(cfg, w, eps, ids):
    """The last position's logits of `ids` (float32, as the ONNX graph computes them)."""
    n, heads = len(ids), cfg["num_attention_heads"]
    d = cfg["hidden_size"] // heads
    x = w["model.wte.weight"][ids] + w["model.wpe.weight"][np.arange(n)]
    mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
    for i in range(cfg["num_layers"]):
        p = f"model.h.{i}."
        h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"].T + w[p + "attn.c_attn.bias"]
        q, k, v = (qkv[:, j * heads * d:(j + 1) * heads * d].reshape(n, heads, d).transpose(1, 0, 2) for j in range(3))
        scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(d)) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        y = (scores / scores.sum(-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(n, heads * d)
        x = x + y @ w[p + "attn.c_proj.weight"].T + w[p + "attn.c_proj.bias"]
        h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps) @ w[p + "c_fc.weight"].T + w[p + "c_fc.bias"]
        h = 0.5 * h * (1 + np.tanh(np.float32(0.7978845608028654) * (h + np.float32(0.044715) * h ** 3)))
        x = x + h @ w[p + "c_proj.weight"].T + w[p + "c_proj.bias"]
    x = _layer_norm(x, w["model.ln_f.weight"], w["model.ln_f.bias"], eps)
    return x[-1] @ w["model.wte.weight"].T


# --- llama-server ----------------------------------------------------------------------------------------------------

class Server:
    """llama-server on a free port, killed by pid on exit (also on Ctrl-C: the with block's exit runs)."""

    def __init__(self, binary, gguf, threads, log):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(log, "w")
        self.process = subprocess.Popen(
            [binary, "--model", gguf, "--host", "127.0.0.1", "--port", str(self.port), "--jinja", "--ctx-size", "2048",
             "--parallel", "1", "--threads", str(threads), "--threads-batch", str(threads), "--no-webui"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self):
        deadline = time.time() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"llama-server not ready in 120 s; see {self.log.name}")
            time.sleep(0.2)

    def __exit__(self, *exc):
        try:
            os.kill(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log.close()

    def post(self, path, body):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as r:
            return json.loads(r.read())


def check_tokenizer(server, references, texts, tokenizer):
    cases = [(r["prompt"], r["prompt_ids"]) for r in references] + [(t, tokenizer.encode(t)) for t in texts]
    mismatches = []
    tokens = 0
    for text, ids in cases:
        theirs = server.post("/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"]
        tokens += len(ids)
        if theirs != ids:
            at = next((i for i, (a, b) in enumerate(zip(theirs, ids)) if a != b), min(len(theirs), len(ids)))
            mismatches.append({"text": text[:60], "at": at, "ours": ids[at:at + 5], "llama.cpp": theirs[at:at + 5]})
    return {"texts": len(cases), "tokens": tokens, "mismatches": mismatches}


def check_template(server, conversations):
    mismatches = []
    for messages in conversations:
        ours = chat_template.render(messages, add_generation_prompt=True)
        theirs = server.post("/apply-template", {"messages": messages})["prompt"]
        if theirs != ours:
            mismatches.append({"messages": messages, "ours": ours, "llama.cpp": theirs})
    return {"conversations": len(conversations), "mismatches": mismatches}


def greedy(server, cfg, weights, eps, reference, top=8):
    """llama.cpp's argmax fed back one token at a time against reference greedy ids; the first divergence in detail."""
    ids, expected = list(reference["prompt_ids"]), reference["greedy_ids"]
    first_step_gap = None
    for step, want in enumerate(expected):
        reply = server.post("/completion", {"prompt": ids, "n_predict": 1, "n_probs": top, "cache_prompt": True,
                                            "temperature": 0, "top_k": 1})
        candidates = {c["id"]: c["logprob"] for c in reply["completion_probabilities"][0]["top_logprobs"]}
        got = max(candidates, key=candidates.get)
        if step == 0:
            ours = our_logits(cfg, weights, eps, ids)
            ours = ours - np.log(np.exp(ours - ours.max()).sum()) - ours.max()
            first_step_gap = max(abs(float(ours[t]) - lp) for t, lp in candidates.items())
        if got != want:
            ours = our_logits(cfg, weights, eps, ids)
            return {"matched": step, "of": len(expected), "first_step_logprob_gap": first_step_gap, "divergence": {
                "step": step, "ours": want, "llama.cpp": got,
                "our_logits": {str(want): float(ours[want]), str(got): float(ours[got])},
                "our_margin": float(ours[want] - ours[got]),
                "llama.cpp_logprobs": {str(want): candidates.get(want), str(got): candidates[got]},
                "llama.cpp_margin": None if want not in candidates else candidates[got] - candidates[want]}}
        ids.append(got)
    return {"matched": len(expected), "of": len(expected), "first_step_logprob_gap": first_step_gap, "divergence": None}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True)
    p.add_argument("--gguf-dir", required=True)
    p.add_argument("--gguf-py", required=True, help="llama.cpp's gguf-py folder")
    p.add_argument("--ranks", required=True, help="r50k_base rank file (DumpRanks)")
    p.add_argument("--model", default=os.path.join(here, "..", "..", "models", "tiny-chat"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--tie-margin", type=float, default=0.05, help="largest logit margin an f32 divergence may have")
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args()

    cfg, weights, eps = to_gguf.read_model(args.model)
    with open(os.path.join(args.model, "reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    refs = reference["references"]
    paths = {q: os.path.join(args.gguf_dir, f"{cfg['name']}.{q}.gguf") for q in ("f32", "q8_0", "q4_0")}
    report = {"read_back": read_back(args.gguf_py, paths, cfg, weights)}

    # Our numpy forward is "ours" only if it reproduces the reference logits.
    gap = max(float(np.abs(our_logits(cfg, weights, eps, r["prompt_ids"]) - np.array(r["last_logits"])).max()) for r in refs)
    report["numpy_forward_vs_reference_logits"] = gap

    texts = [r["greedy_text"] for r in refs]
    for card in (os.path.join(args.model, "README.md"), os.path.join(here, "README.md")):
        with open(card, encoding="utf-8") as f:
            texts.append(f.read())
    conversations = [r["messages"] for r in refs] + EXTRA_CONVERSATIONS
    tokenizer = bpe.R50kTokenizer(args.ranks)
    for quant, path in paths.items():
        with Server(args.server, path, args.threads, os.path.join(args.gguf_dir, f"check-{quant}.log")) as server:
            section = {"greedy": [greedy(server, cfg, weights, eps, r) for r in refs]}
            if quant == "f32":
                section["tokenizer"] = check_tokenizer(server, refs, texts, tokenizer)
                section["template"] = check_template(server, conversations)
            report[quant] = section

    f32 = report["f32"]
    failures = [f"{q}: {m}" for q, r in report["read_back"].items() for m in r["problems"]]
    failures += [f"tokenizer: {m}" for m in f32["tokenizer"]["mismatches"]]
    failures += [f"template: {m}" for m in f32["template"]["mismatches"]]
    if gap > reference["logits_tolerance"] * 10:
        failures.append(f"the numpy forward is {gap} off the reference logits")
    failures += [f"f32 greedy diverges where our margin is {g['divergence']['our_margin']:.3f}" for g in f32["greedy"]
                 if g["divergence"] and abs(g["divergence"]["our_margin"]) > args.tie_margin]
    report["summary"] = {q: f"{sum(g['matched'] for g in report[q]['greedy'])}/{sum(g['of'] for g in report[q]['greedy'])} greedy tokens equal before the first divergence"
                         for q in paths}
    report["failures"] = failures
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
