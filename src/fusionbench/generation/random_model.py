"""Random-weight Llama models with a small byte-level BPE tokenizer, built offline (for benchmarks and smoke runs).

``build_random_llama(folder, size="1b")`` writes a ~1B-parameter Llama (hidden 2048, 16 layers, 32 heads,
8 KV heads, MLP 8192: the shape of Llama 3.2 1B without its large vocabulary) that vLLM and transformers
load like any checkpoint; ``size="tiny"`` a 2-layer one. The output is gibberish: it measures speed, not
quality. Needs torch, transformers and tokenizers.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKEN = "<|endoftext|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% else %}{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Answer: {% endif %}"
)
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 2, "max_position_embeddings": 2048},
    "1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "max_position_embeddings": 4096},
}  # fmt: skip

_VOCABULARY = (
    "the a an of to and in is was for on with as by at from that this it be are answer question think step "
    "number sum total python def return list assert true false option choice context passage because therefore "
    "first then so final boxed begin done code function test which following most likely continuation"
)


def _corpus() -> list[str]:
    """Short strings in the shapes of the benchmark's prompts: prose, arithmetic, code, options."""
    words_list, lines = _VOCABULARY.split(), []
    for i in range(600):
        a, b = i % 97, (i * 7) % 89
        words = " ".join(words_list[(i * 3 + k) % len(words_list)] for k in range(10))
        lines.append(f"Question: {words.capitalize()}? {a} + {b} = {a + b}. The answer is ({'ABCD'[i % 4]}).")
        lines.append(f"def f_{i}(x):\n    return x * {b} + {a}\nassert f_{i}(1) == {a + b}")
        lines.append(f"## Context:\n{words}.\n\n## Options:\nA. {a}\nB. {b}\n\\boxed{{{a * b}}} #### {a - b}")
    return lines


def build_tokenizer(folder: Path, vocab_size: int = 1024, model_max_length: int = 4096):
    """A byte-level BPE tokenizer (``<|endoftext|>`` as bos/eos/pad/unk) with a one-turn chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token=SPECIAL_TOKEN))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=SPECIAL_TOKEN,
        eos_token=SPECIAL_TOKEN,
        pad_token=SPECIAL_TOKEN,
        unk_token=SPECIAL_TOKEN,
        model_max_length=model_max_length,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_random_llama(
    folder: str | Path, *, size: str = "1b", seed: int = 0, dtype: str = "bfloat16", vocab_size: int = 1024
) -> Path:
    """Write a random-weight ``LlamaForCausalLM`` of shape ``size`` (tiny or 1b) and its tokenizer to ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder, vocab_size, SHAPES[size]["max_position_embeddings"])
    special = tokenizer.convert_tokens_to_ids(SPECIAL_TOKEN)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=special,
        eos_token_id=special,
        pad_token_id=special,
        tie_word_embeddings=False,
        **SHAPES[size],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config.pad_token_id = special
    model.save_pretrained(folder)
    return folder


def parameter_count(folder: str | Path) -> int:
    """Parameters of the model saved in ``folder`` (from its config, without loading weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    return sum(p.numel() for p in model.parameters())
