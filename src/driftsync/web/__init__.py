"""driftsync's web app: Resources, Add Resource, tables, runs and queries in the browser.

``driftsync serve`` serves it next to the scheduler (:mod:`.server`); :func:`create_app`
builds it for any ASGI server or test client.
"""

from .app import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
