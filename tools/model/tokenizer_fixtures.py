"""Tokenizer files of real size, made here, and the ids the Python library that reads each one gives for a multilingual
sample: the .NET loaders are checked against those ids (tests/.../Tokenization/RealSizeTokenizerTests.cs).

    <out>/sample.json                     multilingual lines: English from the corpus, German, Spanish and Russian
                                         fortunes, Chinese poems (fortunes-zh), and hand-written edge cases
    <out>/r50k-bpe/tokenizer.json        byte-level BPE from r50k_base's 50,256 ranks (merges derived from the ranks),
                                         <|endoftext|> and two ChatML tokens added, GPT-2's regex in a Split
    <out>/llama2-sp/tokenizer.model      SentencePiece BPE, 32,000 pieces, trained here with Llama 2's trainer options
                                         (byte fallback, digits split, identity normalization, dummy prefix)
    <out>/glm4-tiktoken/tokenizer.model  tiktoken ranks (cl100k_base's 100,256) and tokenizer_config.json with GLM-4's
                                         special tokens at their ids (151329..151342)
    <out>/expected.json                  per tokenizer, the ids of every sample line

References: sentencepiece itself for the .model; for tokenizer.json, family_tokenizers.HfByteLevelBpe (Hugging Face's
algorithm over the file: merges by priority), checked here against tiktoken's algorithm over the ranks the file was
derived from; for the ranks file, family_tokenizers.TiktokenRanks.

Needs python3-sentencepiece, python3-regex and the fortunes, fortunes-de, fortunes-es, fortunes-ru and fortunes-zh
packages.

    /usr/bin/python3 tokenizer_fixtures.py --out ../../tests/fixtures/tokenizers
"""
import argparse
import glob
import json
import os
import re

import sentencepiece as spm

import family_presets
import family_tokenizers as ft

FORTUNES = "/usr/share/games/fortunes"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
R50K_SPECIALS = {"<|endoftext|>": 50256, "<|im_start|>": 50257, "<|im_end|>": 50258}
GLM4_FIRST_SPECIAL = 151329

EDGE_CASES = [
    "Hello, world! It's 2024-06-01; I'll pay $1,234.56 (or €1.234,56).",
    "    four leading spaces, a tab\tand  double  spaces   ",
    "line one\r\nline two\n\n\nthree newlines\n",
    "camelCaseIdentifier snake_case_name SCREAMING_CASE x86_64 0x7FFF_FFFF",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "日本語のテキスト、カタカナ、ひらがな。",
    "한국어 문장입니다. 안녕하세요!",
    "العربية: مرحبا بالعالم",
    "हिन्दी में एक वाक्य।",
    "Ελληνικά: Καλημέρα κόσμε",
    "Emoji: 👍🏽 🧑‍💻 🇩🇪 ❤️",
    "Combining: e\u0301 vs \u00e9, A\u030a vs \u00c5, ﬁ ligature, ½ fraction",
    "Numbers: 1 12 123 1234 12345 3.14159 1e-10",
    "Contractions: don't, you're, they've, I'm, she'd, we'll, it's, DON'T",
    "Special-looking text: <|endoftext|> <|im_start|>user <s> </s> [gMASK]<sop><|user|>",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "Zürich Straße Ærø naïve café façade",
]


def fortune_entries(path, limit, skip=0):
    with open(path, encoding="utf-8", errors="replace") as f:
        entries = [ANSI.sub("", e).strip() for e in f.read().split("\n%\n")]
    return [e for e in entries if e][skip:skip + limit]


def multilingual_sources():
    """(language, file) pairs in a fixed order."""
    out = []
    for lang in ("de", "es", "ru"):
        out += [(lang, p) for p in sorted(glob.glob(os.path.join(FORTUNES, lang, "*")))
                if not p.endswith((".dat", ".u8")) and os.path.isfile(p) and not os.path.islink(p)]
    out += [("zh", os.path.join(FORTUNES, n + ".u8")) for n in ("tang300", "song100", "chinese")]
    return out


