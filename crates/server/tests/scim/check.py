#!/usr/bin/env python3
"""Runs the SCIM compliance checker scim2-tester (PyPI) against a live ssogate and prints
every check's result as one JSON document. Usage: check.py BASE_URL TOKEN"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server

base, token = sys.argv[1], sys.argv[2]
http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
results = check_server(SyncSCIMClient(http), raise_exceptions=False)
print(json.dumps([
    {
        "title": r.title,
        "status": r.status.name,
        "reason": r.reason,
        "resource_type": r.resource_type,
        "tags": sorted(r.tags),
    }
    for r in results
]))
