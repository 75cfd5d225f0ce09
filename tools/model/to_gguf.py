"""Converts an exported model folder (models/tiny-chat) to GGUF for llama.cpp: f32, q8_0 and q4_0 files.

- Weights: read by name from the folder's ONNX graph (model.json's onnx_file) and its external data
  (model.weights), with the small protobuf reader below, so that numpy is the only dependency.
- Vocabulary and merges: from the r50k_base rank file that tools/model/DumpRanks writes (the very ranks the .NET
  engine serves with). GGUF's "gpt2" tokenizer wants Hugging Face's form: every token spelt in GPT-2's
  byte-to-unicode alphabet, and the merges in rank order; a tiktoken rank file has no merge list, so each merge
  is recovered by running BPE on the token with only the ranks below its own (that leaves exactly two parts).
- Chat template: a Jinja string rendering what chat_template.py and the .NET TinyChatTemplate render.
- Layout: GGUF v3 as ggml/docs/gguf.md specifies it (header, metadata, tensor infos, 32-byte aligned data),
  written here; gguf_check.py reads the files back with llama.cpp's own gguf-py and checks our q8_0/q4_0 blocks
  byte for byte against its quantizers (bit-exact with ggml's reference ones).

Quantized files quantize every weight matrix (the tied embedding, which is also the output head, included) and
keep norms, biases and the position table in float32, as llama.cpp's convert_hf_to_gguf.py does for q8_0.

    /usr/bin/python3 to_gguf.py --model ../../models/tiny-chat --ranks work/r50k_base.tiktoken --out-dir DIR
writes DIR/tiny-chat.f32.gguf, DIR/tiny-chat.q8_0.gguf and DIR/tiny-chat.q4_0.gguf.
"""
import argparse
import json
import os
import struct

import numpy as np

import bpe
import chat_template

# GGML tensor types and llama.cpp's file types (general.file_type) for each.
GGML_TYPES = {"f32": 0, "q4_0": 2, "q8_0": 8}
FILE_TYPES = {"f32": 0, "q4_0": 2, "q8_0": 7}
BLOCK = 32  # values per q8_0 / q4_0 block
ALIGNMENT = 32
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3

# GGUF metadata value types.
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def _jinja_literal(text):
    return "'" + text.replace("\\", "\\\\").replace("\n", "\\n").replace("'", "\\'") + "'"


# Mirrors TinyChatTemplate.Render: system and user turns end with a newline, every other role renders as an
# assistant turn closed by <|endoftext|>, and the generation prompt is the bare assistant header. Whitespace control
# ({%- -%}) on every tag, so the template's own layout adds nothing to the output.
JINJA_TEMPLATE = (
    "{%- for message in messages -%}"
    f"{{%- if message['role'] == 'system' -%}}{{{{ {_jinja_literal(chat_template.SYSTEM)} + message['content'] + {_jinja_literal(chr(10))} }}}}"
    f"{{%- elif message['role'] == 'user' -%}}{{{{ {_jinja_literal(chat_template.USER)} + message['content'] + {_jinja_literal(chr(10))} }}}}"
    f"{{%- else -%}}{{{{ {_jinja_literal(chat_template.ASSISTANT)} + message['content'] + {_jinja_literal(chat_template.END_OF_TURN)} }}}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    f"{{%- if add_generation_prompt -%}}{{{{ {_jinja_literal(chat_template.ASSISTANT)} }}}}{{%- endif -%}}"
)


# --- ONNX initializers, read without the onnx package -------------------------------------------------------------

def _varint(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, value) of each field of one protobuf message: an int, or a memoryview for bytes fields."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not supported")
        yield field, value


