"""The strategy race's statistics and report on synthetic runs, and one tiny real run."""

from __future__ import annotations

import pytest

from benchmarks import strategy_race as race


def _run(strategy, scale, seed, final, zero=0.5, start=0.2):
    return {"strategy": strategy, "scale": scale, "seed": seed, "curve": [(0, start), (10, (start + final) / 2), (20, final)],
            "zero_std": [zero] * 20, "train_reward": [], "seconds": 2.0, "steps": 20}


def _runs():
    out = []
    for seed in range(5):
        out += [_run("binary", "group", seed, 0.30 + 0.01 * seed, zero=0.9),
                _run("healthbench", "group", seed, 0.60 + 0.01 * seed, zero=0.0),
                _run("complexity", "group", seed, 0.55 + 0.02 * seed, zero=0.1)]
    return out


def test_summary_final_scores_threshold_and_zero_std_shares():
    s = race.summarize(_runs(), threshold=0.5)
    hb, binary = s["table"]["group"]["healthbench"], s["table"]["group"]["binary"]
    assert hb["final_ci"][0] == pytest.approx(0.62) and hb["final_ci"][1] < 0.62 < hb["final_ci"][2]
    assert hb["reach"] == [20] * 5 and binary["reach"] == [None] * 5  # midpoint 0.4 < 0.5 <= final
    assert binary["zero_std_ci"][0] == pytest.approx(0.9) and hb["zero_std_early_ci"][0] == pytest.approx(0.0)


def test_summary_pairs_by_seed_against_binary_and_complexity_against_healthbench():
    s = race.summarize(_runs(), threshold=0.5)
    tests = {(t["a"], t["b"]): t for t in s["tests"]["group"]}
    assert set(tests) == {("healthbench", "binary"), ("complexity", "binary"), ("complexity", "healthbench")}
    assert tests[("healthbench", "binary")]["diff"] == pytest.approx(0.30)
    assert tests[("healthbench", "binary")]["p_value"] == pytest.approx(2 / 32)  # all 5 seeds one way
    ch = tests[("complexity", "healthbench")]  # d = -0.05 + 0.01 * seed: (-.05, -.04, -.03, -.02, -.01)
    assert ch["diff"] == pytest.approx(-0.03) and ch["wins"] == 0


def test_curve_band_and_render_and_plot(tmp_path):
    runs = _runs()
    steps, band = race.curve_band(race.by_key(runs, "group", "healthbench"))
    assert steps == [0, 10, 20] and band[0][0] == pytest.approx(0.2)
    s = race.summarize(runs, threshold=0.5)
    sim = {0.5: {name: 0.1 for name in race.STRATEGIES}}
    meta = {"command": "python -m benchmarks --only strategy_race", "seconds": 12.0, "n_train": 250, "n_held": 40,
            "rubric_sizes": "10-15", "vocab": 50, "sft_steps": 80, "steps": 20, "grpo": race.GRPO, "seeds": list(range(5)),
            "every": 10, "n_seeds": 5, "note": ""}
    text = race.render(s, sim, meta)
    assert "| group | healthbench | 0.200 |" in text and "healthbench − binary" in text
    assert "smallest possible p is 0.062" in text and "model, m=0.5" in text
    race.plot(runs, ["group"], tmp_path / "race.png", 0.5)
    assert (tmp_path / "race.png").read_bytes()[:4] == b"\x89PNG"


def test_simulated_zero_std_on_the_race_rubrics_is_highest_for_binary():
    from heartgrpo.signal.phrase_task import scenarios, task_rows

    sim = race.simulated_zero_std(task_rows(scenarios()[:20]), [0.5], group_size=6, n_groups=40, seeds=[0])
    assert set(sim[0.5]) == set(race.STRATEGIES)
    assert sim[0.5]["binary"] > sim[0.5]["healthbench"] and 0.0 <= sim[0.5]["healthbench"] <= 1.0


@pytest.mark.slow
def test_a_two_step_race_run_trains_and_scores_held_out_prompts(tmp_path):
    from heartgrpo.signal.phrase_task import build_phrase_model, split_scenarios, task_rows
    from heartgrpo.model.backend import load_tokenizer

    model = build_phrase_model(tmp_path / "model")
    train_p, held_p = split_scenarios(40, seed=0)
    adapter = race.run_sft_for_seed(model, tmp_path, 0, train_p, steps=2)
    r = race.run_one(model, tmp_path, adapter, 0, "criterion_variance", "batch", 2, task_rows(train_p), task_rows(held_p)[:4],
                     1, load_tokenizer(str(model)))
    assert r["steps"] == 2 and [s for s, _ in r["curve"]] == [0, 1, 2]
    assert all(0.0 <= v <= 1.0 for _, v in r["curve"]) and len(r["zero_std"]) == 2
    cfg_text = (tmp_path / "batch-criterion_variance-s0" / "grpo" / "run_config.yaml").read_text()
    assert "scale_rewards: batch" in cfg_text and "criterion_variance" in cfg_text


def test_reward_signal_part_c_reads_a_finished_race_and_names_an_unfinished_one(tmp_path):
    import json

    from benchmarks.reward_signal import race_section

    sims = {name: [0.1, 0.2] for name in race.STRATEGIES}
    assert "no strategy-race results" in race_section(sims, tmp_path / "missing.json").lower()
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"meta": {"seconds": 1}, "runs": []}))
    assert "has not finished" in race_section(sims, partial)
    summary = race.summarize(_runs(), threshold=0.5)
    meta = {"command": "python -m benchmarks --only strategy_race", "steps": 20, "seeds": [0, 1, 2, 3, 4],
            "grpo": race.GRPO}
    done = tmp_path / "results.json"
    done.write_text(json.dumps({"meta": meta, "summary": summary, "simulated": {"0.5": {n: 0.25 for n in race.STRATEGIES}}},
                               default=list))
    text = race_section(sims, done)
    assert "| binary | 0.150 [" in text and "| 0.250 | 0.900 | 0.900 | n/a | n/a |" in text


def test_race_trains_on_every_prompt_not_the_demo_selection(tmp_path):
    cfg = race.race_config(tmp_path / "model", tmp_path / "run", seed=0)
    assert cfg.grpo.prompt_ids is None and cfg.grpo.max_prompts is None
