"""heartgrpo.config: the run configuration, one pydantic section per stage.

:mod:`~heartgrpo.config.run` composes :class:`RunConfig` and loads YAML (:func:`load_config`);
sections live beside it: judge, logging and hardware (:mod:`~heartgrpo.config.judge`), data
(:mod:`~heartgrpo.config.data`), evaluation (:mod:`~heartgrpo.config.eval`).

    >>> from heartgrpo.config import RunConfig
    >>> RunConfig.model_fields["seed"].default
    3407
"""

from heartgrpo.config.run import ConfigError, RunConfig, config_from_dict, load_config

__all__ = ["ConfigError", "RunConfig", "config_from_dict", "load_config"]
