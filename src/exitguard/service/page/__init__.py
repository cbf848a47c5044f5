"""The live status page: hand-written static files (index.html, app.js, style.css), no build step.

The service serves ``index.html`` at ``/`` and this directory at ``/static/`` without a token; the
page carries no data and reads everything from the token-guarded API (the service contract).
"""

from pathlib import Path

PAGE_DIR = Path(__file__).parent
