"""The live ward page: beds, vitals, NEWS2 bands and alarms, updated as they happen; acknowledge from it.

``wardwatch ward serve`` runs it (``docs/ward-page.md``). Pure state in :mod:`.state`, the Kafka
feed in :mod:`.feed`, logins in :mod:`.auth`, the HTTP server in :mod:`.server`, plain HTML, CSS
and JavaScript in ``static/`` (no build step, nothing fetched from elsewhere).
"""

from wardwatch.dashboards.ward.auth import Sessions
from wardwatch.dashboards.ward.feed import WardFeed
from wardwatch.dashboards.ward.run import serve_ward
from wardwatch.dashboards.ward.server import WardPage
from wardwatch.dashboards.ward.state import WardState

__all__ = ["WardState", "WardFeed", "WardPage", "Sessions", "serve_ward"]
