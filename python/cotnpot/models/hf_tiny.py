"""Tiny Hugging Face models of real architectures, built from configs, and a byte-level BPE tokenizer
trained offline: what tests, examples and demos use where no model hub can be reached.

    >>> tokenizer = train_bpe_tokenizer(["What is 2 + 3?", "The answer is 5."] * 20, vocab_size=300)
    >>> model = tiny_causal_lm("qwen2", tokenizer)
    >>> model.config.model_type, model.config.vocab_size == len(tokenizer)
    ('qwen2', True)

Save both with ``save_pretrained(DIR)`` and load them back with :func:`cotnpot.verifier.load_verifier`.
"""
from typing import Iterable, Optional

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

# A ChatML template, as Qwen2's tokenizers carry (a user turn, then the assistant's turn opened).
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 512, chat_template: Optional[str] = None):
    """A byte-level BPE tokenizer (GPT-2/Llama-3/Qwen2 style) trained with ``tokenizers`` on ``texts``, as a
    ``transformers.PreTrainedTokenizerFast`` with EOS, PAD and, optionally, a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<pad>")
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def tiny_causal_lm(architecture: str, tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                   kv_heads: int = 2, seed: int = 0, **config_options):
    """A randomly initialized ``LlamaForCausalLM`` ("llama") or ``Qwen2ForCausalLM`` ("qwen2") of a few
    hundred thousand parameters, sized to ``tokenizer``; ``config_options`` go to its config (e.g.
    ``attention_dropout``, ``use_sliding_window``, ``max_position_embeddings``)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    configs = {"llama": LlamaConfig, "qwen2": Qwen2Config}
    if architecture not in configs:
        raise ValueError(f"architecture must be one of {sorted(configs)}, got {architecture!r}")
    config = configs[architecture](**{
        "vocab_size": len(tokenizer), "hidden_size": hidden_size, "intermediate_size": hidden_size * 3,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": 2048, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None, "tie_word_embeddings": architecture == "qwen2",
        **config_options})
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()
