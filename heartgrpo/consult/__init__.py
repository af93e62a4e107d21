"""Consultations: case cards, a patient simulator behind a fact gate, and multi-turn GRPO.

* :mod:`~heartgrpo.consult.cards`: the case-card schema, the shipped heart cases, the loader;
* :mod:`~heartgrpo.consult.gate`: rule-based intent classification and the deterministic fact gate;
* :mod:`~heartgrpo.consult.patient`: the scripted patient and the LLM patient (``prompts/patient_v1.txt``);
* :mod:`~heartgrpo.consult.environment`: the episode and TRL's ``rollout_func`` with ``env_mask``;
* :mod:`~heartgrpo.consult.rewards`: the consultation reward terms;
* :mod:`~heartgrpo.consult.task`: the exact multi-turn task for CPU learning;
* :mod:`~heartgrpo.consult.generate`: ``heartgrpo cases generate``.

Importing this package pulls in neither torch, transformers, trl nor openai.
"""
