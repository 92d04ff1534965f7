#!/usr/bin/env python3
"""Container health check: JupyterLab answers /api/status with the token.

The token is read from the environment here rather than written into the
healthcheck command, and sent as a header so it stays out of URLs and logs.
"""

import os
import sys
import urllib.request

request = urllib.request.Request(
    "http://127.0.0.1:8288/api/status",
    headers={"Authorization": "token " + os.environ.get("DVENT_JUPYTER_TOKEN", "")},
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as err:  # connection refused, 403, timeout: all unhealthy
    print(f"unhealthy: {err}", file=sys.stderr)
    sys.exit(1)
