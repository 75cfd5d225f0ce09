"""The families: a decoder Config of each one's features (shapes scaled down), its published chat template, its
tokenizer kind and special tokens, and the config files its exporters write (config.json and generation_config.json
as in the checkpoint's repository, which Optimum copies; genai_config.json as onnxruntime-genai's model builder writes
it; tokenizer_config.json as transformers' save_pretrained writes it).

Vocabulary of a fixture: the first `base_vocab` ranks of cl100k_base (a real BPE vocabulary; Llama 3's first 100,000
tokens are cl100k's, and Qwen2's and GLM-4's extend the same kind of vocabulary), then the family's special tokens in
their published order, then unused padding rows, as the real embeddings have.
"""
from dataclasses import dataclass, field

import jinja2
import jinja2.sandbox

import family_tokenizers as ft
from decoder import Config

# Published chat templates (tokenizer_config.json "chat_template"), verbatim.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
# glm-4-9b-chat's, with the body of its tools branch (a long Chinese system prompt that lists the tools, rendered
# only for a message that carries 'tools') left out: the engine serves no tools, and every other path is verbatim.
GLM4_TEMPLATE = (
    "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n{% endif %}"
    "{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
GLM4_SPECIALS = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
                 "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
                 "<|end_of_video|>"]


@dataclass
class Preset:
    name: str
    model_type: str  # config.json model_type; genai_config.json model.type
    architecture: str
    engine_template: str  # the engine's template of that name
    chat_template: str
    tokenizer_kind: str  # "hf-bpe" (tokenizer.json) or "tiktoken" (tokenizer.model + tokenizer_config.json)
    pattern: str
    specials: list
    vocab_rows: int  # embedding rows beyond base_vocab (specials, then padding)
    bos: str | None
    eos: list  # config.json / generation_config.json end-of-turn tokens, in the published order
    pad: str | None
    model: dict = field(default_factory=dict)  # Config overrides
    nfc: bool = False
    ignore_merges: bool = False

    def config(self, base_vocab, **overrides):
        return Config(vocab_size=base_vocab + self.vocab_rows, **{**self.model, **overrides})

    def special_ids(self, base_vocab):
        return {s: base_vocab + i for i, s in enumerate(self.specials)}


PRESETS = {
    # Llama 3 (8B's features: untied head, 8 KV heads of 32 -> 2 of 4 here, rope theta 500,000, no biases).
    "llama": Preset(
        name="llama", model_type="llama", architecture="LlamaForCausalLM", engine_template="llama3",
        chat_template=LLAMA3_TEMPLATE, tokenizer_kind="hf-bpe", pattern=ft.CL100K_PATTERN, specials=LLAMA3_SPECIALS,
        vocab_rows=16, bos="<|begin_of_text|>", eos=["<|end_of_text|>", "<|eot_id|>"], pad=None, ignore_merges=True,
        model=dict(num_heads=4, num_kv_heads=2, head_dim=16, rotary_dim=16, intermediate_size=176,
                   rope_theta=500000.0, norm="rms", norm_eps=1e-5, mlp="swiglu", qkv_bias=False,
                   tie_word_embeddings=False)),
    # Qwen2 (0.5B's features: QKV bias, tied head, 2 KV heads of 14 -> 1 of 4 here, rope theta 1,000,000).
    "qwen2": Preset(
        name="qwen2", model_type="qwen2", architecture="Qwen2ForCausalLM", engine_template="chatml",
        chat_template=QWEN2_TEMPLATE, tokenizer_kind="hf-bpe", pattern=ft.QWEN2_PATTERN, specials=QWEN2_SPECIALS,
        vocab_rows=64, bos=None, eos=["<|im_end|>", "<|endoftext|>"], pad="<|endoftext|>", nfc=True,
        model=dict(num_heads=4, num_kv_heads=1, head_dim=16, rotary_dim=16, intermediate_size=176,
                   rope_theta=1000000.0, norm="rms", norm_eps=1e-6, mlp="swiglu", qkv_bias=True,
                   tie_word_embeddings=True)),
    # GLM-4 (9B's features: rotary over the first half of each head in interleaved pairs, QKV bias, untied head,
    # 2 KV groups of 32 heads -> 1 of 2 here; head_dim 32 because GroupQueryAttention needs the rotary half of it to
    # be a multiple of 8 channels... of cos/sin, i.e. rotary_dim 16).
    "glm4": Preset(
        name="glm4", model_type="chatglm", architecture="ChatGLMModel", engine_template="glm4",
        chat_template=GLM4_TEMPLATE, tokenizer_kind="tiktoken", pattern=ft.CL100K_PATTERN, specials=GLM4_SPECIALS,
        vocab_rows=64, bos=None, eos=["<|endoftext|>", "<|user|>", "<|observation|>"], pad="<|endoftext|>",
        model=dict(num_heads=2, num_kv_heads=1, head_dim=32, rotary_dim=16, rotary_interleaved=True,
                   intermediate_size=176, rope_theta=10000.0, norm="rms", norm_eps=1.5625e-07, mlp="swiglu",
                   qkv_bias=True, tie_word_embeddings=False)),
}


