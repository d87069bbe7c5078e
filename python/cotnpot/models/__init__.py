"""Small models the project builds itself, so the model paths run and are tested where no model hub is
reachable: :class:`TinyCausalLM` (decoder-only: RMSNorm, rotary positions, SwiGLU) and a byte-level
tokenizer. Any Hugging Face causal LM works in their place (see :mod:`cotnpot.verifier`)."""
from .tiny import CausalLMOutput, TinyCausalLM, TinyConfig
from .tokenizer import ByteTokenizer

__all__ = ["CausalLMOutput", "TinyCausalLM", "TinyConfig", "ByteTokenizer"]
