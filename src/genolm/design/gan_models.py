"""The GAN's two networks (Gupta & Zou 2019, Feedback-GAN style) and its model folder.

- :class:`Generator`: latent ``z`` -> linear -> ``(channels, L)`` -> residual Conv1d blocks -> Conv1d to the
  4 bases -> softmax over bases. The softmax output is what the critic sees during training; a sampled
  sequence is its argmax (or a draw from ``softmax(logits / temperature)``).
- :class:`Critic`: residual Conv1d blocks over a ``(4, L)`` one-hot (or soft) sequence -> linear -> one score
  (no normalisation layers: the WGAN-GP gradient penalty is per sample).

A model folder holds ``gan.json`` (marker: length, latent size, channels, blocks, training config and summary),
``generator.safetensors`` and ``critic.safetensors``. :func:`load_gan` reads one back as a :class:`Generator`
(it refuses folders carrying pickles); ``Generator.sample(n, seed)`` is seeded and independent of the batch size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn

from genolm.io.errors import InputError
from genolm.sequence import decode_batch

MARKER = "gan.json"
FORMAT = "genolm-gan"
#: latent vectors are drawn in chunks of this many, so samples do not depend on ``batch_size``
_Z_CHUNK = 256


class ResBlock(nn.Module):
    """ReLU -> Conv1d -> ReLU -> Conv1d, added back with a 0.3 weight (the Gulrajani et al. / FBGAN block)."""

    def __init__(self, channels: int, kernel: int = 5):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.3 * self.conv2(self.act(self.conv1(self.act(x))))


class Generator(nn.Module):
    """Latent vector -> soft one-hot DNA of a fixed length."""

    def __init__(self, length: int, latent: int = 128, channels: int = 128, blocks: int = 5, kernel: int = 5):
        super().__init__()
        self.length, self.latent, self.channels, self.blocks, self.kernel = length, latent, channels, blocks, kernel
        self.fc = nn.Linear(latent, channels * length)
        self.body = nn.Sequential(*[ResBlock(channels, kernel) for _ in range(blocks)])
        self.out = nn.Conv1d(channels, 4, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.channels, self.length)
        return self.out(self.body(h))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(n, latent) -> (n, 4, L) base probabilities (softmax over the 4 bases at each position)."""
        return torch.softmax(self.logits(z), dim=1)

    @property
    def device(self) -> torch.device:
        return self.fc.weight.device

    def latents(self, n: int, seed: int = 0) -> torch.Tensor:
        """(n, latent) standard-normal latent vectors for ``seed`` (CPU), drawn in fixed chunks."""
        g = torch.Generator().manual_seed(int(seed))
        parts, left = [], n
        while left > 0:
            parts.append(torch.randn(_Z_CHUNK, self.latent, generator=g)[: min(left, _Z_CHUNK)])
            left -= _Z_CHUNK
        return torch.cat(parts) if parts else torch.zeros(0, self.latent)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, batch_size: int = 512, temperature: float | None = None) -> list[str]:
        """``n`` sequences of ``self.length`` nt: argmax of the generator's softmax (or, with ``temperature``,
        a draw from ``softmax(logits / temperature)``). Seeded: the same seed gives the same sequences."""
        if n < 0:
            raise InputError(f"cannot sample {n} sequences")
        if temperature is not None and temperature <= 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        was_training = self.training
        self.eval()
        z = self.latents(n, seed)
        g = torch.Generator().manual_seed(int(seed) + 1)
        u_all = torch.rand(n, self.length, generator=g) if temperature is not None else None
        out: list[str] = []
        for i in range(0, n, max(1, int(batch_size))):
            logits = self.logits(z[i : i + batch_size].to(self.device)).float().cpu()
            if temperature is None:
                idx = logits.argmax(1)
            else:  # inverse-CDF draw per position with pre-drawn uniforms (batch-size independent)
                cdf = torch.softmax(logits / temperature, dim=1).cumsum(1)  # (b, 4, L)
                u = u_all[i : i + batch_size].unsqueeze(1)
                idx = (cdf < u).sum(1).clamp(max=3)
            out.extend(decode_batch(idx.numpy()))
        self.train(was_training)
        return out


