"""genolm DNA language models: one backbone (CNN, Transformer or hybrid) under thin task heads.

This file is self-contained (only torch + transformers) on purpose: `save_pretrained` copies it into
every saved model folder, so `AutoModel...from_pretrained(DIR, trust_remote_code=True)` works
anywhere transformers is installed, without genolm.

Backbones
- ``cnn``: dilated residual 1-D convolutions (receptive field grows 2x per layer).
- ``transformer``: pre-LN Transformer with rotary position embeddings and fused attention
  (``torch.nn.functional.scaled_dot_product_attention``; no mask at all when a batch has no padding,
  so the fastest kernel is used).
- ``hybrid``: a convolutional stem (local motifs) followed by Transformer blocks (long range).
Causal objectives (``clm``) use causal convolutions and causal attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ModelOutput

ARCHS = ("cnn", "transformer", "hybrid")


class GenolmConfig(PretrainedConfig):
    model_type = "genolm"

    def __init__(
        self,
        vocab_size: int = 16,
        arch: str = "hybrid",
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        intermediate_size: Optional[int] = None,
        conv_layers: int = 2,
        conv_kernel: int = 9,
        dropout: float = 0.1,
        causal: bool = False,
        pooling: str = "mean",
        pool_bins: int = 8,
        rope_theta: float = 10000.0,
        pad_token_id: int = 0,
        classifier_dropout: float = 0.1,
        attention_dropout: float = 0.0,
        **kwargs,
    ):
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        self.vocab_size = vocab_size
        self.arch = arch
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size or 4 * hidden_size
        self.conv_layers = conv_layers
        self.conv_kernel = conv_kernel
        self.dropout = dropout
        self.causal = causal
        self.pooling = pooling  # mean | max | cls | bins (position-aware: mean over pool_bins equal segments)
        self.pool_bins = pool_bins
        self.rope_theta = rope_theta
        self.classifier_dropout = classifier_dropout
        # no dropout on attention weights by default: lets SDPA use its fused kernel in training too
        self.attention_dropout = attention_dropout
        super().__init__(pad_token_id=pad_token_id, **kwargs)  # type: ignore[call-arg]  # PretrainedConfig takes it


@dataclass
class GenolmOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    last_hidden_state: Optional[torch.Tensor] = None
    hidden_states: Optional[tuple] = None
    pooled: Optional[torch.Tensor] = None


class ConvBlock(nn.Module):
    """Residual dilated conv block; channels-last in/out; causal padding for causal models."""

    def __init__(self, dim: int, kernel: int, dilation: int, dropout: float, causal: bool):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.causal = causal
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(dim, dim, kernel, dilation=dilation)
        self.proj = nn.Linear(dim, dim)
        self.act = nn.GELU()  # a module, not F.gelu: DeepLIFT (captum/tangermeme) has rules for modules only
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: Optional[torch.Tensor]) -> torch.Tensor:
        h = self.norm(x)
        if keep is not None:  # padding must not leak into real positions
            h = h * keep
        h = h.transpose(1, 2)
        if self.causal:
            h = F.pad(h, (self.pad, 0))
        else:
            h = F.pad(h, (self.pad // 2, self.pad - self.pad // 2))
        h = self.act(self.conv(h)).transpose(1, 2)
        return x + self.drop(self.proj(h))


_ROPE_CACHE: dict = {}


def _rope_cache(seq_len: int, dim: int, theta: float, device, dtype):
    """Rotary position factors exp(i * pos * freq) as a complex (seq_len, dim/2) table, cached."""
    key = (seq_len, dim, theta, str(device))
    hit = _ROPE_CACHE.get(key)
    if hit is None:
        inv = 1.0 / (theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
        freqs = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv)
        hit = torch.polar(torch.ones_like(freqs), freqs)
        if len(_ROPE_CACHE) > 64:
            _ROPE_CACHE.clear()
        _ROPE_CACHE[key] = hit
    return hit


def _apply_rope(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2j, 2j+1) of ``x`` (..., n, dh) by position: one complex multiply."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * rot).flatten(-2).to(x.dtype)


class TransformerBlock(nn.Module):
    def __init__(self, cfg: GenolmConfig):
        super().__init__()
        d, h = cfg.hidden_size, cfg.num_heads
        if d % h:
            raise ValueError("hidden_size must be divisible by num_heads")
        self.h, self.dh = h, d // h
        self.causal = cfg.causal
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.p = cfg.attention_dropout

    def forward(self, x, rope, attn_mask):
        b, n, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, n, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        qk = _apply_rope(qkv[:2], rope)  # q and k rotated together in one kernel
        q, k, v = qk[0], qk[1], qkv[2]
        a = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.p if self.training else 0.0,
            is_causal=self.causal and attn_mask is None,
        )
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))


class GenolmPreTrainedModel(PreTrainedModel):
    config_class = GenolmConfig
    base_model_prefix = "genolm"
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class GenolmModel(GenolmPreTrainedModel):
    """The backbone: token ids -> contextual embeddings (batch, length, hidden)."""

    def __init__(self, config: GenolmConfig):
        super().__init__(config)
        d = config.hidden_size
        self.embeddings = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        n_conv = config.num_layers if config.arch == "cnn" else (config.conv_layers if config.arch == "hybrid" else 0)
        n_attn = 0 if config.arch == "cnn" else config.num_layers
        self.convs = nn.ModuleList(
            ConvBlock(d, config.conv_kernel, 2 ** (i % 6) if config.arch == "cnn" else 1, config.dropout, config.causal)
            for i in range(n_conv)
        )
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(n_attn))
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        output_hidden_states: bool = False,
        inputs_embeds: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> GenolmOutput:
        # inputs_embeds: (batch, length, hidden) instead of token ids (attributions take gradients through it)
        x = self.drop(self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds)
        keep = None
        attn_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            keep = attention_mask[..., None].to(x.dtype)
            # boolean mask: True = may attend. Keys only; causal part is added when needed.
            key_ok = attention_mask.bool()[:, None, None, :]
            if self.config.causal:
                n = x.shape[1]
                causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
                attn_mask = key_ok & causal
            else:
                attn_mask = key_ok
        hidden = [x] if output_hidden_states else None
        for conv in self.convs:
            x = conv(x, keep)
            if hidden is not None:
                hidden.append(x)
        if self.blocks:
            rope = _rope_cache(
                x.shape[1], self.config.hidden_size // self.config.num_heads, self.config.rope_theta, x.device, x.dtype
            )
            for blk in self.blocks:
                x = blk(x, rope, attn_mask)
                if hidden is not None:
                    hidden.append(x)
        x = self.norm(x)
        return GenolmOutput(last_hidden_state=x, hidden_states=tuple(hidden) if hidden else None)


def pool(
    hidden: torch.Tensor, attention_mask: Optional[torch.Tensor], how: str = "mean", bins: int = 8
) -> torch.Tensor:
    """(batch, length, d) -> (batch, d) ('mean' over real tokens, 'cls' first token, 'max') or
    (batch, bins * d) for 'bins': the mean of each of ``bins`` equal segments of the real sequence, so the head
    sees *where* a feature occurs (core promoters and TF sites are position-aligned); any length works."""
    if how == "bins":
        b, n, _ = hidden.shape
        lengths = (
            attention_mask.sum(1) if attention_mask is not None else torch.full((b,), n, device=hidden.device)
        ).to(hidden.dtype)
        pos = torch.arange(n, device=hidden.device, dtype=hidden.dtype)
        idx = (pos[None, :] * bins / lengths[:, None]).floor().clamp(max=bins - 1).long()
        w = F.one_hot(idx, bins).to(hidden.dtype)
        if attention_mask is not None:
            w = w * attention_mask[..., None].to(hidden.dtype)
        seg = torch.einsum("bnk,bnd->bkd", w, hidden) / w.sum(1)[..., None].clamp(min=1)
        return seg.flatten(1)
    if how == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(1) if how == "mean" else hidden.max(1).values
    m = attention_mask[..., None].to(hidden.dtype)
    if how == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(1).values
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


class _LMHead(nn.Module):
    def __init__(self, d: int, vocab: int):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.decoder = nn.Linear(d, vocab)

    def forward(self, x):
        return self.decoder(self.norm(F.gelu(self.dense(x))))


class GenolmForMaskedLM(GenolmPreTrainedModel):
    """Masked LM: labels are token ids at masked positions and -100 elsewhere."""

    def __init__(self, config: GenolmConfig):
        super().__init__(config)
        self.genolm = GenolmModel(config)
        self.lm_head = _LMHead(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(
        self, input_ids=None, attention_mask=None, labels=None, output_hidden_states=False, inputs_embeds=None, **kwargs
    ):
        out = self.genolm(
            input_ids, attention_mask, output_hidden_states=output_hidden_states, inputs_embeds=inputs_embeds
        )
        if labels is not None:
            sel = labels != -100  # only score masked positions: saves the vocab projection elsewhere
            logits_sel = self.lm_head(out.last_hidden_state[sel])
            loss = F.cross_entropy(logits_sel.float(), labels[sel])
            logits = None
        else:
            loss, logits = None, self.lm_head(out.last_hidden_state)
        return GenolmOutput(
            loss=loss, logits=logits, last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states
        )


class GenolmForCausalLM(GenolmPreTrainedModel):
    """Causal LM: predicts token t+1 from tokens <= t. labels = input_ids (shifted inside)."""

    def __init__(self, config: GenolmConfig):
        config.causal = True
        super().__init__(config)
        self.genolm = GenolmModel(config)
        self.lm_head = _LMHead(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(
        self, input_ids=None, attention_mask=None, labels=None, output_hidden_states=False, inputs_embeds=None, **kwargs
    ):
        out = self.genolm(
            input_ids, attention_mask, output_hidden_states=output_hidden_states, inputs_embeds=inputs_embeds
        )
        logits = self.lm_head(out.last_hidden_state)
        loss = None
        if labels is not None:
            shift = labels[:, 1:].clone()
            if attention_mask is not None:
                shift[attention_mask[:, 1:] == 0] = -100
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(), shift.reshape(-1), ignore_index=-100
            )
        return GenolmOutput(
            loss=loss, logits=logits, last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states
        )


class GenolmForSequenceClassification(GenolmPreTrainedModel):
    """Sequence-level classification (num_labels >= 2) or regression (num_labels == 1)."""

    def __init__(self, config: GenolmConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.genolm = GenolmModel(config)
        d = config.hidden_size
        d_in = d * config.pool_bins if config.pooling == "bins" else d
        self.head = nn.Sequential(
            nn.Dropout(config.classifier_dropout),
            nn.Linear(d_in, d),
            nn.GELU(),
            nn.Dropout(config.classifier_dropout),
            nn.Linear(d, config.num_labels or 2),
        )
        self.post_init()

    def forward(
        self, input_ids=None, attention_mask=None, labels=None, output_hidden_states=False, inputs_embeds=None, **kwargs
    ):
        out = self.genolm(
            input_ids, attention_mask, output_hidden_states=output_hidden_states, inputs_embeds=inputs_embeds
        )
        pooled = pool(out.last_hidden_state, attention_mask, self.config.pooling, self.config.pool_bins)
        logits = self.head(pooled)
        loss = None
        if labels is not None:
            if self.num_labels == 1 or self.config.problem_type == "regression":
                loss = F.mse_loss(logits.squeeze(-1).float(), labels.float())
            else:
                loss = F.cross_entropy(logits.float(), labels.long())
        return GenolmOutput(
            loss=loss,
            logits=logits,
            last_hidden_state=out.last_hidden_state,
            hidden_states=out.hidden_states,
            pooled=pooled,
        )


class GenolmForTokenClassification(GenolmPreTrainedModel):
    """Per-token labels (e.g. per-base genome annotation); labels -100 are ignored."""

    def __init__(self, config: GenolmConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.genolm = GenolmModel(config)
        self.head = nn.Sequential(
            nn.Dropout(config.classifier_dropout), nn.Linear(config.hidden_size, config.num_labels or 2)
        )
        self.post_init()

    def forward(
        self, input_ids=None, attention_mask=None, labels=None, output_hidden_states=False, inputs_embeds=None, **kwargs
    ):
        out = self.genolm(
            input_ids, attention_mask, output_hidden_states=output_hidden_states, inputs_embeds=inputs_embeds
        )
        logits = self.head(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.num_labels).float(), labels.reshape(-1), ignore_index=-100)
        return GenolmOutput(
            loss=loss, logits=logits, last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states
        )