def corpus_text(corpus, conversations):
    with open(corpus, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= conversations:
                break
            for m in json.loads(line)["messages"]:
                yield m["content"]


def sample_lines(corpus):
    lines = [c for i, c in enumerate(corpus_text(corpus, 400)) if i % 40 == 0]
    for lang, path in multilingual_sources():
        # Entries after the ones the SentencePiece model trains on (train_text skips these first 3 per file).
        for entry in fortune_entries(path, 1 if lang != "zh" else 4):
            lines.append(entry.replace("\n", " ").strip() if lang != "zh" else entry)
    return lines + EDGE_CASES


def train_text(path, corpus):
    with open(path, "w", encoding="utf-8") as f:
        for c in corpus_text(corpus, 8000):
            f.write(c + "\n")
        for lang, source in multilingual_sources():
            for entry in fortune_entries(source, 100000, skip=4):
                f.write(entry + "\n")


def train_sentencepiece(text_path, prefix, vocab_size):
    # Llama 2's tokenizer.model trainer_spec, but for threads and corpus size.
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size, character_coverage=0.99995,
        split_by_unicode_script=True, split_by_number=True, split_by_whitespace=True, split_digits=True,
        byte_fallback=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", add_dummy_prefix=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentencepiece_length=16, num_threads=2, shuffle_input_sentence=True, input_sentence_size=2000000,
        seed_sentencepiece_size=1000000, minloglevel=2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="../../tests/fixtures/tokenizers")
    p.add_argument("--corpus", default="work/corpus.jsonl")
    p.add_argument("--r50k", default="work/r50k_base.tiktoken")
    p.add_argument("--cl100k", default="work/cl100k_base.tiktoken")
    p.add_argument("--sp-vocab", type=int, default=32000)
    args = p.parse_args()
    lines = sample_lines(args.corpus)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sample.json"), "w", encoding="utf-8", newline="") as f:
        json.dump(lines, f, ensure_ascii=False, indent=0)
    expected, figures = {}, {}

    # 1. tokenizer.json from r50k_base, checked against tiktoken's algorithm over the same ranks.
    folder = os.path.join(args.out, "r50k-bpe")
    os.makedirs(folder, exist_ok=True)
    r50k = ft.load_ranks(args.r50k)
    ft.write_tokenizer_json(os.path.join(folder, "tokenizer.json"), r50k, R50K_SPECIALS, ft.GPT2_PATTERN)
    hf = ft.HfByteLevelBpe(os.path.join(folder, "tokenizer.json"))
    ranks_ref = ft.TiktokenRanks(r50k, ft.GPT2_PATTERN, R50K_SPECIALS)
    ids = [hf.encode(line) for line in lines]
    same = sum(a == ranks_ref.encode(line) for a, line in zip(ids, lines))
    assert all(hf.decode(i) == line for i, line in zip(ids, lines)), "tokenizer.json does not round-trip"
    expected["r50k-bpe"] = ids
    figures["r50k-bpe"] = f"{same}/{len(lines)} lines equal to tiktoken's encoding over the ranks; {sum(map(len, ids))} tokens"

    # 2. SentencePiece, read back by the sentencepiece library.
    folder = os.path.join(args.out, "llama2-sp")
    os.makedirs(folder, exist_ok=True)
    os.makedirs("work", exist_ok=True)
    train_text("work/sp_train.txt", args.corpus)
    train_sentencepiece("work/sp_train.txt", "work/llama2-sp", args.sp_vocab)
    os.replace("work/llama2-sp.model", os.path.join(folder, "tokenizer.model"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    ids = [sp.encode(line) for line in lines]
    byte_pieces = sum(1 for i in ids for t in i if sp.is_byte(t))
    round_trip = sum(sp.decode(i) == line for i, line in zip(ids, lines))
    expected["llama2-sp"] = ids
    figures["llama2-sp"] = (f"{sp.get_piece_size()} pieces; {sum(map(len, ids))} tokens, {byte_pieces} byte-fallback; "
                            f"{round_trip}/{len(lines)} lines decode back exactly")

    # 3. tiktoken ranks (cl100k_base) with GLM-4's special tokens in tokenizer_config.json.
    folder = os.path.join(args.out, "glm4-tiktoken")
    os.makedirs(folder, exist_ok=True)
    cl100k = ft.first_ranks(ft.load_ranks(args.cl100k), 10**9)
    ft.write_tiktoken(os.path.join(folder, "tokenizer.model"), cl100k)
    glm = family_presets.PRESETS["glm4"]
    specials = {s: GLM4_FIRST_SPECIAL + i for i, s in enumerate(glm.specials)}
    config = family_presets.tokenizer_config_json(glm, GLM4_FIRST_SPECIAL)
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    tk = ft.TiktokenRanks(cl100k, ft.CL100K_PATTERN, specials)
    ids = [tk.encode(line) for line in lines]
    assert all(tk.decode(i) == line for i, line in zip(ids, lines)), "ranks do not round-trip"
    expected["glm4-tiktoken"] = ids
    figures["glm4-tiktoken"] = f"{len(cl100k)} ranks + {len(specials)} specials; {sum(map(len, ids))} tokens"

    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"lines": len(lines), "figures": figures, "ids": expected}, f, separators=(",", ":"))
    for name, figure in figures.items():
        print(f"{name}: {figure}")
    for name in ("r50k-bpe", "llama2-sp", "glm4-tiktoken"):
        folder = os.path.join(args.out, name)
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print(f"{name}: {size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
