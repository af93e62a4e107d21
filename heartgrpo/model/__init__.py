"""heartgrpo.model: loading models for training and generation.

The backend seam (``unsloth`` | ``hf``) in :mod:`~heartgrpo.model.backend`, the tokenizer and chat
template, the one vLLM engine per process, the CPU demo model, the tiny test model, adapter export
and the TRL vLLM server launcher.
"""
