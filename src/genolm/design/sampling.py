"""Sampling DNA from language models: autoregressive for causal LMs, iterative Gibbs for masked LMs.

- Causal LMs (``genolm pretrain --objective clm``, or a local Hugging Face causal LM with any DNA tokenizer):
  batched autoregressive sampling with temperature, top-k and top-p (nucleus) filtering. Only tokens made of
  A/C/G/T are ever drawn (no special tokens, no N); multi-base tokens are cut so every sequence has exactly
  ``length`` bases. Models with a key/value cache (Hugging Face causal LMs) reuse it; genolm's own causal model
  has none, so each step recomputes the whole prefix: quadratic in the length, fine up to a few hundred bases.
- Masked LMs (``--objective mlm``, BERT-style folders): Gibbs sampling. Start from random bases (the prompt
  fixed at the start), then for ``sweeps`` rounds mask a random ``mask_fraction`` of the free positions,
  predict them all at once and redraw them from the model's distribution (same temperature/top-k/top-p).

Seeded: batch ``b`` draws from a generator seeded with ``(seed, b)``, so the same seed, batch size and model
give the same sequences (and the first batches do not change when ``n`` grows). Draws happen on the CPU
from float64 probabilities, so the device does not change them beyond the model's own arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from genolm.io.errors import InputError, UsageError

_DNA_TOKEN = re.compile(r"[ACGT]+")
LM_TASKS = ("causal-lm", "masked-lm")


@dataclass
class LanguageModel:
    """A loaded DNA language model plus what sampling needs to know about its vocabulary."""

    net: torch.nn.Module
    tok: object
    kind: str  # "causal" | "masked"
    token_bases: dict  # token id -> bases it stands for (A/C/G/T tokens only)
    description: str
    device: torch.device
    max_tokens: int | None = None

    @property
    def allowed_ids(self) -> list[int]:
        return sorted(self.token_bases)


def load_lm(path: str, device: str | None = None) -> LanguageModel:
    """A causal or masked DNA LM (genolm run dir / model folder / local HF folder) through ``load_model``
    (no pickles, no code from the folder). Anything else (a classifier...) is an :class:`InputError`."""
    from genolm.core.loading import load_model
    from genolm.core.seqmodel import pick_device

    dev = pick_device(device)
    net, tok, info = load_model(path, device=dev)
    task = info.task if info is not None else "unknown"
    if task not in LM_TASKS:
        raise InputError(
            f"this is a {task} model, not a language model: `genolm generate` needs a causal or masked DNA LM "
            "(e.g. from `genolm pretrain --objective clm`)",
            path,
        )
    token_bases = {}
    specials = set(getattr(tok, "all_special_ids", []) or [])
    for tid, t in enumerate(tok.convert_ids_to_tokens(list(range(len(tok))))):
        if tid in specials or t is None:
            continue
        t = str(t)
        if _DNA_TOKEN.fullmatch(t):
            token_bases[tid] = t
    # the output layer may be larger than the tokenizer (padded vocabularies): only tokenizer ids are drawn
    if not token_bases:
        raise InputError("the model's tokenizer has no A/C/G/T tokens: not a DNA language model", path)
    max_tokens = getattr(net.config, "max_position_embeddings", None) or getattr(net.config, "n_positions", None)
    kind = "causal" if task == "causal-lm" else "masked"
    arch = getattr(net.config, "arch", None) or getattr(net.config, "model_type", "")
    return LanguageModel(net, tok, kind, token_bases, f"{arch} {task} from {path}", dev, max_tokens)


# ---------------------------------------------------------------------------------------------------
# filtering + drawing


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """(m, V) logits (disallowed tokens already -inf) -> (m, V) float64 probabilities after temperature,
    top-k and top-p (nucleus: the smallest set of most likely tokens whose mass reaches ``top_p``).
    ``temperature`` 0 = greedy (all mass on the argmax)."""
    x = logits.detach().double().cpu()
    if temperature == 0:
        p = torch.zeros_like(x)
        p.scatter_(1, x.argmax(1, keepdim=True), 1.0)
        return p
    x = x / temperature
    if top_k and top_k < x.shape[1]:
        kth = torch.topk(x, top_k, dim=1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    p = torch.softmax(x, dim=1)
    if top_p < 1.0:
        sp, order = torch.sort(p, dim=1, descending=True)
        cum = sp.cumsum(1)
        drop = (cum - sp) >= top_p  # keep a token while the mass before it is < top_p (the first always kept)
        sp = sp.masked_fill(drop, 0.0)
        p = torch.zeros_like(p).scatter_(1, order, sp)
        p = p / p.sum(1, keepdim=True)
    return p


def _draw(p: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.multinomial(p, 1, generator=gen)[:, 0]


def _generator(seed: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, batch]).generate_state(1)[0])
    )


def check_options(n: int, length: int, prompt: str, temperature: float, top_k: int, top_p: float, batch_size: int):
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if length < 1:
        raise UsageError(f"--length must be at least 1 base, got {length}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if temperature < 0:
        raise UsageError(f"--temperature must be >= 0 (0 = greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise UsageError(f"--top-k must be >= 0 (0 = no limit), got {top_k}")
    p = (prompt or "").strip().upper()
    bad = sorted(set(p) - set("ACGT"))
    if bad:
        raise UsageError(f"--prompt may contain only A, C, G and T; found {''.join(bad)!r}")
    if len(p) > length:
        raise UsageError(f"--prompt is {len(p)} bases, longer than --length {length}")
    return p


# ---------------------------------------------------------------------------------------------------
# causal


def _prefix_ids(lm: LanguageModel, prompt: str) -> list[int]:
    """Token ids a generation starts from: the tokenizer's own leading special tokens (e.g. [CLS]/BOS) + the
    prompt's tokens (never the trailing SEP/EOS)."""
    tok = lm.tok
    probe = prompt or lm.token_bases[next(iter(lm.token_bases))]
    full = list(tok(probe, add_special_tokens=True)["input_ids"])
    body = list(tok(probe, add_special_tokens=False)["input_ids"])
    lead = full[: full.index(body[0])] if body and body[0] in full else []
    ids = lead + (body if prompt else [])
    if not ids:
        for start in (tok.bos_token_id, tok.cls_token_id, tok.eos_token_id):
            if start is not None:
                return [start]
        raise InputError("the model's tokenizer has no BOS/CLS/EOS token to start from: give --prompt")
    return ids


