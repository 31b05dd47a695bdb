"""driftsync: sync Drift (drift.com) data into DuckDB or any dlt destination."""

__version__ = "0.1.0"
