"""A GPT-2 decoder in plain torch, shaped for the Hugging Face Optimum ONNX decoder layout.

Export signature (one graph, with or without past):
    input_ids [B,S] int64, attention_mask [B,P+S] int64, position_ids [B,S] int64,
    past_key_values.{i}.key/.value [B,H,P,Dh] float32
 -> logits [B,1,V] (last position only), present.{i}.key/.value [B,H,P+S,Dh]
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 50257
    n_positions: int = 2048
    n_layer: int = 6
    n_head: int = 4
    n_embd: int = 128
    layer_norm_epsilon: float = 1e-5

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x, allowed, past_k=None, past_v=None):
        b, s, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q = q.view(b, s, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, s, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, s, self.n_head, self.head_dim).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        # The dtype's minimum, never -inf: a fully masked (left-padding) row then softmaxes to a uniform
        # distribution instead of NaN.
        masked = torch.full((), torch.finfo(scores.dtype).min, dtype=scores.dtype)
        scores = torch.where(allowed, scores, masked)
        probs = torch.softmax(scores, dim=-1)
        y = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        return self.c_proj(y), k, v


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x, allowed, past_k=None, past_v=None):
        a, k, v = self.attn(self.ln_1(x), allowed, past_k, past_v)
        x = x + a
        x = x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, k, v


class GPT2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def hidden(self, input_ids, position_ids, allowed, past=None):
        x = self.wte(input_ids) + self.wpe(position_ids)
        presents = []
        for i, block in enumerate(self.h):
            pk, pv = (past[2 * i], past[2 * i + 1]) if past is not None else (None, None)
            x, k, v = block(x, allowed, pk, pv)
            presents += [k, v]
        return self.ln_f(x), presents

    def logits(self, h):
        # Tied embedding: the output projection is wte itself, stored once.
        return F.linear(h, self.wte.weight)

    def forward_train(self, input_ids, pos=None):
        """Training forward over packed sequences: causal attention; positions 0..S-1 unless given."""
        b, s = input_ids.shape
        if pos is None:
            pos = torch.arange(s, device=input_ids.device).unsqueeze(0).expand(b, s)
        allowed = torch.ones(s, s, dtype=torch.bool, device=input_ids.device).tril().view(1, 1, s, s)
        h, _ = self.hidden(input_ids, pos, allowed)
        return self.logits(h)


def attention_allowed(attention_mask, seq_len):
    """[B,1,S,P+S] bool: key j is visible to query i when j <= P+i and attention_mask[b,j] == 1."""
    total = attention_mask.shape[1]
    past_len = total - seq_len
    q = torch.arange(seq_len, device=attention_mask.device).view(seq_len, 1) + past_len
    k = torch.arange(total, device=attention_mask.device).view(1, total)
    causal = (k <= q).view(1, 1, seq_len, total)
    return causal & (attention_mask.view(attention_mask.shape[0], 1, 1, total) > 0)


class OnnxDecoder(nn.Module):
    """The Optimum-layout wrapper that torch.onnx.export traces."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        allowed = attention_allowed(attention_mask, input_ids.shape[1])
        h, presents = self.model.hidden(input_ids, position_ids, allowed, list(past))
        logits = self.model.logits(h[:, -1:, :])
        return (logits, *presents)
