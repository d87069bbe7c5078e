"""The HTTP client against servers a breaker wrote: a redirect to another host (the API key must not follow),
a connection that gets through after the request's deadline, replies without text (a content filter, a
refusal), a finish_reason that is not text, credentials in the URL, cache entries of the wrong type, and a
second Ctrl-C while requests hang."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cotnpot.generate import GenProblem, generate
from cotnpot.jsonl_store import JsonlStore
from cotnpot.translate.client import OpenAICompatibleClient, RequestRefused, ServerUnavailable, _Watchdog

PROBLEMS = [GenProblem("1", "What is 1 plus 1?", "2"), GenProblem("2", "What is 2 plus 2?", "4")]


class Server:
    """A server on 127.0.0.1 whose answer to every POST is ``reply(handler)``; it records what it received."""

    def __init__(self, reply):
        self.received = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.received.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))

            def do_POST(self):
                self._record()
                reply(self)

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler, payload, status=200):
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def chat_reply(message, finish_reason="stop"):
    return lambda h: send_json(h, {"choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]})


def client(url, **kw):
    return OpenAICompatibleClient(url, "m", retries=0, backoff=0.01, timeout=5, **kw)


def test_a_redirect_is_not_followed_and_the_key_stays_home():
    """urllib followed a 302 to any host, the API key with it, as a GET without the prompt, and took the other
    host's reply as the completion."""
    other = Server(chat_reply({"role": "assistant", "content": "from elsewhere"}))

    def redirect(h):
        h.send_response(302)
        h.send_header("Location", f"{other.url.replace('127.0.0.1', 'localhost')}/v1/chat/completions")
        h.send_header("Content-Length", "0")
        h.end_headers()
    first = Server(redirect)
    try:
        with pytest.raises(RequestRefused, match=r"answered HTTP 302, a redirect to 'http://localhost:\d+/v1/chat/"
                                                 r"completions': cotnpot does not follow redirects"):
            client(first.url, api_key="sk-SECRET").complete(["hello"])
    finally:
        first.close()
        other.close()
    assert len(first.received) == 1 and first.received[0][2]["Authorization"] == "Bearer sk-SECRET"
    assert other.received == []


def test_a_socket_that_connects_after_the_deadline_is_shut_down_at_once():
    """The watchdog shut down only the sockets it knew at the deadline: a connection that got through later (a
    redirect's, a SYN retransmitted) read a byte a second for ever, past --timeout."""
    watchdog = _Watchdog(0.05)
    with watchdog:
        time.sleep(0.2)
    assert watchdog.expired
    mine, peer = socket.socketpair()
    try:
        watchdog.track(mine)
        mine.settimeout(5)
        assert mine.recv(1) == b""    # shut down: reading ends at once instead of waiting on the peer
        with pytest.raises(OSError):
            mine.sendall(b"x")
    finally:
        mine.close()
        peer.close()


@pytest.mark.parametrize("message, finish_reason, why", [
    ({"role": "assistant", "content": None}, "content_filter", "gave no text"),
    ({"role": "assistant", "content": None, "refusal": "I can't help"}, "stop", 'refusal "I can\'t help"'),
    ({"role": "assistant", "content": ""}, "content_filter", "filtered the completion"),
])
def test_replies_without_text_are_refusals_not_cached_samples(tmp_path, message, finish_reason, why):
    """A content filter's null content had been cached as an empty sample (and an empty program by the
    translator), never to be asked for again."""
    server = Server(chat_reply(message, finish_reason))
    try:
        with pytest.raises(RequestRefused, match=why):
            client(server.url).complete(["q"])
        result = generate(PROBLEMS, client(server.url), n=2, cache=tmp_path / "s.jsonl", concurrency=2)
    finally:
        server.close()
    assert result.counts["refused"] == 4 and result.counts["made"] == 0
    assert not (tmp_path / "s.jsonl").exists() or (tmp_path / "s.jsonl").read_text() == ""


def test_a_finish_reason_that_is_not_text_is_a_malformed_reply():
    """1e999 had been written through as JSON's bare Infinity, a dict as it was."""
    for reason in (1e999, {"a": 1}, 3):
        server = Server(chat_reply({"role": "assistant", "content": "x"}, reason))
        try:
            with pytest.raises(ServerUnavailable, match="a finish_reason that is not text"):
                client(server.url).complete(["q"])
        finally:
            server.close()


def test_credentials_in_the_url_are_refused_without_echoing_them():
    """urllib read "user:sk-...@host" as a host name and printed the key in its error."""
    with pytest.raises(ValueError) as err:
        client("http://user:sk-SECRET@127.0.0.1:1/v1")
    assert "must not hold credentials" in str(err.value) and "SECRET" not in str(err.value)


def test_cache_entries_of_the_wrong_type_are_made_again(tmp_path):
    """A cached sample whose text was 5 or null (or missing) crashed every rerun with a TypeError."""
    server = Server(chat_reply({"role": "assistant", "content": "so \\boxed{2}"}))
    cache = tmp_path / "s.jsonl"
    try:
        generate(PROBLEMS, client(server.url), n=2, cache=cache, concurrency=1)
        lines = [json.loads(line) for line in cache.read_text().splitlines()]
        broken = [{**lines[0], "text": 5}, {**lines[1], "text": None}, {"key": lines[2]["key"]},
                  {**lines[3], "finish_reason": {"a": 1}}]
        cache.write_text("".join(json.dumps(e) + "\n" for e in broken))
        assert JsonlStore(cache).skipped == 0 and JsonlStore(cache, valid=lambda e: False).skipped == 4
        asked = len(server.received)
        result = generate(PROBLEMS, client(server.url), n=2, cache=cache, concurrency=1)
    finally:
        server.close()
    assert result.counts["made"] == 4 and result.counts["cached"] == 0 and len(server.received) == asked + 4
    assert all(s["text"] == "so \\boxed{2}" for row in result.samples for s in row)