def render(preset, messages, add_generation_prompt):
    """The published template through Jinja, as transformers' apply_chat_template runs it."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(preset.chat_template)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                           bos_token=preset.bos or "", eos_token=preset.eos[0])


def config_json(preset, cfg, base_vocab):
    """config.json as the family's checkpoint repository has it (transformers' names; ChatGLM's remote-code ones)."""
    ids = preset.special_ids(base_vocab)
    eos = [ids[e] for e in preset.eos]
    if preset.model_type == "chatglm":
        return {
            "_name_or_path": "glm4-fixture", "model_type": "chatglm", "architectures": [preset.architecture],
            "add_bias_linear": False, "add_qkv_bias": cfg.qkv_bias, "apply_query_key_layer_scaling": True,
            "apply_residual_connection_post_layernorm": False, "attention_dropout": 0.0,
            "attention_softmax_in_fp32": True, "bias_dropout_fusion": True, "ffn_hidden_size": cfg.intermediate_size,
            "fp32_residual_connection": False, "hidden_dropout": 0.0, "hidden_size": cfg.hidden_size,
            "kv_channels": cfg.head_dim, "layernorm_epsilon": cfg.norm_eps, "multi_query_attention": True,
            "multi_query_group_num": cfg.num_kv_heads, "num_attention_heads": cfg.num_heads,
            "num_hidden_layers": cfg.num_layers, "num_layers": cfg.num_layers, "original_rope": True,
            "padded_vocab_size": cfg.vocab_size, "post_layer_norm": True, "rmsnorm": cfg.norm == "rms",
            "rope_ratio": cfg.rope_theta / 10000.0, "seq_length": cfg.max_positions,
            "tie_word_embeddings": cfg.tie_word_embeddings, "torch_dtype": "float32", "use_cache": True,
            "eos_token_id": eos, "pad_token_id": ids[preset.pad]}
    config = {
        "architectures": [preset.architecture], "model_type": preset.model_type, "attention_dropout": 0.0,
        "hidden_act": "silu", "hidden_size": cfg.hidden_size, "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size, "max_position_embeddings": cfg.max_positions,
        "num_attention_heads": cfg.num_heads, "num_hidden_layers": cfg.num_layers,
        "num_key_value_heads": cfg.num_kv_heads, "rms_norm_eps": cfg.norm_eps, "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": cfg.tie_word_embeddings, "torch_dtype": "float32", "use_cache": True,
        "vocab_size": cfg.vocab_size}
    if preset.model_type == "llama":
        config.update({"attention_bias": False, "mlp_bias": False, "head_dim": cfg.head_dim, "pretraining_tp": 1,
                       "rope_scaling": None, "bos_token_id": ids[preset.bos], "eos_token_id": ids["<|eot_id|>"]})
    else:
        config.update({"bos_token_id": ids[preset.pad], "eos_token_id": eos[0], "max_window_layers": cfg.num_layers,
                       "sliding_window": cfg.max_positions, "use_sliding_window": False})
    return dict(sorted(config.items()))


