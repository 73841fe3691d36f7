"""A training start reads the model's tokenizer once: the tokenizer that templated and measured the prompts
before the weights loaded is the one the trainer gets."""

from tests.training.training_helpers import tiny_run_options


def test_tokenizer_is_loaded_once(tiny_model_dir, prompts_file, tmp_path, monkeypatch):
    import transformers

    from vigor.training import VigorGRPOConfig
    from vigor.training.run import build_trainer

    loaded = []
    real = transformers.AutoTokenizer.from_pretrained

    def counting(path, *args, **kwargs):  # the real loader, counted
        loaded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", counting)
    config = VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out"))
    trainer, _ = build_trainer(config)
    assert loaded == [str(tiny_model_dir)]
    tokenizer = trainer.processing_class
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert trainer.model.generation_config.pad_token_id == tokenizer.pad_token_id