def _initializer(buf, model_dir):
    """One onnx.TensorProto: its name and float32 array (raw_data, float_data or external data)."""
    name, dims, dtype, raw, floats, external = None, [], None, None, [], {}
    for field, value in _fields(buf):
        if field == 1:  # dims: packed, or one varint each
            if isinstance(value, memoryview):
                j = 0
                while j < len(value):
                    dim, j = _varint(value, j)
                    dims.append(dim)
            else:
                dims.append(value)
        elif field == 2:
            dtype = value
        elif field == 4:  # float_data: packed, or one fixed32 each
            floats.append(np.frombuffer(value, dtype="<f4"))
        elif field == 8:
            name = bytes(value).decode("utf-8")
        elif field == 9:
            raw = value
        elif field == 13:
            entry = dict(_fields(value))
            external[bytes(entry[1]).decode()] = bytes(entry[2]).decode()
    if dtype != 1:  # onnx.TensorProto.FLOAT
        return name, None
    count = int(np.prod(dims)) if dims else 1
    if external:
        with open(os.path.join(model_dir, external["location"]), "rb") as f:
            f.seek(int(external.get("offset", 0)))
            data = f.read(int(external.get("length", count * 4)))
        array = np.frombuffer(data, dtype="<f4")
    elif raw is not None:
        array = np.frombuffer(raw, dtype="<f4")
    else:
        array = np.concatenate(floats) if floats else np.zeros(0, np.float32)
    if array.size != count:
        raise ValueError(f"{name}: {array.size} values for dims {dims}")
    return name, array.reshape(dims).astype(np.float32)


def _layer_norm_epsilon(node):
    fields = list(_fields(node))
    if not any(f == 4 and bytes(v) == b"LayerNormalization" for f, v in fields):
        return None
    for f, attribute in fields:
        if f == 5:
            a = dict(_fields(attribute))
            if bytes(a.get(1, b"")) == b"epsilon":
                return struct.unpack("<f", a[2])[0]
    return 1e-5  # ONNX's default


def read_model(model_dir):
    """model.json, the float initializers by name, and the LayerNormalization epsilon of the graph."""
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(model_dir, manifest["onnx_file"]), "rb") as f:
        model = memoryview(f.read())
    graph = next(value for field, value in _fields(model) if field == 7)  # ModelProto.graph
    tensors, epsilon = {}, None
    for field, value in _fields(graph):
        if field == 5:  # GraphProto.initializer
            name, array = _initializer(value, model_dir)
            if array is not None:
                tensors[name] = array
        elif field == 1 and epsilon is None:  # GraphProto.node
            epsilon = _layer_norm_epsilon(value)
    return manifest, tensors, epsilon if epsilon is not None else 1e-5


# --- tokenizer -----------------------------------------------------------------------------------------------------

def byte_alphabet():
    """GPT-2's byte -> printable character map (bytes_to_unicode), the spelling of GGUF "gpt2" tokens."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = dict(zip(printable, printable)), 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return {b: chr(c) for b, c in chars.items()}


def _merge_parts(token, ranks):
    """The two tokens whose merge makes `token`: BPE on its bytes with only the ranks below its own."""
    limit = ranks[token]
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < limit and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} (rank {limit}) is not one merge of lower-ranked tokens")
    return parts


def vocabulary(ranks, special_tokens, vocab_size):
    """tokens, token types and merges in GGUF's gpt2 form, from tiktoken ranks and the manifest's special tokens."""
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError("the ranks are not 0..n-1")
    alphabet = byte_alphabet()
    spell = lambda b: "".join(alphabet[x] for x in b)  # noqa: E731
    by_rank = sorted(ranks, key=ranks.get)
    tokens, types = [spell(t) for t in by_rank], [TOKEN_NORMAL] * len(by_rank)
    for text, token_id in sorted(special_tokens.items(), key=lambda kv: kv[1]):
        if token_id != len(tokens):
            raise ValueError(f"special token {text} is id {token_id}; expected the next id, {len(tokens)}")
        tokens.append(text)
        types.append(TOKEN_CONTROL)
    if len(tokens) != vocab_size:
        raise ValueError(f"{len(tokens)} tokens, the model's vocabulary is {vocab_size}")
    merges = []
    for token in by_rank:
        if len(token) > 1:
            left, right = _merge_parts(token, ranks)
            merges.append(f"{spell(left)} {spell(right)}")
    return tokens, types, merges


# --- tensors and quantization --------------------------------------------------------------------------------------

def gguf_tensors(cfg, onnx):
    """(GGUF name, array) in llama.cpp's GPT-2 naming (src/models/gpt2.cpp). Our Linear weights are [out, in]: in
    numpy order that is GGUF's ne = [in, out], so no transpose (Hugging Face's Conv1D needs one). The embedding is
    tied: with no output.weight llama.cpp uses token_embd as the output head."""
    yield "token_embd.weight", onnx["model.wte.weight"]
    yield "position_embd.weight", onnx["model.wpe.weight"]
    pairs = [("attn_norm", "ln_1"), ("attn_qkv", "attn.c_attn"), ("attn_output", "attn.c_proj"),
             ("ffn_norm", "ln_2"), ("ffn_up", "c_fc"), ("ffn_down", "c_proj")]
    for i in range(cfg["num_layers"]):
        for ours, theirs in pairs:
            for kind in ("weight", "bias"):
                yield f"blk.{i}.{ours}.{kind}", onnx[f"model.h.{i}.{theirs}.{kind}"]
    yield "output_norm.weight", onnx["model.ln_f.weight"]
    yield "output_norm.bias", onnx["model.ln_f.bias"]


def tensor_type(name, array, quant):
    """Weight matrices in the file's type; vectors and the position table (added, never multiplied) in f32."""
    if quant == "f32" or array.ndim != 2 or name == "position_embd.weight":
        return "f32"
    if array.shape[-1] % BLOCK:
        raise ValueError(f"{name}: rows of {array.shape[-1]} do not split into {BLOCK}-value blocks")
    return quant


