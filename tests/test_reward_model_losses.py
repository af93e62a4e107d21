"""The reward model's losses, fit, features and file format, on synthetic problems with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartgrpo.judge.agreement import pairwise_agreement  # noqa: E402
from heartgrpo.judge.reward_model.features import FEATURE_NAMES, answer_features, canonical_answer  # noqa: E402
from heartgrpo.judge.reward_model.losses import bt_loss, gprc_loss, projection  # noqa: E402
from heartgrpo.judge.reward_model.model import RewardModel  # noqa: E402
from heartgrpo.judge.reward_model.pairs import ordered_pairs, ordered_triples  # noqa: E402
from heartgrpo.judge.reward_model.train import FitSettings, fit_reward_model  # noqa: E402


def test_bt_loss_value_and_gradient():
    s = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    pairs = torch.tensor([[0, 1], [2, 1]])
    loss = bt_loss(s, pairs)
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    assert float(loss) == pytest.approx(expected)
    assert torch.autograd.gradcheck(lambda x: bt_loss(x, pairs), (s,))


def test_gprc_loss_zero_inside_positive_outside_and_gradcheck():
    tri = torch.tensor([[0, 1, 2]])
    inside = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)  # medium half-way, on the axis
    assert float(gprc_loss(inside, tri)) == pytest.approx(0.0, abs=1e-9)
    beyond = torch.tensor([[2.0, 0.0], [3.0, 0.0], [0.0, 0.0]], dtype=torch.float64)  # t = 1.5
    assert float(gprc_loss(beyond, tri, margin=0.0)) == pytest.approx(0.25, rel=1e-4)
    off_axis = torch.tensor([[2.0, 0.0], [1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)  # t = 0.5, perp = 4 / 4
    assert float(gprc_loss(off_axis, tri, perp_weight=0.1)) == pytest.approx(0.1, rel=1e-4)
    h = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    tris = torch.tensor([[0, 1, 2], [3, 4, 0]])
    assert torch.autograd.gradcheck(lambda x: gprc_loss(x, tris), (h,))
    t, perp = projection(off_axis.numpy()[[0]], off_axis.numpy()[[1]], off_axis.numpy()[[2]])
    assert t[0] == pytest.approx(0.5) and perp[0] == pytest.approx(1.0, rel=1e-4)


def test_pairs_and_triples_follow_the_reference():
    groups = ["a"] * 4 + ["b"] * 2
    ref = [0.1, 0.9, 0.5, 0.5, 0.3, 0.3]
    pairs = ordered_pairs(groups, ref)
    assert {tuple(p) for p in pairs} == {(1, 0), (2, 0), (3, 0), (1, 2), (1, 3)}
    tri = ordered_triples(groups, ref)
    assert {tuple(t) for t in tri} == {(1, 2, 0), (1, 3, 0)}


def _synthetic(n_groups: int, seed: int):
    """Answers whose grader score is a known non-linear function of two features; the rest is noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_groups * 6, 5))
    ref = np.tanh(x[:, 0]) + 0.5 * x[:, 1]
    groups = [f"{seed}-{i // 6}" for i in range(len(x))]
    return x, groups, list(ref)


def test_fit_recovers_a_known_ordering_on_held_out_groups():
    x, g, ref = _synthetic(60, 0)
    xt, gt, reft = _synthetic(40, 1)
    m = fit_reward_model(x, g, ref, settings=FitSettings(epochs=200, hidden=8))
    held_out = pairwise_agreement(gt, list(m.score(xt)), reft, n_boot=50)["agreement"]
    assert held_out > 0.9
    noise_only = fit_reward_model(x[:, 2:], g, ref, settings=FitSettings(epochs=200, hidden=8))
    assert pairwise_agreement(gt, list(noise_only.score(xt[:, 2:])), reft, n_boot=50)["agreement"] < 0.65


def test_gprc_puts_the_medium_answer_between_in_the_representation():
    x, g, ref = _synthetic(60, 0)
    tri = ordered_triples(g, ref)

    def inside(weight: float) -> float:
        m = fit_reward_model(x, g, ref, settings=FitSettings(epochs=200, hidden=8, gprc_weight=weight))
        h = m.represent(x)
        t, _ = projection(h[tri[:, 0]], h[tri[:, 1]], h[tri[:, 2]])
        return float(np.mean((t > 0) & (t < 1)))

    assert inside(5.0) > inside(0.0)


def test_dimension_heads_learn_their_own_target():
    x, g, ref = _synthetic(60, 0)
    other = list(-x[:, 3])  # a dimension whose grader score is a different feature
    m = fit_reward_model(x, g, ref, {"emergency": other}, FitSettings(epochs=200, hidden=8))
    s = m.scores(x)
    assert m.heads == ("overall", "emergency")
    assert pairwise_agreement(g, list(s[:, 1]), other, n_boot=20)["agreement"] > 0.85
    assert pairwise_agreement(g, list(s[:, 0]), other, n_boot=20)["agreement"] < 0.65


def test_save_load_round_trip_without_pickle(tmp_path):
    x, g, ref = _synthetic(10, 0)
    m = fit_reward_model(x, g, ref, settings=FitSettings(epochs=20, hidden=4))
    path = m.save(tmp_path / "rm.npz")
    back = RewardModel.load(path)
    np.testing.assert_allclose(back.scores(x), m.scores(x))
    assert back.info["settings"]["hidden"] == 4
    with np.load(path, allow_pickle=False) as data:  # every member is a plain array
        assert set(data.files) == {"mean", "std", "w", "b", "v", "c", "meta"}
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a reward model file"):
        RewardModel.load(tmp_path / "bad.npz")


def test_canonical_answer_drops_repeats_so_features_do_not_move():
    conv = [{"role": "user", "content": "I have chest pain when I walk"}]
    rubric = [{"criterion": "Advises seeing a doctor about the chest pain", "points": 5}, {"criterion": "Mentions an ECG", "points": 3}]
    answer = "See a doctor soon about the chest pain.\nAn ECG can help. Rest if it hurts."
    padded = answer + " An ECG can help. See a doctor soon about the chest pain.\n\nRest if it hurts."
    assert canonical_answer(padded) == canonical_answer(answer)
    np.testing.assert_array_equal(answer_features(conv, padded, rubric, [0.7, 0.4]), answer_features(conv, answer, rubric, [0.7, 0.4]))
    x = answer_features(conv, answer, rubric, [1.0, 0.0])
    assert len(x) == len(FEATURE_NAMES)
    assert x[FEATURE_NAMES.index("expected_score")] == pytest.approx(5 / 8)