def test_api_key_from_the_environment_variable_named(tmp_path, capsys, monkeypatch):
    """There was no way to give the CLI a key; --api-key-env names the variable (not the key itself, which `ps`
    shows), and an unset one is a usage error."""
    from cotnpot.cli import main
    server = Server(chat_reply({"role": "assistant", "content": "so \\boxed{2}"}))
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"question": "What is 1 plus 1?", "answer": "#### 2"}) + "\n")
    monkeypatch.setenv("MY_KEY", "sk-FROM-ENV")
    try:
        args = ["generate", "--problems", str(problems), "--server", server.url, "--model", "m", "--n", "1",
                "--out", str(tmp_path / "c.jsonl"), "--quiet"]
        assert main([*args, "--api-key-env", "MY_KEY"]) == 0
        assert server.received[-1][2]["Authorization"] == "Bearer sk-FROM-ENV"
        assert main([*args, "--api-key-env", "NO_SUCH_VARIABLE_HERE"]) == 2
        assert "--api-key-env NO_SUCH_VARIABLE_HERE: the environment variable is not set" in capsys.readouterr().err
        assert main([*args, "--timeout", "0"]) == 2 and "--timeout must be in (0, 1e6]" in capsys.readouterr().err
        assert main([*args, "--retries", "-1"]) == 2 and "--retries must be in [0, 100]" in capsys.readouterr().err
    finally:
        server.close()


def test_a_second_ctrl_c_ends_generate_while_requests_hang(tmp_path):
    """Against a server that never answers, the first Ctrl-C waits for the requests in flight (their replies are
    kept); the second had ended main, but the interpreter then joined the request threads, each up to its
    timeout and retries (three more presses; a breaker). It now exits at once with 130."""
    hang = threading.Event()
    server = Server(lambda h: hang.wait(120))
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"question": "What is 1 plus 1?", "answer": "#### 2"}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "cotnpot", "generate", "--problems", str(problems), "--server",
                             server.url, "--model", "m", "--n", "2", "--out", str(tmp_path / "c.jsonl"), "--quiet",
                             "--timeout", "100"], stderr=subprocess.PIPE, text=True,
                            # SIGINT as in an interactive shell: a test run started in the background (make
                            # test under fresh-run) passes SIGINT on ignored, and Python then never raises
                            # KeyboardInterrupt
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while len(server.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.received) == 2
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None   # the first press waits for the requests in flight
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130 and time.monotonic() - start < 10, err
        assert "Ctrl-C again to stop now" in err and err.rstrip().endswith("cotnpot generate: interrupted"), err
        assert "Traceback" not in err and "Exception ignored" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
        hang.set()
        server.close()


def test_a_reply_longer_than_max_tokens_allows_is_refused():
    """Only each reply's bytes were capped (64 MiB): 16 replies of 60 MB for max_tokens 1024 took 3.3 GB and
    filled the cache. A text longer than max_tokens tokens can be (128 characters each) is a broken server's."""
    server = Server(chat_reply({"role": "assistant", "content": "x" * (128 * 8 + 1)}))
    try:
        with pytest.raises(ServerUnavailable, match="a reply of 1025 characters, more than max_tokens 8 tokens"):
            client(server.url, max_tokens=8).complete(["q"])
        assert client(server.url, max_tokens=9).complete(["q"])[0].text == "x" * 1025
    finally:
        server.close()


def test_a_tls_handshake_sent_a_byte_at_a_time_ends_at_the_timeout():
    """The watchdog learned of an HTTPS socket only after its handshake: a server sending its handshake a byte
    every 0.2 s (each read within the socket's timeout) held the request past it (a reviewer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)   # the ClientHello
            record = b"\x16\x03\x03\x40\x00" + b"\x02" * 16384   # a 16 KB handshake record, never finished
            for byte in record:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    start = time.monotonic()
    try:
        with pytest.raises(ServerUnavailable, match="TimeoutError: the reply took longer than the request's timeout"):
            OpenAICompatibleClient(f"https://127.0.0.1:{port}", "m", retries=0, timeout=1.0).complete(["q"])
        assert time.monotonic() - start < 5
    finally:
        stop.set()
        listener.close()


def test_after_an_interruption_a_request_in_flight_is_not_retried(tmp_path):
    """Found by a breaker: after Ctrl-C, requests in flight went on retrying for their whole budget (eval's
    translations silently, generate's too), minutes with the defaults. Cancelled, the attempt in flight ends
    and no other starts; the translator and generate set it on the first Ctrl-C."""
    def slow_failure(h):
        time.sleep(0.5)
        send_json(h, {"error": "busy"}, status=503)
    server = Server(slow_failure)
    try:
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        ask = OpenAICompatibleClient(server.url, "m", retries=5, backoff=2.0, timeout=5)
        start = time.monotonic()
        with pytest.raises(ServerUnavailable, match="stopped after 1 attempt, no retry after an interruption "
                                                    r"\(last: HTTP 503\)"):
            ask.complete(["q"], cancel=cancel)
        assert time.monotonic() - start < 1.5 and len(server.received) == 1
        with pytest.raises(ServerUnavailable, match="not asked, after an interruption"):
            ask.complete(["q"], cancel=cancel)
        assert len(server.received) == 1
    finally:
        server.close()