def _cache_arg(lm: LanguageModel) -> str | None:
    """The forward() argument that carries a key/value cache ("cache" in recent transformers, else
    "past_key_values"), or None when the model has none (genolm's own models)."""
    import inspect

    if getattr(lm.net.config, "model_type", "") == "genolm" or not getattr(lm.net.config, "use_cache", False):
        return None
    params = inspect.signature(lm.net.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


@torch.no_grad()
def _causal_batch(lm, m, length, prompt, temperature, top_k, top_p, gen) -> list[str]:
    prefix = _prefix_ids(lm, prompt)
    dev = lm.device
    vocab_mask = None
    ids = torch.tensor([prefix] * m, dtype=torch.long, device=dev)
    out = [prompt] * m
    done = np.array([len(prompt) >= length] * m)
    bases = lm.token_bases
    cache = _cache_arg(lm)
    past = None
    while not done.all():
        if lm.max_tokens and ids.shape[1] > lm.max_tokens:
            raise InputError(f"{lm.description} reads at most {lm.max_tokens} tokens: --length {length} is too long")
        if cache:
            res = lm.net(input_ids=ids if past is None else ids[:, -1:], use_cache=True, **{cache: past})
            past = getattr(res, cache, None)
        else:
            res = lm.net(input_ids=ids)
        logits = res.logits[:, -1].float()
        if vocab_mask is None:
            vocab_mask = torch.full((logits.shape[1],), float("-inf"), device=logits.device)
            vocab_mask[[i for i in lm.allowed_ids if i < logits.shape[1]]] = 0.0
        nxt = _draw(filter_logits(logits + vocab_mask, temperature, top_k, top_p), gen)
        for i, t in enumerate(nxt.tolist()):
            if not done[i]:
                out[i] += bases[t]
                done[i] = len(out[i]) >= length
        ids = torch.cat([ids, nxt.to(dev)[:, None]], 1)
    return [s[:length] for s in out]


# ---------------------------------------------------------------------------------------------------
# masked (Gibbs)


def _template(lm: LanguageModel) -> tuple[list[int], list[int]]:
    tok = lm.tok
    some = next(iter(lm.token_bases))
    one = list(tok(lm.token_bases[some], add_special_tokens=True)["input_ids"])
    k = one.index(some) if some in one else len(one)
    return one[:k], one[k + 1 :]


@torch.no_grad()
def _gibbs_batch(lm, m, length, prompt, temperature, top_k, top_p, gen, sweeps, mask_fraction) -> list[str]:
    lens = {len(b) for b in lm.token_bases.values()}
    k = max(lens)
    pool = [i for i, b in lm.token_bases.items() if len(b) == k]
    if k > 1 and len(prompt) % k:
        raise UsageError(f"this masked LM reads {k}-mer tokens: the --prompt length must be a multiple of {k}")
    n_tok = -(-length // k)
    fixed = len(prompt) // k
    prefix, suffix = _template(lm)
    if lm.max_tokens and n_tok + len(prefix) + len(suffix) > lm.max_tokens:
        raise InputError(f"{lm.description} reads at most {lm.max_tokens} tokens: --length {length} is too long")
    pool_t = torch.tensor(pool, dtype=torch.long)
    body = pool_t[torch.randint(len(pool), (m, n_tok), generator=gen)]
    if fixed:
        p_ids = [lm.tok.convert_tokens_to_ids(prompt[j * k : (j + 1) * k]) for j in range(fixed)]
        body[:, :fixed] = torch.tensor(p_ids, dtype=torch.long)
    free = n_tok - fixed
    mask_id = lm.tok.mask_token_id
    if mask_id is None:
        raise InputError(f"{lm.description}: the tokenizer has no mask token, so it cannot be Gibbs-sampled")
    pre = torch.tensor(prefix, dtype=torch.long).expand(m, -1)
    suf = torch.tensor(suffix, dtype=torch.long).expand(m, -1)
    allowed = None
    n_mask = max(1, int(round(mask_fraction * free))) if free else 0
    for _ in range(sweeps if free else 0):
        # each row masks its own random n_mask free positions
        r = torch.rand((m, free), generator=gen)
        pos = torch.argsort(r, dim=1)[:, :n_mask] + fixed  # (m, n_mask)
        x = body.clone()
        x.scatter_(1, pos, mask_id)
        ids = torch.cat([pre, x, suf], 1).to(lm.device)
        logits = lm.net(input_ids=ids).logits.float()[:, len(prefix) : len(prefix) + n_tok]
        if allowed is None:
            allowed = torch.full((logits.shape[-1],), float("-inf"), device=logits.device)
            allowed[pool_t.to(logits.device)] = 0.0
        sel = logits.gather(1, pos.to(logits.device)[..., None].expand(-1, -1, logits.shape[-1]))
        flat = (sel + allowed).reshape(m * n_mask, -1)
        new = _draw(filter_logits(flat, temperature, top_k, top_p), gen).reshape(m, n_mask)
        body.scatter_(1, pos, new)
    return [("".join(lm.token_bases[int(t)] for t in row))[:length] for row in body]


# ---------------------------------------------------------------------------------------------------


def sample(
    lm: LanguageModel,
    n: int,
    length: int,
    prompt: str = "",
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    batch_size: int = 64,
    seed: int = 0,
    sweeps: int = 20,
    mask_fraction: float = 0.15,
) -> list[str]:
    """``n`` sequences of exactly ``length`` bases, each starting with ``prompt`` (see the module docstring)."""
    from genolm.core.progress import progress

    prompt = check_options(n, length, prompt, temperature, top_k, top_p, batch_size)
    if lm.kind == "masked":
        if sweeps < 1:
            raise UsageError(f"--sweeps must be at least 1, got {sweeps}")
        if not 0 < mask_fraction <= 1:
            raise UsageError(f"--mask-fraction must be in (0, 1], got {mask_fraction}")
    out: list[str] = []
    lm.net.eval()
    with progress(total=n, desc="generating", unit="seq") as bar:
        for b, start in enumerate(range(0, n, batch_size)):
            m = min(batch_size, n - start)
            gen = _generator(seed, b)
            if lm.kind == "causal":
                out += _causal_batch(lm, m, length, prompt, temperature, top_k, top_p, gen)
            else:
                out += _gibbs_batch(lm, m, length, prompt, temperature, top_k, top_p, gen, sweeps, mask_fraction)
            bar.update(m)
    return out


def fasta_text(seqs: list[str], prefix: str = "gen_") -> str:
    return "".join(f">{prefix}{i}\n{s}\n" for i, s in enumerate(seqs))
