"""Fixtures of the alert tests: a real HTTP receiver on loopback (`receiving`)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiving:
    """A loopback HTTP receiver answering with a scripted list of statuses (then 200), recording requests."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict, object]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, dict(self.headers), body))
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiving():
    made = []

    def _make(statuses=()):
        r = Receiving(statuses)
        made.append(r)
        return r

    yield _make
    for r in made:
        r.close()
