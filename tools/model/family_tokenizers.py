"""Tokenizer files in the formats the families ship, made from real vocabularies, and Python references that read them.

Writers:
- `write_tokenizer_json`: a Hugging Face byte-level BPE tokenizer.json (Llama 3, Qwen2, GPT-2 style) from tiktoken
  ranks: the vocabulary in GPT-2's byte-to-unicode spelling, the merges derived from the ranks (each token of rank r
  is what byte-pair encoding its own bytes with the merges below r ends in: exactly two parts), added tokens, the
  normalizer and a Split pre-tokenizer with the regex before a ByteLevel one, as `tokenizers` writes them;
- `write_tiktoken`: a tiktoken ranks file ("base64-token rank" lines), GLM-4's tokenizer.model format.

References (no .NET, no `tokenizers` package: what the .NET loaders are checked against):
- `HfByteLevelBpe` reads a tokenizer.json and encodes as `tokenizers` does: added tokens cut out first, then the
  normalizer, the split regex, byte-level spelling and BPE by merge priority (a whole piece that is in the vocabulary
  is taken as it is when the model says ignore_merges, as Llama 3's does);
- `TiktokenRanks` encodes with ranks, a split regex and special tokens, as tiktoken does.
"""
import base64
import json
import unicodedata

import regex

# The split regexes of the families (tokenizer.json pre_tokenizer.pretokenizers[0].pattern.Regex).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# cl100k_base's, which Llama 3 and GLM-4 use verbatim.
CL100K_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Qwen2's: cl100k's with single digits.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def load_ranks(path):
    """tiktoken ranks: "base64 rank" lines, or the .NET data package's "Capacity: N" then tokens in rank order."""
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].endswith(b":"):
                continue
            ranks[base64.b64decode(parts[0])] = int(parts[1]) if len(parts) == 2 else len(ranks)
    return ranks