def generation_config_json(preset, base_vocab):
    ids = preset.special_ids(base_vocab)
    out = {"eos_token_id": [ids[e] for e in preset.eos], "do_sample": False, "transformers_version": "4.45.0"}
    if preset.bos:
        out["bos_token_id"] = ids[preset.bos]
    if preset.pad:
        out["pad_token_id"] = ids[preset.pad]
    return out


def tokenizer_config_json(preset, base_vocab):
    ids = preset.special_ids(base_vocab)
    out = {
        "added_tokens_decoder": {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for s, i in ids.items()},
        "chat_template": preset.chat_template, "clean_up_tokenization_spaces": False,
        "eos_token": preset.eos[0], "model_max_length": 2048, "pad_token": preset.pad,
        "bos_token": preset.bos,
    }
    if preset.tokenizer_kind == "tiktoken":
        # ChatGLM4Tokenizer (remote code) reads tokenizer.model as tiktoken ranks with cl100k's split regex.
        out.update({"tokenizer_class": "ChatGLM4Tokenizer", "auto_map": {
            "AutoTokenizer": ["tokenization_chatglm.ChatGLM4Tokenizer", None]}, "padding_side": "left",
            "remove_space": False, "do_lower_case": False})
    else:
        out["tokenizer_class"] = "PreTrainedTokenizerFast"
    return out


def genai_config_json(preset, cfg, base_vocab, filename="model.onnx"):
    """genai_config.json as the model builder writes it for the CPU provider, with GroupQueryAttention doing the
    rotary (no position_ids input), past_present_share_buffer on."""
    ids = preset.special_ids(base_vocab)
    eos = [ids[e] for e in preset.eos]
    return {
        "model": {
            "bos_token_id": ids[preset.bos] if preset.bos else 1,
            "context_length": cfg.max_positions,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": filename, "head_size": cfg.head_dim, "hidden_size": cfg.hidden_size,
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"},
                "num_attention_heads": cfg.num_heads, "num_hidden_layers": cfg.num_layers,
                "num_key_value_heads": cfg.num_kv_heads},
            "eos_token_id": eos if len(eos) > 1 else eos[0],
            "pad_token_id": ids[preset.pad] if preset.pad else eos[0],
            "type": preset.model_type,
            "vocab_size": cfg.vocab_size},
        "search": {"diversity_penalty": 0.0, "do_sample": False, "early_stopping": True, "length_penalty": 1.0,
                   "max_length": cfg.max_positions, "min_length": 0, "no_repeat_ngram_size": 0, "num_beams": 1,
                   "num_return_sequences": 1, "past_present_share_buffer": True, "repetition_penalty": 1.0,
                   "temperature": 1.0, "top_k": 1, "top_p": 1.0},
    }


class FamilyTokenizer:
    """A fixture's vocabulary: the ranks and specials, the files that ship them, and the Python reference."""

    def __init__(self, preset, cl100k_path, base_vocab):
        self.preset = preset
        self.base_vocab = base_vocab
        self.ranks = ft.first_ranks(ft.load_ranks(cl100k_path), base_vocab)
        self.specials = preset.special_ids(base_vocab)
        self.reference = None

    def write(self, folder):
        """The tokenizer files of the family's exports into `folder`; returns their names."""
        import json
        import os
        p = self.preset
        if p.tokenizer_kind == "hf-bpe":
            path = os.path.join(folder, "tokenizer.json")
            ft.write_tokenizer_json(path, self.ranks, self.specials, p.pattern, nfc=p.nfc,
                                    ignore_merges=p.ignore_merges, bos=p.bos)
            self.reference = ft.HfByteLevelBpe(path)
            names = ["tokenizer.json"]
        else:
            ft.write_tiktoken(os.path.join(folder, "tokenizer.model"), self.ranks)
            self.reference = ft.TiktokenRanks(self.ranks, p.pattern, self.specials)
            names = ["tokenizer.model"]
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_config_json(p, self.base_vocab), f, indent=2, ensure_ascii=False)
            f.write("\n")
        return names + ["tokenizer_config.json"]

    def encode(self, text):
        if self.reference is None:
            raise RuntimeError("write() the tokenizer files first: the reference reads them")
        return self.reference.encode(text)

    def decode(self, ids):
        return self.reference.decode(ids)