def _roundf(x):
    """C's roundf (half away from zero), as ggml's quantize_row_q8_0_ref rounds; numpy rounds half to even."""
    a = np.abs(x)
    return np.sign(x) * (np.floor(a) + np.floor(2 * (a - np.floor(a))))


def quantize(array, kind):
    """ggml's reference blocks: q8_0 = fp16 d + 32 int8 (d = max|x| / 127); q4_0 = fp16 d + 16 bytes of 4-bit
    values (d = the largest-magnitude value / -8; value j in the low nibble of byte j, value j + 16 in its high)."""
    blocks = array.reshape(-1, BLOCK).astype(np.float32)
    if kind == "q8_0":
        d = np.abs(blocks).max(axis=1, keepdims=True) / 127
        with np.errstate(divide="ignore"):
            inverse = np.where(d == 0, 0, 1 / d)
        qs = _roundf(blocks * inverse).astype(np.int8).view(np.uint8)
    elif kind == "q4_0":
        peak = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=1, keepdims=True), axis=1)
        d = peak / -8
        with np.errstate(divide="ignore"):
            inverse = np.where(d == 0, 0, 1 / d)
        q = np.trunc(blocks * inverse + np.float32(8.5)).astype(np.uint8).clip(0, 15)
        qs = q[:, :BLOCK // 2] | (q[:, BLOCK // 2:] << np.uint8(4))
    else:
        raise ValueError(kind)
    return np.concatenate([d.astype(np.float16).view(np.uint8), qs], axis=1).tobytes()


def tensor_bytes(array, kind):
    return np.ascontiguousarray(array, dtype="<f4").tobytes() if kind == "f32" else quantize(array, kind)


# --- GGUF writer ---------------------------------------------------------------------------------------------------

def _string(text):
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(kind, value):
    if kind == STRING:
        return _string(value)
    if kind == ARRAY:
        element, items = value
        return struct.pack("<IQ", element, len(items)) + b"".join(_value(element, v) for v in items)
    return struct.pack({UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?"}[kind], value)


def metadata(cfg, epsilon, quant, tokens, types, merges):
    """(key, type, value) in the order llama.cpp's own converter writes them."""
    eos = cfg["eos_token_id"]
    return [
        ("general.architecture", STRING, "gpt2"),
        ("general.name", STRING, cfg["name"]),
        ("general.file_type", UINT32, FILE_TYPES[quant]),
        ("general.quantization_version", UINT32, 2),
        ("gpt2.context_length", UINT32, cfg["context_length"]),
        ("gpt2.embedding_length", UINT32, cfg["hidden_size"]),
        ("gpt2.feed_forward_length", UINT32, 4 * cfg["hidden_size"]),
        ("gpt2.block_count", UINT32, cfg["num_layers"]),
        ("gpt2.attention.head_count", UINT32, cfg["num_attention_heads"]),
        ("gpt2.attention.head_count_kv", UINT32, cfg["num_key_value_heads"]),
        ("gpt2.attention.layer_norm_epsilon", FLOAT32, epsilon),
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.pre", STRING, "gpt-2"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
        ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        # No BOS in our prompts (model.json bos_token_id null); GPT-2's id is set because llama.cpp otherwise
        # defaults a BPE vocabulary's BOS to token 11, and add_bos_token false keeps it out of every prompt.
        ("tokenizer.ggml.bos_token_id", UINT32, cfg["bos_token_id"] if cfg["bos_token_id"] is not None else eos),
        ("tokenizer.ggml.eos_token_id", UINT32, eos),
        ("tokenizer.ggml.padding_token_id", UINT32, cfg.get("pad_token_id", eos)),
        ("tokenizer.ggml.add_bos_token", BOOL, False),
        ("tokenizer.ggml.add_eos_token", BOOL, False),
        ("tokenizer.ggml.eot_id", UINT32, (cfg.get("end_of_turn_token_ids") or [eos])[0]),
        ("tokenizer.chat_template", STRING, JINJA_TEMPLATE),
    ]


def write_gguf(path, kvs, tensors):
    """tensors: (name, numpy shape, ggml type name, bytes)."""
    header = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for key, kind, value in kvs:
        header += [_string(key), struct.pack("<I", kind), _value(kind, value)]
    offset = 0
    for name, shape, kind, data in tensors:
        ne = list(reversed(shape))  # GGUF dims run fastest-varying first
        header += [_string(name), struct.pack("<I", len(ne)), struct.pack(f"<{len(ne)}Q", *ne),
                   struct.pack("<IQ", GGML_TYPES[kind], offset)]
        offset += -(-len(data) // ALIGNMENT) * ALIGNMENT
    head = b"".join(header)
    with open(path, "wb") as f:
        f.write(head + b"\0" * (-len(head) % ALIGNMENT))
        for _, _, _, data in tensors:
            f.write(data + b"\0" * (-len(data) % ALIGNMENT))


def convert(model_dir, ranks_path, out_dir, quants, only=None):
    """Writes out_dir/<name>.<quant>.gguf for each quant; `only` keeps just the named tensors (tests). Returns paths."""
    cfg, onnx, epsilon = read_model(model_dir)
    if cfg["architecture"] != "gpt2":
        raise ValueError(f"{model_dir}: architecture {cfg['architecture']}; this converter writes GPT-2 only")
    tokens, types, merges = vocabulary(bpe.load_ranks(ranks_path), cfg["tokenizer"]["special_tokens"], cfg["vocab_size"])
    named = [(n, a) for n, a in gguf_tensors(cfg, onnx) if only is None or n in only]
    if only is not None and len(named) != len(only):
        raise ValueError(f"unknown tensor names: {sorted(set(only) - {n for n, _ in named})}")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for quant in quants:
        tensors = []
        for name, array in named:
            kind = tensor_type(name, array, quant)
            tensors.append((name, array.shape, kind, tensor_bytes(array, kind)))
        path = os.path.join(out_dir, f"{cfg['name']}.{quant}.gguf")
        write_gguf(path, metadata(cfg, epsilon, quant, tokens, types, merges), tensors)
        paths.append(path)
    return paths


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="../../models/tiny-chat", help="the exported model folder")
    p.add_argument("--ranks", required=True, help="r50k_base rank file (DumpRanks writes it)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--types", default="f32,q8_0,q4_0", help=f"comma-separated, of {', '.join(GGML_TYPES)}")
    p.add_argument("--only", help="comma-separated GGUF tensor names to write (a partial file, for tests)")
    args = p.parse_args()
    quants = [q for q in args.types.split(",") if q]
    unknown = [q for q in quants if q not in GGML_TYPES]
    if unknown:
        p.error(f"unknown types {unknown}")
    only = set(args.only.split(",")) if args.only else None
    for path in convert(args.model, args.ranks, args.out_dir, quants, only):
        print(f"{path}: {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
