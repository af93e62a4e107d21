"""heartgrpo: GRPO with LLM-judged rubric rewards for heart-focused medical QA.

Light at import: submodules (rewards, rubrics, judge, data, train, eval) are imported on use.
"""

__version__ = "0.1.0"
