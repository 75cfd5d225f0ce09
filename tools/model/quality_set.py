"""Writes models/tiny-chat/quality.json: held-out conversations for measuring a variant against the float32 model.

Held out by construction: build_corpus.py draws conversation after conversation from one seeded random stream, and
the training corpus is its first 60,000 (build_corpus.py's --samples default, the corpus train.py read). This script
replays that stream (same seed, same sources) past those 60,000 and takes the conversations that come next, so no
conversation in this file is one the model trained on, and they come from the same distribution as the training
data. (The fortunes and API summaries they quote are drawn from the same pools as the training conversations',
as train.py's 2% validation split's are.) No tokenizer is needed: the .NET side renders and tokenizes the text.

- `prompts`: conversations cut before their last assistant reply (the engine adds `<|assistant|>\\n`); greedy
  agreement decodes `greedy_new_tokens` tokens from each;
- `validation_text`: further conversations rendered with the tiny-chat template one after the other, as the
  training stream is; perplexity is measured teacher-forced over its first `validation_tokens` tokens, in
  windows of `window_tokens`.

Deterministic for a given fortunes package and .NET reference pack (the sources build_corpus.py reads):
    /usr/bin/python3 quality_set.py --out ../../models/tiny-chat/quality.json
"""
import argparse
import json
import random

import build_corpus
import chat_template

TRAINING_SAMPLES = 60000


def held_out(seed, skip):
    fortunes = build_corpus.read_fortunes(build_corpus.FORTUNE_DIR)
    docs = build_corpus.read_api_docs(build_corpus.dotnet_ref_dir())
    rng = random.Random(seed)
    for _ in range(skip):
        build_corpus.conversation(rng, fortunes, docs)
    while True:
        yield build_corpus.conversation(rng, fortunes, docs)["messages"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="../../models/tiny-chat/quality.json")
    p.add_argument("--seed", type=int, default=1234, help="build_corpus.py's seed")
    p.add_argument("--skip", type=int, default=TRAINING_SAMPLES, help="conversations the training corpus holds")
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--greedy-new-tokens", type=int, default=32)
    # ~3.4 characters a token on this text (r50k_base): 20,000 characters are ~6,000 tokens, room for 4,096.
    p.add_argument("--validation-chars", type=int, default=20000)
    p.add_argument("--validation-tokens", type=int, default=4096)
    p.add_argument("--window-tokens", type=int, default=512)
    args = p.parse_args()

    stream = held_out(args.seed, args.skip)
    prompts = []
    for _ in range(args.prompts):
        messages = next(stream)
        prompts.append({"messages": messages[:-1]})  # every conversation ends with an assistant reply
    text = []
    while sum(len(t) for t in text) < args.validation_chars:
        text.append(chat_template.render(next(stream)))
    quality = {
        "source": f"build_corpus.py conversations {args.skip + 1}.. of seed {args.seed} (after the training corpus)",
        "greedy_new_tokens": args.greedy_new_tokens,
        "validation_tokens": args.validation_tokens,
        "window_tokens": args.window_tokens,
        "prompts": prompts,
        "validation_text": "".join(text),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(quality, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(prompts)} prompts, {len(text)} validation conversations ({len(quality['validation_text']):,} characters)"
          f" -> {args.out}")


if __name__ == "__main__":
    main()
