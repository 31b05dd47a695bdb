"""driftsync: sync Drift (drift.com) data into DuckDB or any dlt destination.

``from driftsync import drift_source`` gives the dlt source (:mod:`driftsync.source`); it is
imported on first use, so the command line does not pay for dlt when it does not need it.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "drift_source"]


def __getattr__(name: str) -> Any:
    if name == "drift_source":
        from .source import drift_source

        return drift_source
    raise AttributeError(f"module 'driftsync' has no attribute {name!r}")
