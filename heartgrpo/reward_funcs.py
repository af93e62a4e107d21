"""Former home of the TRL reward adapter; it lives in :mod:`heartgrpo.rewards.trl` (re-exported here)."""

from heartgrpo.rewards.trl import extract_answer, make_reward_func, trl_supports_async_rewards

__all__ = ["extract_answer", "make_reward_func", "trl_supports_async_rewards"]
