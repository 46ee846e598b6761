"""Installed package versions: the one place that asks ``importlib.metadata``.

A model card and a run bundle both record which software made them, so that a reader can rebuild
the environment; asking in one place keeps the two records spelled the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` in the order given; ``"unknown"`` for a package not installed."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def herbseg_version() -> str:
    """The installed herbseg's version, else the source tree's ``__version__`` (not installed)."""
    installed = package_versions(["herbseg"])["herbseg"]
    if installed != "unknown":
        return installed
    from herbseg import __version__

    return __version__


def installed_packages() -> dict[str, str]:
    """Every installed distribution, by its PEP 503 normal name
    (segmentation_models_pytorch → segmentation-models-pytorch)."""
    dists = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return dists
