import sys
from pathlib import Path

try:  # installed (pip install -e .) or PYTHONPATH=src
    import driftsync.simulator  # noqa: F401
except ImportError:  # plain checkout: make src/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
