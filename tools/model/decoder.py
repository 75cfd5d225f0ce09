"""One decoder in plain torch with the features that tell Llama, Qwen2 and GLM-4 apart, switchable by Config:

- rotary position embeddings over all of a head (Llama, Qwen2) or its first part (GLM-4: half), in halves
  ("rotate_half", Llama and Qwen2) or in interleaved pairs (GLM-4), from cos/sin tables [positions, rotary/2];
- RMSNorm or LayerNorm;
- SwiGLU or GELU (tanh) MLP;
- grouped KV heads (num_kv_heads < num_heads; query head h reads KV head h // (num_heads / num_kv_heads));
- a bias on the Q, K and V projections (Qwen2, GLM-4) or none (Llama);
- an output head tied to the embedding or its own.

The Optimum wrapper (OnnxDecoder) has Optimum's decoder signature, logits for every position as Optimum exports them:
    input_ids [B,S] int64, attention_mask [B,P+S] int64, position_ids [B,S] int64,
    past_key_values.{i}.key/.value [B,KV,P,Dh] float32
 -> logits [B,S,V], present.{i}.key/.value [B,KV,P+S,Dh]
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 16
    intermediate_size: int = 176
    max_positions: int = 2048
    norm: str = "rms"  # "rms" | "layer"
    norm_eps: float = 1e-5
    mlp: str = "swiglu"  # "swiglu" | "gelu"
    rotary_dim: int = 16  # head_dim: full rotary; less: only the first rotary_dim channels of a head rotate
    rotary_interleaved: bool = False
    rope_theta: float = 10000.0
    qkv_bias: bool = False
    tie_word_embeddings: bool = False

    def __post_init__(self):
        if self.norm not in ("rms", "layer") or self.mlp not in ("swiglu", "gelu"):
            raise ValueError(f"norm {self.norm!r} / mlp {self.mlp!r}")
        if self.num_heads % self.num_kv_heads or self.rotary_dim % 2 or not 0 < self.rotary_dim <= self.head_dim:
            raise ValueError("heads must group evenly and rotary_dim must be even, positive and at most head_dim")

    def to_dict(self):
        return asdict(self)


def rotary_tables(cfg):
    """cos and sin [max_positions, rotary_dim / 2], float32, computed as transformers and the genai builder do
    (inverse frequencies theta^(-2i/rotary_dim), float32 positions): the same bytes serve torch and both graphs."""
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.rotary_dim, 2, dtype=torch.int64).float() / cfg.rotary_dim))
    t = torch.arange(cfg.max_positions, dtype=torch.int64).float()
    freqs = torch.outer(t, inv_freq)
    return freqs.cos(), freqs.sin()


def apply_rotary(x, cos, sin, rotary_dim, interleaved):
    """x [B,H,S,Dh]; cos/sin [B,1,S,rotary/2]. The channels past rotary_dim pass through unchanged."""
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    if interleaved:
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)
    else:
        half = rotary_dim // 2
        x1, x2 = rot[..., :half], rot[..., half:]
        out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return torch.cat((out, rest), dim=-1) if rest.shape[-1] else out


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(cfg):
    return RMSNorm(cfg.hidden_size, cfg.norm_eps) if cfg.norm == "rms" else nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps)


def repeat_kv(x, cfg):
    """[B,KV,T,Dh] -> [B,H,T,Dh], each KV head serving num_heads / num_kv_heads consecutive query heads; expand and
    reshape (as transformers writes it) rather than repeat_interleave, which the ONNX exporter spells poorly."""
    group = cfg.num_heads // cfg.num_kv_heads
    if group == 1:
        return x
    b, kv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, group, t, d).reshape(b, kv * group, t, d)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h, kv, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, kv * d, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, kv * d, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, allowed, past_k=None, past_v=None):
        cfg = self.cfg
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, cfg.num_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        q = apply_rotary(q, cos, sin, cfg.rotary_dim, cfg.rotary_interleaved)
        k = apply_rotary(k, cos, sin, cfg.rotary_dim, cfg.rotary_interleaved)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        kr, vr = repeat_kv(k, cfg), repeat_kv(v, cfg)
        scores = torch.matmul(q, kr.transpose(-1, -2)) / math.sqrt(cfg.head_dim)
        # The dtype's minimum, never -inf: a fully masked (left-padding) row stays finite.
        scores = torch.where(allowed, scores, torch.full((), torch.finfo(scores.dtype).min, dtype=scores.dtype))
        y = torch.matmul(torch.softmax(scores, dim=-1), vr).transpose(1, 2).reshape(b, s, cfg.num_heads * cfg.head_dim)
        return self.o_proj(y), k, v


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.swiglu = cfg.mlp == "swiglu"
        if self.swiglu:
            self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
            self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
            self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        else:
            self.fc_in = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
            self.fc_out = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x):
        if self.swiglu:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.fc_out(F.gelu(self.fc_in(x), approximate="tanh"))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = make_norm(cfg)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = make_norm(cfg)
        self.mlp = Mlp(cfg)

    def forward(self, x, cos, sin, allowed, past_k=None, past_v=None):
        a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, allowed, past_k, past_v)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), k, v


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.num_layers)])
        self.norm = make_norm(cfg)
        self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        cos, sin = rotary_tables(cfg)
        # Buffers, not recomputed per call: the Optimum graph gathers rows of these exact tables by position_ids,
        # and the GroupQueryAttention graph gets them as its cos/sin caches.
        self.register_buffer("cos_cache", cos, persistent=False)
        self.register_buffer("sin_cache", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight", "fc_out.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.num_layers))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def hidden(self, input_ids, position_ids, allowed, past=None):
        x = self.embed_tokens(input_ids)
        cos = self.cos_cache[position_ids].unsqueeze(1)
        sin = self.sin_cache[position_ids].unsqueeze(1)
        presents = []
        for i, layer in enumerate(self.layers):
            pk, pv = (past[2 * i], past[2 * i + 1]) if past else (None, None)
            x, k, v = layer(x, cos, sin, allowed, pk, pv)
            presents += [k, v]
        return self.norm(x), presents

    def head_weight(self):
        return self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def logits(self, h):
        return F.linear(h, self.head_weight())

    def forward_train(self, input_ids):
        b, s = input_ids.shape
        pos = torch.arange(s).unsqueeze(0).expand(b, s)
        allowed = torch.ones(s, s, dtype=torch.bool).tril().view(1, 1, s, s)
        h, _ = self.hidden(input_ids, pos, allowed)
        return self.logits(h)


def attention_allowed(attention_mask, seq_len):
    """[B,1,S,P+S] bool: key j is visible to query i when j <= P+i and attention_mask[b,j] == 1."""
    total = attention_mask.shape[1]
    q = torch.arange(seq_len).view(seq_len, 1) + (total - seq_len)
    k = torch.arange(total).view(1, total)
    return (k <= q).view(1, 1, seq_len, total) & (attention_mask.view(attention_mask.shape[0], 1, 1, total) > 0)


class OnnxDecoder(nn.Module):
    """The Optimum-layout wrapper that torch.onnx.export traces."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        allowed = attention_allowed(attention_mask, input_ids.shape[1])
        h, presents = self.model.hidden(input_ids, position_ids, allowed, list(past))
        return (self.model.logits(h), *presents)


@torch.no_grad()
def step(model, ids, past):
    """One KV-cached forward of batch 1, as both graphs compute it; the last position's logits and the presents."""
    p = past[0].shape[2] if past else 0
    x = torch.tensor([ids], dtype=torch.int64)
    mask = torch.ones(1, p + len(ids), dtype=torch.int64)
    pos = torch.arange(p, p + len(ids)).unsqueeze(0)
    h, presents = model.hidden(x, pos, attention_allowed(mask, len(ids)), past)
    return model.logits(h[:, -1, :])[0], presents


def greedy(model, prompt_ids, max_new, stop_ids=()):
    logits, past = step(model, prompt_ids, None)
    first = logits
    out = []
    for _ in range(max_new):
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        if nxt in stop_ids:
            break
        logits, past = step(model, [nxt], past)
    return out, first
