"""A local server that speaks the OpenAI chat/completions protocol, for the translator tests."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1: answers chat and completions, can fail the first
    requests with 503, and records every request."""

    def __init__(self, fail_first=0):
        self.requests, self.fail_left = [], fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body))
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    self.send_response(404)
                    self.end_headers()
                    return
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path == "/v1/completions":
                    reply = {"choices": [{"index": i, "text": f"```python\nans = {len(p)}\n```"}
                                         for i, p in enumerate(body["prompt"])]}
                else:
                    content = body["messages"][0]["content"]
                    reply = {"choices": [{"message": {"role": "assistant",
                                                      "content": f"Here:\n```python\nans = {len(content)}\n```"}}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
