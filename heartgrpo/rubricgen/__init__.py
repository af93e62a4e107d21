"""heartgrpo.rubricgen: rubrics written by an LLM (``heartgrpo rubrics generate|check|compare``).

Generation (:mod:`~heartgrpo.rubricgen.generate`), parsing, quality checks, comparison with
physician-written rubrics, and the rubric files.
"""
