"""Offline, faithful simulator of the Drift REST API (drift.com), for tests, demos and benchmarks.

It shares no code with the rest of driftsync on purpose: a bug in the client cannot be copied
into the fake. See ``samples/SOURCES.md`` for the real Drift payloads it serves.

Modules: ``config`` (every knob), ``data`` (deterministic dataset), ``server`` (HTTP, rate
limit, faults, data mutations, admin routes, test hooks), ``messages`` / ``contacts`` /
``meetings`` (records derived on demand per id), ``org`` (playbooks, landing pages, teams,
contact attribute definitions), ``oauth`` (token refresh, rotation, expiry), ``mutations``
(rules of the deterministic mutations), ``cli`` (``simulate`` command).
"""

from .config import SimulatorConfig
from .data import Dataset, generate_dataset
from .server import DriftSimulator

__all__ = ["SimulatorConfig", "DriftSimulator", "generate_dataset", "Dataset"]
