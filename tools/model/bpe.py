"""r50k_base (GPT-2) byte-level BPE, written from the tiktoken rank file.

Kept independent of the .NET tokenizer on purpose: the engine's Microsoft.ML.Tokenizers output is checked
against ids this module produced (models/tiny-chat/reference.json).
"""
import base64

# GPT-2's pre-tokenizer pattern (tiktoken's r50k_base).
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 50256


def load_ranks(ranks_path):
    """Token bytes -> rank (= id) from a tiktoken rank file, as DumpRanks writes it (no special tokens)."""
    ranks = {}
    with open(ranks_path, "rb") as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].endswith(b":"):
                continue  # the .NET data package starts with a "Capacity: N" line
            # tiktoken files say "token rank"; the .NET package lists tokens in rank order.
            rank = int(parts[1]) if len(parts) == 2 else len(ranks)
            ranks[base64.b64decode(parts[0])] = rank
    return ranks


class R50kTokenizer:
    def __init__(self, ranks_path):
        import regex  # only the tokenizer needs it: export.py's export and manifest work without it

        self.ranks = load_ranks(ranks_path)
        self.decoder = {rank: token for token, rank in self.ranks.items()}
        self.pattern = regex.compile(PATTERN)
        self.cache = {}

    @property
    def vocab_size(self):
        return ENDOFTEXT_ID + 1

    def _bpe(self, piece):
        cached = self.cache.get(piece)
        if cached is not None:
            return cached
        parts = [bytes([b]) for b in piece]
        while len(parts) > 1:
            best_rank, best_index = None, -1
            for i in range(len(parts) - 1):
                rank = self.ranks.get(parts[i] + parts[i + 1])
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best_index = rank, i
            if best_rank is None:
                break
            parts[best_index:best_index + 2] = [parts[best_index] + parts[best_index + 1]]
        ids = [self.ranks[p] for p in parts]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        """Encodes text; the literal <|endoftext|> becomes the special token 50256."""
        ids = []
        for i, chunk in enumerate(text.split(ENDOFTEXT)):
            if i > 0:
                ids.append(ENDOFTEXT_ID)
            for match in self.pattern.finditer(chunk):
                ids.extend(self._bpe(match.group().encode("utf-8")))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            out += ENDOFTEXT.encode() if i == ENDOFTEXT_ID else self.decoder[i]
        return out.decode("utf-8", errors="replace")