class Critic(nn.Module):
    """(n, 4, L) one-hot or soft DNA -> (n,) Wasserstein critic score."""

    def __init__(self, length: int, channels: int = 128, blocks: int = 5, kernel: int = 5):
        super().__init__()
        self.inp = nn.Conv1d(4, channels, 1)
        self.body = nn.Sequential(*[ResBlock(channels, kernel) for _ in range(blocks)])
        self.fc = nn.Linear(channels * length, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(self.inp(x)).flatten(1)).squeeze(1)


def codes_to_one_hot(codes: torch.Tensor) -> torch.Tensor:
    """(n, L) integer codes (A C G T = 0..3, N = 4) -> (n, 4, L) float one-hot, N columns all zero."""
    return torch.nn.functional.one_hot(codes.long(), 5)[..., :4].permute(0, 2, 1).float()


# ---- the model folder ------------------------------------------------------------------------------


def save_gan(path: str | os.PathLike, generator: Generator, critic: Critic, info: dict) -> Path:
    """Write ``gan.json`` + ``generator.safetensors`` + ``critic.safetensors`` into ``path`` (created)."""
    from safetensors.torch import save_file

    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}, d / "generator.safetensors"
    )
    save_file({k: v.detach().cpu().contiguous() for k, v in critic.state_dict().items()}, d / "critic.safetensors")
    marker = {
        "format": FORMAT,
        "version": 1,
        "length": generator.length,
        "latent": generator.latent,
        "channels": generator.channels,
        "blocks": generator.blocks,
        "kernel": generator.kernel,
        **info,
    }
    (d / MARKER).write_text(json.dumps(marker, indent=2, default=str), encoding="utf-8")
    return d


def gan_folder(path: str | os.PathLike) -> Path:
    """The model folder of a GAN: ``path`` itself or its ``model/`` (a `genolm gan train` run directory)."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such GAN model folder", str(p))
    for cand in (p, p / "model"):
        if (cand / MARKER).is_file():
            return cand
    raise InputError(
        f"not a GAN model folder (no {MARKER}); train one with `genolm gan train --input SEQS --out DIR`", str(p)
    )


def read_marker(path: str | os.PathLike) -> dict:
    d = gan_folder(path)
    try:
        info = json.loads((d / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {MARKER}: {e}", str(d / MARKER)) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(f"{MARKER} is not a genolm GAN marker", str(d / MARKER))
    return info


def load_gan(path: str | os.PathLike, device: str | torch.device | None = "cpu", critic: bool = False):
    """A trained :class:`Generator` from a GAN model folder (or its run directory); with ``critic=True``,
    ``(generator, critic)``. Pickle files in the folder are refused."""
    from safetensors.torch import load_file

    from genolm.core.persist import check_no_pickles
    from genolm.core.seqmodel import pick_device

    d = gan_folder(path)
    check_no_pickles(d)
    info = read_marker(d)
    gen = Generator(int(info["length"]), int(info["latent"]), int(info["channels"]), int(info["blocks"]),
                    int(info.get("kernel", 5)))  # fmt: skip
    gfile = d / "generator.safetensors"
    if not gfile.is_file():
        raise InputError("GAN model folder has no generator.safetensors", str(d))
    try:
        gen.load_state_dict(load_file(str(gfile)))
    except Exception as e:
        raise InputError(f"cannot read generator weights: {str(e).splitlines()[0]}", str(gfile)) from None
    dev = pick_device(device)
    gen.to(dev).eval()
    gen.info = info
    if not critic:
        return gen
    crit = Critic(gen.length, gen.channels, gen.blocks, gen.kernel)
    crit.load_state_dict(load_file(str(d / "critic.safetensors")))
    return gen, crit.to(dev).eval()
