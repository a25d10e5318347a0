"""Tokens of a call whose backend reported no usage, counted with the model's own tokenizer.

distilabel keeps each call's usage as the backend reports it; a server that reports none (an
OpenAI-compatible server without `usage`, an Inference Endpoint without a tokenizer) leaves 0 or
-1 there. Those calls are counted here from the call's own text (distilabel's `raw_input_<step>`
and `raw_output_<step>`): the prompt rendered with the model's chat template, as the server
renders it, and the answer as the model wrote it.

Where the tokenizer comes from:
- `llamacpp:` (a GGUF): llama.cpp's own tokenizer of that file (its vocabulary only) and the chat
  template the GGUF carries, as llama.cpp renders a chat call;
- every other backend: the Hugging Face tokenizer of the model id (`transformers.AutoTokenizer`,
  from the local cache or a local folder first, then the Hub when it can be reached).
When none loads, the calls stay uncounted (never guessed) and the manifest says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)


class TokenCounter:
    """Prompt and output tokens of one call, by one model's tokenizer (`source` names it)."""

    def __init__(self, source: str, render: Callable[[list[dict]], str], encode: Callable[[str, bool], int]):
        self.source, self._render, self._encode = source, render, encode

    def prompt_tokens(self, prompt) -> int:
        """Tokens of the prompt a call sent: chat messages (rendered with the chat template) or raw text."""
        text = prompt if isinstance(prompt, str) else self._render(list(prompt))
        return self._encode(text, True)

    def output_tokens(self, text: str) -> int:
        return self._encode(text, False)


def llama_cpp_counter(path) -> TokenCounter:
    """llama.cpp's tokenizer of the GGUF at `path` and its chat template (as llama-cpp-python renders a chat call)."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
    piece = lambda token: llama.detokenize([token], special=True).decode("utf-8", errors="replace")  # noqa: E731
    template = llama.metadata.get("tokenizer.chat_template")
    formatter = (Jinja2ChatFormatter(template=template, eos_token=piece(llama.token_eos()),
                                     bos_token=piece(llama.token_bos())) if template else None)

    def render(messages: list[dict]) -> str:
        if formatter is None:
            return "\n".join(str(m.get("content", "")) for m in messages)
        return formatter(messages=messages).prompt

    def encode(text: str, prompt: bool) -> int:
        # A rendered prompt carries its special tokens as text; an answer is plain text.
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=prompt))

    return TokenCounter(f"llama.cpp tokenizer of {Path(path).name}", render, encode)


def hf_counter(model_id: str) -> TokenCounter:
    """The Hugging Face tokenizer of `model_id` (a Hub id or a local folder): the cache first, then the Hub."""
    import os

    # Without torch, transformers advises installing it on import: a tokenizer needs none, and the
    # advice would land in the middle of `curate generate`'s output.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers import AutoTokenizer

    from huggingface_hub import constants

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=True)
    except Exception:  # not a local folder, not cached: the Hub, unless offline
        if constants.HF_HUB_OFFLINE:
            raise
        tokenizer = AutoTokenizer.from_pretrained(model_id)

    def render(messages: list[dict]) -> str:
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "\n".join(str(m.get("content", "")) for m in messages)

    def encode(text: str, prompt: bool) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    return TokenCounter(f"tokenizer of {model_id}", render, encode)


def counter_for(spec) -> TokenCounter | None:
    """The token counter of a backend spec's model, or None (logged once) when no tokenizer loads."""
    from curation.backends import model_path

    try:
        if spec.name == "llamacpp":
            return llama_cpp_counter(model_path(spec))
        return hf_counter(str(spec.model))
    except Exception as exc:  # offline and not cached, not a tokenizer id, no transformers...
        logger.warning("no tokenizer for %s (%s): calls it reports no usage for stay uncounted",
                       spec.model_label, type(exc).__name__)
        return None
