#!/usr/bin/env python3
"""An example receiver of ssogate's webhooks.

ssogate signs every delivery the Standard Webhooks way (https://www.standardwebhooks.com):
the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers. This receiver
verifies them with the specification's own Python library, refuses anything it cannot
verify (401), acts on each event once (a replay or retry carries the same
`webhook-id`), and answers 204 quickly: do slow work after answering.

    pip install standardwebhooks==1.1.0
    ssogate webhook add hr http://127.0.0.1:9000/ --events user.provisioned,user.deleted
    WEBHOOK_SECRET=whsec_… python3 receiver.py

Environment: WEBHOOK_SECRET (the `whsec_…` secret `ssogate webhook add` printed),
WEBHOOK_PORT (default 9000). Prints `listening <url>` when ready, then one JSON line
per event.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = os.environ["WEBHOOK_SECRET"]
PORT = int(os.environ.get("WEBHOOK_PORT", "9000"))
MAX_BODY = 1 << 20

verifier = Webhook(SECRET)
seen = set()
seen_lock = Lock()


def handle(event):
    """Where a real receiver acts: create the account in another system, revoke its
    access when it is disabled or deleted, open a ticket for an approval..."""
    user = event.get("data", {}).get("user", {})
    print(json.dumps({"type": event["type"], "username": user.get("username"),
                      "status": user.get("status")}), flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        if length > MAX_BODY:
            return self.answer(413)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = verifier.verify(body, headers)
        except WebhookVerificationError as e:
            print(json.dumps({"rejected": str(e)}), flush=True)
            return self.answer(401)
        msg_id = headers["webhook-id"]
        with seen_lock:
            duplicate = msg_id in seen
            seen.add(msg_id)
        if duplicate:
            print(json.dumps({"duplicate": msg_id}), flush=True)
        else:
            handle(event)
        self.answer(204)

    def answer(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Receiver)
    print(f"listening http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
