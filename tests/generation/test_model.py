"""`gguf_tokenizer_dir` rebuilds the bundled model's tokenizer from the GGUF alone; Magpie relies on its chat template.

The reference is llama.cpp's own reading of the same GGUF: its metadata's
`tokenizer.chat_template`, bos/eos as llama.cpp decodes them, rendered by llama-cpp-python's
Jinja2ChatFormatter (what its server and `create_chat_completion` use).
"""

from __future__ import annotations

import pytest

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Name a colour."}],
    [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "Tell me a joke\nwith two lines."},
    ],
]


@pytest.fixture(scope="module")
def llama_vocab(bundled_model):
    from llama_cpp import Llama

    return Llama(model_path=str(bundled_model), vocab_only=True, verbose=False)


@pytest.fixture(scope="module")
def rebuilt_tokenizer(bundled_model, tmp_path_factory):
    from transformers import AutoTokenizer

    from curation.model import gguf_tokenizer_dir

    folder = gguf_tokenizer_dir(bundled_model, cache_root=tmp_path_factory.mktemp("tokenizers"))
    return AutoTokenizer.from_pretrained(str(folder))


def _token_text(llama, token_id: int) -> str:
    return llama.detokenize([token_id], special=True).decode("utf-8")


@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["user", "system", "multi-turn"])
def test_chat_template_renders_as_llama_cpp_does(messages, llama_vocab, rebuilt_tokenizer):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    reference = Jinja2ChatFormatter(
        template=llama_vocab.metadata["tokenizer.chat_template"],
        bos_token=_token_text(llama_vocab, llama_vocab.token_bos()),
        eos_token=_token_text(llama_vocab, llama_vocab.token_eos()),
    )(messages=messages).prompt
    ours = rebuilt_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours == reference
    assert ours.endswith("<|im_start|>assistant\n")  # sanity: the reference itself is a ChatML prompt


def test_special_tokens_and_ids_match_llama_cpp(llama_vocab, rebuilt_tokenizer):
    assert rebuilt_tokenizer.bos_token == _token_text(llama_vocab, llama_vocab.token_bos())
    assert rebuilt_tokenizer.eos_token == _token_text(llama_vocab, llama_vocab.token_eos())
    assert len(rebuilt_tokenizer) == llama_vocab.n_vocab()
    prompt = rebuilt_tokenizer.apply_chat_template(CONVERSATIONS[2], tokenize=False, add_generation_prompt=True)
    # llama.cpp tokenizes the rendered prompt itself; the rebuilt BPE agrees with it token for token.
    assert rebuilt_tokenizer.encode(prompt, add_special_tokens=False) == llama_vocab.tokenize(
        prompt.encode("utf-8"), add_bos=False, special=True
    )
