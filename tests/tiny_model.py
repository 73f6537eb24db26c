"""A tiny random-weight Llama and its tokenizer, built offline in well under a second.

Its output is gibberish; it exists to run real inference code paths (lm-eval's ``hf`` model, vLLM)
without downloading weights. ``build_tiny_llama(folder)`` writes a folder that
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` / ``vllm.LLM`` load.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKEN = "<|endoftext|>"
#: One user message (or several turns) -> plain text, then an ``Answer:`` cue for generation.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% else %}{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Answer: {% endif %}"
)

_TEXT = (
    "the a an of to and in is was for on with as by at from that this it be are answer question "
    "think step number sum total python def return list assert true false option choice "
    "context passage because therefore first then so final boxed begin done code function test"
)
_WORDS: tuple[str, ...] = tuple(_TEXT.split())


def _corpus() -> list[str]:
    """A few hundred short strings: prose, arithmetic, code and multiple-choice shapes."""
    lines = []
    for i in range(300):
        a, b = i % 97, (i * 7) % 89
        words = " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(8))
        lines.append(f"Question: {words}? {a} + {b} = {a + b}. The answer is ({'ABCD'[i % 4]}).")
        lines.append(f"def f_{i}(x):\n    return x * {b} + {a}\nassert f_{i}(1) == {a + b}")
        lines.append(f"Let's think step by step. \\boxed{{{a * b}}} #### {a - b}")
    return lines


def build_tiny_llama(folder: str | Path, *, vocab_size: int = 300, seed: int = 0) -> Path:
    """Write a tiny random-weight ``LlamaForCausalLM`` and a byte-level BPE tokenizer to ``folder``.

    The tokenizer uses ``<|endoftext|>`` as bos, eos, pad and unk, and has a simple chat template
    (messages -> their text, then ``Answer: ``). The model has 2 layers, hidden size 128, 2 heads
    (head_dim 64: vLLM's CPU backend needs >= 32) and 512 positions. Returns the folder.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

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
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    special_id = tokenizer.convert_tokens_to_ids(SPECIAL_TOKEN)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=special_id,
        eos_token_id=special_id,
        pad_token_id=special_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = special_id
    model.save_pretrained(folder)
    return folder
