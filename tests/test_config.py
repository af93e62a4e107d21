"""Run configuration: shipped configs validate; bad keys and types fail naming the key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartgrpo.config.run import ConfigError, RunConfig, config_from_dict, load_config
from t4_stack import loadable_configs

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def _minimal(**sections) -> dict:
    return {"name": "t", "model": {"name_or_path": "some/model"}, **sections}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", loadable_configs(CONFIGS), ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.grpo.per_device_train_batch_size * cfg.grpo.gradient_accumulation_steps % cfg.grpo.num_generations == 0


def test_expected_config_files_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"cpu-demo.yaml", "qwen3-14b-rtx6000pro.yaml", "qwen3-4b-colab-t4.yaml", "qwen3-4b-kaggle-t4.yaml"} <= names


def test_paper_recipe_values() -> None:
    cfg = load_config(Path(__file__).parent.parent / "configs" / "qwen3-14b-rtx6000pro.yaml")
    assert cfg.model.name_or_path == "unsloth/Qwen3-14B-Base" and cfg.model.load_in_4bit and cfg.model.fast_inference
    assert (cfg.lora.r, cfg.lora.alpha) == (16, 32) and len(cfg.lora.target_modules) == 7
    assert (cfg.sft.learning_rate, cfg.sft.per_device_train_batch_size * cfg.sft.gradient_accumulation_steps, cfg.sft.max_steps) == (2e-4, 16, 500)
    g = cfg.grpo
    assert (g.num_generations, g.prompts_per_step, g.learning_rate, g.warmup_ratio, g.weight_decay) == (6, 1, 5e-6, 0.1, 0.01)
    assert (g.optim, g.temperature, g.min_p, g.max_completion_length, g.max_steps) == ("adamw_8bit", 1.0, 0.1, 1024, 1000)
    assert cfg.seed == 3407 and cfg.data.min_criteria == 4 and cfg.data.prompt_length_quantile == 0.9


def test_t4_configs_use_fp16() -> None:
    for name in ("qwen3-4b-colab-t4.yaml", "qwen3-4b-kaggle-t4.yaml"):
        cfg = load_config(Path(__file__).parent.parent / "configs" / name)
        assert cfg.model.dtype == "float16" and cfg.judge.kind == "openai" and cfg.judge.base_url


def test_unknown_key_names_path_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: t\nmodel:\n  name_or_path: m\ngrpo:\n  learning_rate: 1.0e-6\n  num_generationz: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "grpo.num_generationz" in msg and "unknown key" in msg and f"{path}:6" in msg


def test_wrong_type_names_path_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: t\nmodel:\n  name_or_path: m\nlora:\n  r: sixteen\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "lora.r" in str(err.value) and "'sixteen'" in str(err.value) and f"{path}:5" in str(err.value)


def test_nested_section_from_other_module_is_strict(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.eval_count: unknown key"):
        config_from_dict(_minimal(data={"eval_count": 3}))
    with pytest.raises(ConfigError, match=r"eval\.temperature"):
        config_from_dict(_minimal(eval={"temperature": "hot"}))
    with pytest.raises(ConfigError, match=r"judge\.workers"):
        config_from_dict(_minimal(judge={"kind": "approximate", "workers": 0}))


def test_list_item_paths(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: t\nmodel: {name_or_path: m}\nreward:\n  strategies:\n    - {name: hybrid}\n    - {name: complexty}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "reward.strategies.1.name" in str(err.value) and "unknown reward strategy 'complexty'" in str(err.value)


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match=r"model: Field required"):
        config_from_dict({"name": "t"})


def test_generation_batch_must_divide_num_generations() -> None:
    with pytest.raises(ConfigError, match="divisible by num_generations"):
        config_from_dict(_minimal(grpo={"num_generations": 4, "per_device_train_batch_size": 6}))
    cfg = config_from_dict(_minimal(grpo={"num_generations": 4, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4}))
    assert cfg.grpo.prompts_per_step == 2


def test_strategy_options_checked_against_the_strategy() -> None:
    ok = config_from_dict(_minimal(reward={"strategies": [{"name": "criterion_variance", "options": {"floor": 0.5}}]}))
    assert ok.reward.strategies[0].options == {"floor": 0.5}
    with pytest.raises(ConfigError, match="takes no option"):
        config_from_dict(_minimal(reward={"strategies": [{"name": "binary", "options": {"normalize": True}}]}))
    with pytest.raises(ConfigError, match="listed twice"):
        config_from_dict(_minimal(reward={"strategies": [{"name": "hybrid"}, {"name": "hybrid", "weight": 2}]}))


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="max_lora_rank"):
        config_from_dict(_minimal(model={"name_or_path": "m", "max_lora_rank": 8}, lora={"r": 16}))
    with pytest.raises(ConfigError, match="needs judge.model"):
        config_from_dict(_minimal(judge={"kind": "openai"}))
    with pytest.raises(ConfigError, match="use_vllm"):
        config_from_dict(_minimal(model={"name_or_path": "m", "backend": "hf"}, grpo={"use_vllm": True}))


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: t\nmodel: {name_or_path: m}\n")
    assert load_config(path, {"grpo.max_steps": 3}).grpo.max_steps == 3
    with pytest.raises(ConfigError, match=r"grpo\.max_stepz: unknown key"):
        load_config(path, {"grpo.max_stepz": 3})


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS[0].parent / "cpu-demo.yaml")
    again = load_config(cfg.dump(tmp_path / "copy.yaml"))
    assert again == cfg
