"""The seven query attributes of the refine stage and their values, read from a versioned file.

``attributes_<version>.json`` holds ``{"version", "attributes": {name: [values...]}}`` with the
seven names of :data:`ATTRIBUTE_NAMES`. Its identity ``attributes_v1@<sha12 of the file>`` goes
into every row's provenance, so two datasets built from different value lists never pass as one.

Example:
    >>> spec = load_attributes("v1")
    >>> spec.names == ATTRIBUTE_NAMES, spec.values["missing_context"]
    (True, ('none', 'some', 'critical'))
    >>> spec.identity.startswith("attributes_v1@")
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

__all__ = ["ATTRIBUTE_NAMES", "AttributeSpec", "load_attributes"]

#: the seven attributes every generated query is conditioned on
ATTRIBUTE_NAMES: tuple[str, ...] = (
    "asker_role", "region_setting", "intent", "missing_context", "age_group", "language", "heart_topic",
)


@dataclass(frozen=True)
class AttributeSpec:
    """Attribute name -> its values (in file order), the file's version and identity."""

    version: str
    values: dict[str, tuple[str, ...]]
    identity: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)


def load_attributes(version: str = "v1") -> AttributeSpec:
    """Read and check ``attributes_<version>.json``: the seven names, each with distinct non-empty values."""
    text = resources.files("heartgrpo.refine").joinpath(f"attributes_{version}.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    attrs = raw.get("attributes")
    if not isinstance(attrs, dict) or tuple(attrs) != ATTRIBUTE_NAMES:
        raise ValueError(f"attributes_{version}.json: expected the attributes {list(ATTRIBUTE_NAMES)} in that order, "
                         f"got {list(attrs) if isinstance(attrs, dict) else attrs!r}")
    values: dict[str, tuple[str, ...]] = {}
    for name, vals in attrs.items():
        if not isinstance(vals, list) or not vals or not all(isinstance(v, str) and v.strip() for v in vals):
            raise ValueError(f"attributes_{version}.json: {name} needs a non-empty list of non-empty strings")
        if len(set(vals)) != len(vals):
            raise ValueError(f"attributes_{version}.json: {name} repeats a value")
        values[name] = tuple(vals)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return AttributeSpec(version=str(raw.get("version", version)), values=values, identity=f"attributes_{version}@{sha}")