def first_ranks(ranks, count):
    """The `count` lowest ranks: a real BPE vocabulary's prefix is a vocabulary (its merges only build on lower
    ranks), renumbered 0..count-1 where the source has gaps."""
    kept = sorted(ranks.items(), key=lambda kv: kv[1])[:count]
    single = [t for t, _ in kept[:256]]
    if sorted(single) != [bytes([b]) for b in range(256)]:
        raise ValueError("the first 256 ranks must be the 256 single bytes")
    return {token: i for i, (token, _) in enumerate(kept)}


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (tokenizers' ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_CHARS = bytes_to_unicode()


def spell(token):
    return "".join(BYTE_CHARS[b] for b in token)


def bpe_ranks(ranks, piece, max_rank=None):
    """tiktoken's byte-pair merge of `piece`: repeatedly join the adjacent pair whose concatenation ranks lowest
    (below max_rank when given)."""
    parts = [bytes([b]) for b in piece]
    while len(parts) > 1:
        best, index = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (max_rank is None or r < max_rank) and (best is None or r < best):
                best, index = r, i
        if best is None:
            break
        parts[index:index + 2] = [parts[index] + parts[index + 1]]
    return parts


def derive_merges(ranks):
    """The merges list in rank order: for each multi-byte token, the two parts BPE ends in below its rank."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = bpe_ranks(ranks, token, max_rank=rank)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) does not come from one merge: {parts}")
        merges.append((parts[0], parts[1]))
    return merges


def added_token(token_id, content):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def write_tokenizer_json(path, ranks, specials, pattern, nfc=False, ignore_merges=False, bos=None):
    """tokenizer.json for byte-level BPE over `ranks` (token bytes -> id) with `specials` (content -> id)."""
    merges = derive_merges(ranks)
    post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    if bos is not None:
        # Llama 3: <|begin_of_text|> before a sequence encoded with add_special_tokens (apply_chat_template's
        # tokenization does not add it: the template writes it).
        bos_id = specials[bos]
        post = {"type": "Sequence", "processors": [post, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}]}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(i, c) for c, i in sorted(specials.items(), key=lambda kv: kv[1])],
        "normalizer": {"type": "NFC"} if nfc else None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": ignore_merges,
                  "vocab": {spell(t): i for t, i in sorted(ranks.items(), key=lambda kv: kv[1])},
                  "merges": [[spell(a), spell(b)] for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    return len(merges)


def write_tiktoken(path, ranks):
    with open(path, "wb") as f:
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            f.write(base64.b64encode(token) + b" " + str(rank).encode() + b"\n")


def split_specials(text, specials):
    """Cuts `text` around the special tokens it contains, leftmost and then longest first; yields (piece, id or None)."""
    if not specials:
        yield text, None
        return
    alternation = regex.compile("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))
    pos = 0
    for m in alternation.finditer(text):
        if m.start() > pos:
            yield text[pos:m.start()], None
        yield m.group(), specials[m.group()]
        pos = m.end()
    if pos < len(text):
        yield text[pos:], None


class HfByteLevelBpe:
    """A tokenizer.json (byte-level BPE) encoded the way Hugging Face `tokenizers` does."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        model = doc["model"]
        self.vocab = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges"))
        self.merge_rank = {tuple(m.split(" ") if isinstance(m, str) else m): i for i, m in enumerate(model["merges"])}
        self.specials = {t["content"]: t["id"] for t in doc.get("added_tokens") or []}
        self.nfc = (doc.get("normalizer") or {}).get("type") == "NFC"
        pre = doc["pre_tokenizer"]
        split = next(p for p in pre["pretokenizers"] if p["type"] == "Split") if pre["type"] == "Sequence" else None
        self.pattern = regex.compile(split["pattern"]["Regex"] if split else GPT2_PATTERN)
        self.decoder = {i: t for t, i in self.vocab.items()}
        self.byte_of = {c: b for b, c in BYTE_CHARS.items()}
        self.cache = {}

    def _bpe(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        cached = self.cache.get(word)
        if cached is not None:
            return cached
        parts = list(word)
        while len(parts) > 1:
            best, index = None, -1
            for i in range(len(parts) - 1):
                r = self.merge_rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, index = r, i
            if best is None:
                break
            parts[index:index + 2] = [parts[index] + parts[index + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece, special in split_specials(text, self.specials):
            if special is not None:
                ids.append(special)
                continue
            if self.nfc:
                piece = unicodedata.normalize("NFC", piece)
            for m in self.pattern.finditer(piece):
                ids.extend(self._bpe(spell(m.group().encode("utf-8"))))
        return ids

    def decode(self, ids):
        inverse = {i: s for s, i in self.specials.items()}
        out = bytearray()
        for i in ids:
            out += inverse[i].encode() if i in inverse else bytes(self.byte_of[c] for c in self.decoder[i])
        return out.decode("utf-8", errors="replace")


class TiktokenRanks:
    """tiktoken's encoding: ranks, a split regex, special tokens matched whole."""

    def __init__(self, ranks, pattern, specials):
        self.ranks = ranks
        self.pattern = regex.compile(pattern)
        self.specials = dict(specials)
        self.decoder = {r: t for t, r in ranks.items()}
        self.cache = {}

    def _piece(self, piece):
        if piece in self.ranks:
            return [self.ranks[piece]]
        cached = self.cache.get(piece)
        if cached is None:
            cached = [self.ranks[p] for p in bpe_ranks(self.ranks, piece)]
            self.cache[piece] = cached
        return cached

    def encode(self, text):
        ids = []
        for piece, special in split_specials(text, self.specials):
            if special is not None:
                ids.append(special)
                continue
            for m in self.pattern.finditer(piece):
                ids.extend(self._piece(m.group().encode("utf-8")))
        return ids

    def decode(self, ids):
        inverse = {i: s for s, i in self.specials.items()}
        out = bytearray()
        for i in ids:
            out += inverse[i].encode() if i in inverse else self.decoder[i]
        return out.decode("utf-8", errors="replace")
