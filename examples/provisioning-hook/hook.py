#!/usr/bin/env python3
"""An example ssogate provisioning hook (LiveCycle's IdentityCreator and
AssignmentProvider, as a small web service), using only Python's standard library.

ssogate POSTs every sign-in through a provider whose `provisioning.hooks` names this
hook: the claims, the decision its policy proposes and what earlier hooks answered. The
request is signed as Standard Webhooks signs messages; this hook refuses anything whose
signature or timestamp does not check out. It answers with:

* a denial for addresses in DENY_DOMAINS (default: contractors.example), with a message
  the person sees;
* the group STAFF_GROUP (default: Readers) for verified addresses in STAFF_DOMAINS
  (default: example.org);
* the display name "Name (Department)" when the claims carry a `department`.

    HOOK_SECRET=whsec_... HOOK_PORT=9090 python3 hook.py

and in ssogate.toml:

    [hooks.directory]
    url = "http://127.0.0.1:9090/"
    secret = "whsec_..."          # the same secret
    timeout_ms = 2000
    on_failure = "deny"           # or "ignore"

    [providers.corp.provisioning]
    hooks = ["directory"]
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["HOOK_SECRET"]
TOLERANCE = 300  # seconds a signed request stays acceptable (replays after that fail)
DENY = {d.strip().lower() for d in os.environ.get("DENY_DOMAINS", "contractors.example").split(",") if d.strip()}
STAFF = {d.strip().lower() for d in os.environ.get("STAFF_DOMAINS", "example.org").split(",") if d.strip()}
STAFF_GROUP = os.environ.get("STAFF_GROUP", "Readers")


def key():
    if SECRET.startswith("whsec_"):
        return base64.b64decode(SECRET[len("whsec_"):])
    return SECRET.encode()


def verified(headers, body):
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    try:
        if abs(time.time() - int(stamp)) > TOLERANCE:
            return False
    except ValueError:
        return False
    mac = hmac.new(key(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(
        s.startswith("v1,") and hmac.compare_digest(s[3:], expected)
        for s in signatures.split()
    )


def decide(event):
    claims = event.get("claims", {})
    email = str(claims.get("email") or "").lower()
    domain = email.rpartition("@")[2]
    if domain in DENY:
        return {"deny": "Contractors sign in through the partner portal, not here.",
                "note": f"{domain} is a contractor domain"}
    answer = {}
    if claims.get("department") and claims.get("name"):
        answer["attributes"] = {"display_name": f"{claims['name']} ({claims['department']})"}
    if domain in STAFF and claims.get("email_verified") is True:
        answer["grant"] = {"groups": [STAFF_GROUP]}
        answer["note"] = f"staff address at {domain}"
    return answer


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        answer = json.dumps(decide(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, fmt, *args):
        sys.stderr.write("hook: " + fmt % args + "\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("HOOK_PORT", "9090"))), Hook)
    print(f"listening http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()
