"""heartgrpo.judge.verifier: a local verifier trained on GPT-4.1 verdicts (``heartgrpo verifier``).

The model and its judge (:mod:`~heartgrpo.judge.verifier.model`), features and feature crosses, the
graded examples, training and measurement, and the distilled judge that asks a remote judge only
where the verifier is unsure.
"""
