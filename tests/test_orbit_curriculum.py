"""The rubric curriculum: EMA, admission, mastery and review on synthetic verdict streams
(expected values computed by hand from the closed forms), rewards, state round trips, and a
real tiny-model GRPO run killed and resumed with the curriculum's state."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from heartgrpo.judge import Verdict
from heartgrpo.train.curriculum import STATE_FILE, RubricCurriculum
from heartgrpo.rewards.curriculum import AdmissionGated, Sequential, StochasticReview, make_policy


def _always(curriculum, pid, points, succeed, steps):
    """Feed ``steps`` groups of 2 completions whose verdicts make every window item succeed
    (``succeed(i)`` True) or fail; returns the windows used."""
    windows = []
    for _ in range(steps):
        window = curriculum.select(pid, len(points), points)
        windows.append(window)
        row = [(succeed(i) if points[i] > 0 else not succeed(i)) for i in window]
        curriculum.update(pid, points, window, [row, row])
    return windows


def test_sequential_ema_and_mastery_follow_the_closed_form():
    c = RubricCurriculum(None, Sequential(window=2))
    points = [5, 3, -2, 1]
    # item 0 always succeeds, item 1 never: EMA_0 after n steps = 1 - 0.9^n, first > 0.9 at n = 22
    _always(c, "p", points, lambda i: i == 0, 21)
    items = c.items("p")
    assert items[0].ema == pytest.approx(1 - 0.9 ** 21) and items[0].status == "active"
    assert items[1].ema == 0.0 and items[1].seen == 21 and items[2].status == "candidate"
    _always(c, "p", points, lambda i: i == 0, 1)
    assert items[0].ema == pytest.approx(1 - 0.9 ** 22) and items[0].status == "mastered"
    assert c.select("p", 4, points) == [1, 2]  # the next candidate took the freed slot
    assert items[2].ema == 0.0 and items[2].seen == 0


def test_a_pitfall_succeeds_when_it_is_not_triggered():
    c = RubricCurriculum(None, Sequential(window=2))
    points = [-2, -1]
    window = c.select("p", 2, points)
    # completion 1 avoids both pitfalls, completion 2 triggers the first
    rewards = c.update("p", points, window, [[False, False], [True, False]])
    assert [s.ema for s in c.items("p")] == pytest.approx([0.1 * 0.5, 0.1])
    # no positive points in the window: the signed fallback divides by |negative points| = 3
    assert rewards == pytest.approx([0.0, -2 / 3])
    none = RubricCurriculum(None, Sequential(window=2), no_positive="none")
    assert none.update("p", points, [0, 1], [[False, False]]) == [None]


def test_reward_is_met_points_over_positive_points_of_the_window_and_none_on_a_failed_verdict():
    c = RubricCurriculum(None, Sequential(window=3))
    points = [5, 3, -2, 4]  # item 3 is a candidate: not in the reward
    assert c.select("p", 4, points) == [0, 1, 2]
    rewards = c.update("p", points, [0, 1, 2], [[True, False, True], [True, True, False], [None, True, False]])
    assert rewards[0] == pytest.approx((5 - 2) / 8) and rewards[1] == pytest.approx(1.0) and rewards[2] is None
    # the failed verdict is left out of item 0's rate: 2 of 2 judged succeeded
    assert c.items("p")[0].ema == pytest.approx(0.1)
    assert c.items("p")[2].ema == pytest.approx(0.1 * 2 / 3)


def test_admission_gate_admits_one_item_when_the_mean_active_ema_passes():
    c = RubricCurriculum(None, AdmissionGated(window=4, initial=2))
    points = [5, 4, 3, 2, 1, 1]
    assert c.select("p", 6, points) == [0, 1]
    # all succeed: mean active EMA = 1 - 0.9^n, first > 0.75 at n = 14 (0.9^13 = 0.254, 0.9^14 = 0.229)
    _always(c, "p", points, lambda i: True, 13)
    assert c.select("p", 6, points) == [0, 1]
    _always(c, "p", points, lambda i: True, 1)
    assert c.select("p", 6, points) == [0, 1, 2]  # one admitted, not two
    # the new item starts at EMA 0: mean = (2 (1 - 0.9^15) + 0.1) / 3 = 0.5627 < 0.75, no admission
    _always(c, "p", points, lambda i: True, 1)
    items = c.items("p")
    assert items[2].ema == pytest.approx(0.1) and c.select("p", 6, points) == [0, 1, 2]
    candidates, actives = [], []
    for _ in range(60):
        _always(c, "p", points, lambda i: True, 1)
        candidates.append(sum(s.status == "candidate" for s in items))
        actives.append(sum(s.status == "active" for s in items))
    assert all(a - b <= 1 for a, b in zip(candidates, candidates[1:]))  # at most one admission a step
    assert max(actives) <= 4 and candidates[-1] < candidates[0]  # the window bound holds; admissions went on
    # items 0 and 1 mastered at n = 22 (1 - 0.9^22 > 0.9): mastered items leave the active set
    assert items[0].status == items[1].status == "mastered"


def test_stochastic_review_gives_half_the_window_to_mastered_items_weighted_by_ema():
    policy = StochasticReview(window=4, review_share=0.5, power=2.0)
    c = RubricCurriculum(None, policy, seed=7)
    points = [5, 4, 3, 2, 1, 1, 1]
    _always(c, "p", points, lambda i: True, 22)  # items 0..3 mastered together at n = 22
    items = c.items("p")
    assert [s.status for s in items[:4]] == ["mastered"] * 4
    window = c.select("p", 7, points)
    reviewed = [i for i in window if items[i].status == "mastered"]
    assert len(reviewed) == 2 and len(window) == 4  # 2 review slots + 2 active (items 4, 5)
    assert [i for i in window if items[i].status == "active"] == [4, 5]
    # the draw repeats for the same (seed, prompt, step): a resumed run reviews what the first would
    assert c.select("p", 7, points) == window
    # weights 0.2 + 0.8 (1 - EMA)^p: an item at EMA 0 is drawn 5x as often as one at EMA 1
    c2 = RubricCurriculum(None, StochasticReview(window=2, review_share=0.5, power=2.0))
    c2.select("q", 3, [1, 1, 1])
    for s, ema in zip(c2.items("q")[:2], (0.0, 1.0)):
        s.status, s.ema = "mastered", ema
    counts = [0, 0]
    for step in range(3000):
        c2.state["q"]["step"] = step
        picked = [i for i in c2.select("q", 3, [1, 1, 1]) if i < 2]
        counts[picked[0]] += 1
    assert 4.0 < counts[0] / counts[1] < 6.0


def test_state_round_trip_and_a_resumed_stream_match_the_uninterrupted_one(tmp_path: Path):
    points = [5, 3, -2, 4, 1, 2]
    # success 12 times in 13 (EMA -> 0.92 > 0.9): items get mastered, so the review draw is exercised
    ok = [[(k + i * 5 + s) % 13 != 0 for i in range(6)] for s in range(60) for k in range(2)]
    stream = [[o if p > 0 else not o for o, p in zip(row, points)] for row in ok]

    def run(c, steps):
        for s in steps:
            window = c.select("p", 6, points)
            c.update("p", points, window, [[stream[2 * s + k][i] for i in window] for k in range(2)])

    full = RubricCurriculum(None, make_policy("review", window=4), seed=3)
    run(full, range(60))
    first = RubricCurriculum(None, make_policy("review", window=4), seed=3)
    run(first, range(27))
    path = first.save(tmp_path / STATE_FILE)
    second = RubricCurriculum(None, make_policy("review", window=4), seed=3)
    second.load(path)
    run(second, range(27, 60))
    assert second.state_dict() == full.state_dict()
    assert any(s.status == "mastered" for s in full.items("p"))  # the stream exercises review
    revived = pickle.loads(pickle.dumps(full))
    assert revived.state_dict() == full.state_dict() and revived.__name__ == "curriculum_review"
    with pytest.raises(ValueError, match="policy"):
        RubricCurriculum(None, make_policy("sequential")).load(path)
    with pytest.raises(ValueError, match="different rubric"):
        full.select("p", 6, [5, 3, -2, 4, 1, 3])


class KeywordJudge:
    """Criterion met when its last word appears in the response; records what it graded."""

    def __init__(self) -> None:
        self.graded: list[tuple[str, ...]] = []

    async def grade(self, prompt, response, rubrics):
        self.graded.append(tuple(c["criterion"] for c in rubrics))
        return [Verdict(c["criterion"].split()[-1] in response.split(), "keyword") for c in rubrics]


RUBRIC = [{"criterion": "Says call", "points": 5, "tags": []}, {"criterion": "Says ecg", "points": 3, "tags": []},
          {"criterion": "Says aspirin", "points": 2, "tags": []}, {"criterion": "Says heartburn", "points": -2, "tags": []}]


def test_as_a_trl_reward_it_judges_only_the_window_and_keys_state_by_prompt_id():
    judge = KeywordJudge()
    c = RubricCurriculum(judge, Sequential(window=2), num_generations=2)
    logged = {}
    rewards = c(prompts=["q"] * 4, completions=["call", "call ecg", "ecg", ""], id=["a", "a", "b", "b"],
                rubrics=[RUBRIC] * 4, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert rewards == pytest.approx([5 / 8, 1.0, 3 / 8, 0.0])
    assert set(judge.graded) == {("Says call", "Says ecg")} and len(judge.graded) == 3  # the empty answer is not judged
    assert c.items("a")[0].ema == pytest.approx(0.1) and c.items("b")[0].ema == 0.0
    assert logged["curriculum_sequential/active_share"] == pytest.approx(0.5)
    with pytest.raises(KeyError, match="'id'"):
        c(prompts=["q"], completions=["x"], rubrics=[RUBRIC])
    with pytest.raises(ValueError, match="step order"):
        RubricCurriculum(judge, Sequential(), use_async=True)


@pytest.mark.slow
def test_a_killed_grpo_run_resumes_with_the_curriculum_state(tiny_qwen3: Path, tmp_path: Path):
    from transformers import TrainerCallback

    from heartgrpo.config.run import config_from_dict
    from heartgrpo.train.grpo import run_grpo

    rows = [{"id": f"q{i}", "prompt": [{"role": "user", "content": f"Chest pain {i}?"}], "rubrics": RUBRIC} for i in range(2)]

    def cfg(out):
        return config_from_dict({
            "name": "t", "output_dir": str(out), "model": {"name_or_path": str(tiny_qwen3), "backend": "hf"},
            "lora": {"r": 4, "alpha": 8}, "sft": {"enabled": False},
            "grpo": {"max_steps": 6, "num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 4,
                     "save_steps": 3, "logging_steps": 1},
            "reward": {"strategies": [{"name": "healthbench"}]}, "judge": {"kind": "approximate"},
            "orbit": {"curriculum": {"policy": "sequential", "window": 2}},
        })

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise RuntimeError("simulated kill")

    def curriculum(judge, c):
        from heartgrpo.train.curriculum import curriculum_from_settings
        return curriculum_from_settings(c.orbit.curriculum, judge, c)

    full_cfg = cfg(tmp_path / "full")
    full = curriculum(KeywordJudge(), full_cfg)
    run_grpo(full_cfg, rows, judge=KeywordJudge(), reward_funcs=[full])
    saved = json.loads((full_cfg.grpo_dir / "checkpoint-3" / STATE_FILE).read_text())
    assert set(saved["prompts"]) == {"q0", "q1"} and sum(e["step"] for e in saved["prompts"].values()) == 6

    part_cfg = cfg(tmp_path / "part")
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_grpo(part_cfg, rows, judge=KeywordJudge(), reward_funcs=[curriculum(KeywordJudge(), part_cfg)], callbacks=[Crash()])
    resumed = curriculum(KeywordJudge(), part_cfg)  # a fresh process: empty state until the checkpoint is read
    result = run_grpo(part_cfg, rows, judge=KeywordJudge(), reward_funcs=[resumed], resume=True)
    assert result.resumed_from.name == "checkpoint-3"
    assert resumed.state_dict() == full.state_dict()  # same completions, same verdicts, same state


def test_orbit_curriculum_in_the_config_replaces_the_rubric_strategies():
    from heartgrpo.config.run import ConfigError, config_from_dict
    from heartgrpo.train.grpo import build_reward_funcs

    base = {"name": "t", "model": {"name_or_path": "x"}, "grpo": {"num_generations": 2, "per_device_train_batch_size": 4},
            "orbit": {"curriculum": {"policy": "review", "window": 4, "power": 3.0}}}
    funcs, weights = build_reward_funcs(config_from_dict(base), KeywordJudge())
    assert len(funcs) == 1 and weights == [1.0] and isinstance(funcs[0], RubricCurriculum)
    assert funcs[0].policy == StochasticReview(window=4, power=3.0) and funcs[0].num_generations == 2
    with pytest.raises(ValueError, match="format_only"):
        build_reward_funcs(config_from_dict({**base, "reward": {"format_reward": {"enabled": True}}}), KeywordJudge())
    with pytest.raises(ConfigError, match="takes no option"):
        config_from_dict({**base, "orbit": {"curriculum": {"policy": "sequential", "admit_at": 0.8}}})
