"""TinyCausalLM: a small decoder-only transformer with the parts of today's LLMs (Llama-style): RMSNorm
before each block, rotary position embeddings, SwiGLU MLPs, no biases, tied input/output embeddings."""
import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch
from torch import Tensor, nn


@dataclass
class TinyConfig:
    vocab_size: int = 259
    dim: int = 64
    layers: int = 2
    heads: int = 4
    hidden: int = 172          # SwiGLU width (about 8/3 * dim)
    max_length: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    # Hugging Face's names for the sizes that the trainer and the verifier read: an ORM head's width had raised
    # AttributeError ('hidden_size'), and a context shorter than --max-length was found only at the first step,
    # after the pair files were written (a breaker).
    @property
    def hidden_size(self) -> int:
        return self.dim

    @property
    def max_position_embeddings(self) -> int:
        return self.max_length


@dataclass
class CausalLMOutput:
    logits: Tensor             # [B, T, V], as Hugging Face causal LMs return it
    hidden_states: Optional[Tuple[Tensor, ...]] = None   # with output_hidden_states: as Hugging Face's (below)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotary(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """Rotates pairs (first half, second half) of each head's features by position-dependent angles."""
    half = x.shape[-1] // 2
    freqs = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * freqs                      # [B, T, half]
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]           # [B, 1, T, half]
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class Block(nn.Module):
    def __init__(self, c: TinyConfig):
        super().__init__()
        self.c = c
        self.attn_norm, self.mlp_norm = RMSNorm(c.dim, c.norm_eps), RMSNorm(c.dim, c.norm_eps)
        self.qkv = nn.Linear(c.dim, 3 * c.dim, bias=False)
        self.out = nn.Linear(c.dim, c.dim, bias=False)
        self.gate_up = nn.Linear(c.dim, 2 * c.hidden, bias=False)
        self.down = nn.Linear(c.hidden, c.dim, bias=False)

    def forward(self, x: Tensor, positions: Tensor, mask: Tensor) -> Tensor:
        B, T, D = x.shape
        H = self.c.heads
        q, k, v = self.qkv(self.attn_norm(x)).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, positions, self.c.rope_theta), rotary(k, positions, self.c.rope_theta)
        scores = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
        attn = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(-1)
        x = x + self.out((attn @ v).transpose(1, 2).reshape(B, T, D))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(nn.functional.silu(gate) * up)


class TinyCausalLM(nn.Module):
    def __init__(self, config: TinyConfig = TinyConfig()):
        super().__init__()
        if config.dim % config.heads or (config.dim // config.heads) % 2:
            raise ValueError(f"dim must split into heads of even size, got dim {config.dim}, heads {config.heads}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        nn.init.normal_(self.embed.weight, std=0.02)

    def get_input_embeddings(self) -> nn.Embedding:   # as Hugging Face models: the verifier reads its vocabulary
        return self.embed

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                output_hidden_states: bool = False) -> CausalLMOutput:
        """``input_ids`` [B, T]; ``attention_mask`` [B, T] (1 = token, 0 = padding, left or right).
        ``output_hidden_states``: also the embeddings and each block's output, the last after the final norm
        (what the LM head reads), as Hugging Face's Llama returns them: an ORM head reads the last (a tiny:
        model had been refused there with a TypeError; a breaker)."""
        B, T = input_ids.shape
        if T > self.config.max_length:
            raise ValueError(f"input of {T} tokens is longer than max_length {self.config.max_length}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()
        positions = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)    # left padding keeps positions right
        causal = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril()
        mask = causal[None, None] & keep[:, None, None, :]
        mask = mask | torch.eye(T, dtype=torch.bool, device=input_ids.device)   # padding rows attend to themselves
        x = self.embed(input_ids)
        states = [x]
        for block in self.blocks:
            x = block(x, positions, mask)
            states.append(x)
        last = self.norm(x)
        states[-1] = last
        return CausalLMOutput(last @ self.embed.weight.t(), tuple(states) if output_hidden_states else None)

    def save_pretrained(self, directory) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps({"model_type": "cotnpot-tiny", **asdict(self.config)}, indent=1))
        torch.save(self.state_dict(), d / "model.pt")

    @classmethod
    def from_pretrained(cls, directory) -> "TinyCausalLM":
        d = Path(directory)
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"no TinyCausalLM in {d}: config.json is missing")
        try:
            config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        except ValueError as exc:   # not JSON, or not UTF-8
            raise ValueError(f"{d / 'config.json'}: not a JSON file ({exc})") from None
        if not isinstance(config, dict) or config.pop("model_type", None) != "cotnpot-tiny":
            raise ValueError(f"{d / 'config.json'} is not a TinyCausalLM config")
        try:
            model = cls(TinyConfig(**config))
        except TypeError as exc:   # a field TinyConfig does not have
            raise ValueError(f"{d / 'config.json'}: {exc}") from None
        if not (d / "model.pt").is_file():
            raise FileNotFoundError(f"no TinyCausalLM in {d}: model.pt is missing")
        try:
            model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:   # cut short (torch's
            # zip reader raises OSError then), not a checkpoint, or another model's
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{d / 'model.pt'}: not this model's weights ({reason})") from None
        return model.eval()
