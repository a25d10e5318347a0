"""One TRL DPOTrainer step on a `curate export --format dpo` folder, run by a trainer's own Python.

    python trl_one_step.py EXPORT_DIR WORK_DIR

tests/export/test_trainer_env.py runs it inside the trainer environment it builds (TRL, today's
Hugging Face stack, CPU torch, and the client installed beside them). It loads the export the way a
trainer does (`datasets.load_dataset`, no glue code), trains a tiny random Llama for one step and
prints one JSON line: steps, loss, rows and where trl and curation were imported from.
Nothing is downloaded: the tokenizer is the one curation rebuilds from the bundled GGUF.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path


def main(export_dir: Path, work_dir: Path) -> dict:
    import datasets
    import torch
    import trl
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    import curation
    from curation.model import bundled_model_path, gguf_tokenizer_dir

    train = datasets.load_dataset(str(export_dir), split="train")
    tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(bundled_model_path(), work_dir / "tokenizers"))

    torch.manual_seed(0)
    # A few hundred thousand parameters (mostly the tied embedding over SmolLM2's 49,152 tokens):
    # the point is that the export's shape trains, not what the model learns.
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    # A model built from a config has no hub id for DPOTrainer to load its reference copy from.
    ref_model = copy.deepcopy(model)

    args = trl.DPOConfig(
        output_dir=str(work_dir / "dpo"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=128,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = trl.DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=train, processing_class=tokenizer)
    result = trainer.train()
    return {
        "steps": result.global_step,
        "loss": result.training_loss,
        "rows": len(train),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trl": trl.__version__,
        "trl_file": trl.__file__,
        "curation_file": curation.__file__,
    }


if __name__ == "__main__":
    export_dir, work_dir = (Path(arg) for arg in sys.argv[1:3])
    print(json.dumps(main(export_dir, work_dir)))  # last on stdout, after the Trainer's own log lines
