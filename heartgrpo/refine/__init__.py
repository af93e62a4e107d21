"""MuSeR-style self-refined SFT data: attribute sampler, query generation, critique, refine, measure.

Entry points: :func:`heartgrpo.refine.pipeline.run_refine` (CLI ``heartgrpo refine``) and
:func:`heartgrpo.refine.measure.measure_refinement` (``heartgrpo refine --measure``).
"""
