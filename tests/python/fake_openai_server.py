"""A local server that speaks the OpenAI chat/completions protocol, for the translator tests."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1: answers chat and completions, can fail the first
    requests with 503, and records every request."""

    def __init__(self, fail_first=0, answers=None, die_after=None, garbage_first=0, cut_first=0, choices=None,
                 delay=0.0):
        """answers: question -> right answer; a prompt holding a known question is answered like a reasoner:
        right for even seeds, off by one for odd ones. A prompt with "TOO LONG" is refused (400, over the
        context); one with "CUT" comes back with finish_reason "length". die_after: after that many answers
        the server hangs up on every request. garbage_first: that many replies are not JSON. delay: seconds
        each answer takes (a slow model)."""
        self.requests, self.fail_left = [], fail_first
        self.answers, self.die_after, self.garbage_left, self.answered = dict(answers or {}), die_after, garbage_first, 0
        self.lock = threading.Lock()
        self.cut_left = cut_first   # that many replies end before their Content-Length (the peer hangs up)
        self.choices = choices      # a fixed "choices" value to send (malformed replies)
        self.delay = delay
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
                with outer.lock:
                    if outer.die_after is not None and outer.answered >= outer.die_after:
                        self.close_connection = True   # hang up without an answer
                        return
                    failing = outer.fail_left > 0
                    outer.fail_left -= failing
                    garbage = not failing and outer.garbage_left > 0
                    outer.garbage_left -= garbage
                if failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                prompts = body["prompt"] if self.path == "/v1/completions" else [body["messages"][0]["content"]]
                if any("TOO LONG" in p for p in prompts):
                    data = b'{"error": {"message": "maximum context length exceeded"}}'
                    self.send_response(400)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                time.sleep(outer.delay)
                texts = [outer.reply_text(p, body.get("seed")) for p in prompts]
                finish = ["length" if "CUT" in p else "stop" for p in prompts]
                if self.path == "/v1/completions":
                    reply = {"choices": [{"index": i, "text": t, "finish_reason": f}
                                         for i, (t, f) in enumerate(zip(texts, finish))]}
                else:
                    reply = {"choices": [{"message": {"role": "assistant", "content": texts[0]},
                                          "finish_reason": finish[0]}]}
                with outer.lock:
                    outer.answered += 1
                if outer.choices is not None:
                    reply = {"choices": outer.choices}
                data = b"<html>bad gateway</html>" if garbage else json.dumps(reply).encode()
                with outer.lock:
                    cut = outer.cut_left > 0
                    outer.cut_left -= cut
                if cut:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data) + 100))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply_text(self, prompt, seed):
        for question, answer in self.answers.items():
            if question in prompt:
                value = answer if (seed or 0) % 2 == 0 else str(int(answer) + 1)
                return f"Let me work it out step by step.\nSo the result is \\boxed{{{value}}}."
        return f"Here:\n```python\nans = {len(prompt)}\n```"   # a coder LLM's translation

    def close(self):
        self.server.shutdown()
        self.server.server_close()
