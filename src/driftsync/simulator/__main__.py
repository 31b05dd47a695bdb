"""``python -m driftsync.simulator ...`` runs the ``simulate`` command."""

from .cli import simulate

if __name__ == "__main__":
    simulate(prog_name="python -m driftsync.simulator")
