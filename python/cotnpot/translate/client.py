"""The HTTP side of every model cotnpot talks to: one client for OpenAI-compatible servers (vLLM,
llama.cpp server, SGLang, OpenAI itself), used by the coder-LLM translators and by ``cotnpot generate``.

- The base URL may be given with or without the ``/v1`` suffix (the vLLM/OpenAI convention is with).
- Every request has a timeout, for the whole exchange: at its deadline the socket is shut down, whatever
  is being read (the status line, a header, the body; a server trickling bytes had held a request for as
  long as it liked), and a reply may be at most ``max_reply_bytes`` (64 MiB). It is retried with
  exponential back-off on connection errors, timeouts, 429, 5xx and replies that are not JSON (cut short,
  nested too deeply, too large); after the last attempt :class:`ServerUnavailable` says which server and
  why.
- A 4xx answer (other than 429) refuses that request only (a prompt over the server's context, say):
  :class:`RequestRefused`, which callers turn into that one item's failure and go on. So does a reply
  without text (null content, a ``refusal``, ``finish_reason`` "content_filter") and a redirect, which is
  never followed (the API key would go with it to another host).
- A reply whose text is longer than ``max_tokens`` tokens can be, or whose ``finish_reason`` is not text,
  is a broken server's: :class:`ServerUnavailable`.
- Each completion carries its ``finish_reason``; ``"length"`` means the reply was cut at ``max_tokens``.
- :meth:`OpenAICompatibleClient.identity` names the model, the API and every sampling parameter: what a
  cache key must cover.
"""
import functools
import http.client
import json
import math
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

APIS = ("chat", "completions")
MAX_REPLY_BYTES = 64 << 20   # far above any completion: a bound on what a broken server can make us hold


def _retry_after(value: Optional[str], cap: float) -> Optional[float]:
    """Seconds a 429's or 503's Retry-After asks for (a number of seconds; an HTTP date is not read), at most
    ``cap``: a rate-limited server answered every retry with 429 while the client came back after 0.5-2 s, and
    the whole evaluation failed (found by a breaker)."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return min(max(seconds, 0.0), cap) if math.isfinite(seconds) else None


class _Tracked:
    """A connection class that hands its socket to the request's watchdog once connected."""

    def __init__(self, *args, track, **kwargs):
        super().__init__(*args, **kwargs)
        self._track = track

    def connect(self):
        super().connect()
        self._track(self.sock)


class _TrackedHTTP(_Tracked, http.client.HTTPConnection):
    pass


class _TrackedHTTPS(_Tracked, http.client.HTTPSConnection):
    def connect(self):
        """HTTPSConnection.connect, with the TCP socket handed to the watchdog before the TLS handshake: tracked
        after it, a server sending its handshake slowly had held the request past its timeout (a reviewer)."""
        http.client.HTTPConnection.connect(self)   # TCP (and a proxy's tunnel)
        self._track(self.sock)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._tunnel_host or self.host)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, track):
        super().__init__()
        self._track = track

    def http_open(self, req):
        return self.do_open(functools.partial(_TrackedHTTP, track=self._track), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, track):
        super().__init__()
        self._track = track

    def https_open(self, req):
        return self.do_open(functools.partial(_TrackedHTTPS, track=self._track), req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib followed them to any host, with the API key, a POST turned into a
    GET without its prompt, and the other host's reply taken as the completion (a breaker). The 3xx is then an
    HTTPError, which names where it pointed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Watchdog:
    """Shuts a request's sockets down at its deadline: the socket's timeout bounds each read only, so a server
    sending a byte now and then (in the headers as in the body) held a request for as long as it liked. The
    blocked read then ends, and the request fails as timed out."""

    def __init__(self, timeout: float):
        self.sockets: list = []
        self.expired = False
        self._lock = threading.Lock()
        self.opener = urllib.request.build_opener(_HTTPHandler(self.track), _HTTPSHandler(self.track), _NoRedirect())
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def track(self, sock) -> None:
        """A socket of this request, connected now. One that connects after the deadline is shut down at once:
        only those known at the deadline had been, so a connection that got through late (a SYN retransmit)
        then read a byte a second for ever (a breaker)."""
        with self._lock:
            self.sockets.append(sock)
            if not self.expired:
                return
        self._shut(sock)

    @staticmethod
    def _shut(sock) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:   # closed already
            pass

    def _expire(self):
        with self._lock:
            self.expired = True
            sockets = list(self.sockets)
        for s in sockets:
            self._shut(s)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()


def _read_body(resp, limit: int) -> bytes:
    """The whole body, by chunks, at most ``limit`` bytes (a 400 MiB reply had been read whole); its time is
    bounded by the request's :class:`_Watchdog`."""
    chunks, size = [], 0
    while True:
        chunk = resp.read1(1 << 16) if hasattr(resp, "read1") else resp.read(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ValueError(f"a reply larger than {limit} bytes")
        chunks.append(chunk)


class ServerUnavailable(RuntimeError):
    """The server did not answer usefully after every retry."""


class RequestRefused(RuntimeError):
    """The server refused one request (HTTP 4xx other than 429): that request fails, the others go on."""


@dataclass
class Completion:
    text: str
    finish_reason: Optional[str] = None   # "stop", "length" (cut at max_tokens), ...

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def is_http_url(url: str) -> bool:
    """An http(s) URL, its scheme in any case: what the client and the CLI's --server and --translator take."""
    return url.lower().startswith(("http://", "https://"))


def normalize_base_url(url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1`` all mean the same server."""
    url = url.strip().rstrip("/")
    return re.sub(r"/v1$", "", url)


class OpenAICompatibleClient:
    def __init__(self, base_url: str, model: str, api: str = "chat", retries: int = 3, backoff: float = 0.5,
                 timeout: float = 120.0, api_key: Optional[str] = None, max_reply_bytes: int = MAX_REPLY_BYTES,
                 **sampling):
        if api not in APIS:
            raise ValueError(f"api must be 'chat' or 'completions', got {api!r}")
        if retries < 0 or not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"retries must be >= 0 and timeout > 0, got {retries} and {timeout}")
        if not is_http_url(base_url):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if "@" in base_url.split("://", 1)[1].split("/", 1)[0]:
            # urllib read "user:sk-...@host" as a host name and printed the key in its error (a breaker)
            raise ValueError("base_url must not hold credentials (user:password@): pass the key as api_key "
                             "(the CLI: --api-key-env)")
        self.base_url = normalize_base_url(base_url)
        self.model, self.api = model, api
        self.retries, self.backoff, self.timeout, self.api_key = retries, backoff, timeout, api_key
        self.max_reply_bytes = int(max_reply_bytes)
        # max_tokens, temperature, top_p, seed, ...: sent with every request (None: the server's default)
        self.sampling = {k: v for k, v in sampling.items() if v is not None}

    def identity(self) -> str:
        """Model, API and sampling parameters: two clients with the same identity give the same replies
        (up to the server's own randomness)."""
        # Not the server's address: a run resumed on a restarted server (another port) reuses its replies. A
        # server that ignores the model name (llama.cpp) therefore needs a name of its own per model.
        return json.dumps({"model": self.model, "api": self.api, "sampling": self.sampling}, sort_keys=True)

    def post(self, path: str, body: dict, cancel: Optional[threading.Event] = None) -> dict:
        """The server's JSON reply, retried on failures that may pass. ``cancel``: once set, no further attempt
        (the one in flight ends within its timeout): after Ctrl-C, requests in flight had gone on retrying for
        their whole budget, minutes with the defaults (a breaker)."""
        url = f"{self.base_url}{path}"
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last, wait = "", None
        for attempt in range(self.retries + 1):
            if attempt:   # the server's Retry-After where it gave one (a rate limit), else exponential back-off
                pause = wait if wait is not None else self.backoff * 2 ** (attempt - 1)
                if cancel is None:
                    time.sleep(pause)
                elif cancel.wait(pause) or cancel.is_set():
                    raise ServerUnavailable(f"{url}: stopped after {attempt} attempt{'s' * (attempt > 1)}, no "
                                            f"retry after an interruption (last: {last})")
            wait = None
            with _Watchdog(self.timeout) as watchdog:   # over the whole attempt, a refusal's body included
                try:
                    with watchdog.opener.open(urllib.request.Request(url, data, headers), timeout=self.timeout) as resp:
                        reply = json.loads(_read_body(resp, self.max_reply_bytes).decode())
                    if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
                        raise ValueError(f"no 'choices' list in {str(reply)[:200]!r}")
                    return reply
                except urllib.error.HTTPError as exc:
                    last = f"HTTP {exc.code}"
                    wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None, self.timeout)
                    if 300 <= exc.code < 400:
                        where = exc.headers.get("Location", "") if exc.headers else ""
                        raise RequestRefused(f"{url} answered HTTP {exc.code}, a redirect to {where[:200]!r}: "
                                             "cotnpot does not follow redirects (the API key would go with them); "
                                             "give the server's final URL") from None
                    if exc.code != 429 and exc.code < 500:
                        raise RequestRefused(f"{url} refused the request: HTTP {exc.code} {self._reason(exc)}"
                                             ) from None
                except (urllib.error.URLError, TimeoutError, ConnectionError, OSError,
                        http.client.HTTPException) as exc:
                    # HTTPException: a status line that is garbage, a body cut short (IncompleteRead)
                    last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    # garbage, an answer cut mid-way, one too large, or JSON nested too deeply for the parser
                    last = f"a reply that is not a completion ({type(exc).__name__}: {str(exc)[:200]})"
                if watchdog.expired:   # whatever the cut-off read then looked like (a short body, a lost peer)
                    last = "TimeoutError: the reply took longer than the request's timeout"
        raise ServerUnavailable(f"{url} did not answer after {self.retries + 1} attempts (last: {last})")

    @staticmethod
    def _reason(exc: urllib.error.HTTPError) -> str:
        """The first 300 bytes of a refusal's body, which says why (a prompt over the context); a body cut
        short or stalled (it raised out of every caller) says nothing."""
        try:
            return exc.read(300).decode(errors="replace")
        except (OSError, http.client.HTTPException, ValueError):
            return ""

    def complete(self, prompts: Sequence[str], cancel: Optional[threading.Event] = None,
                 **overrides) -> List[Completion]:
        """One completion per prompt: the completions API takes them in one request, chat one each.
        ``cancel``: see :meth:`post`; once set, no chat request for the prompts left either."""
        params = dict(self.sampling, **{k: v for k, v in overrides.items() if v is not None})
        if self.api == "completions":
            reply = self.post("/v1/completions", {"model": self.model, "prompt": list(prompts), **params}, cancel)
            out: List[Optional[Completion]] = [None] * len(prompts)
            for i, choice in enumerate(reply["choices"]):
                if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
                    raise ServerUnavailable(f"{self.base_url}: a completion that is not text: {str(choice)[:200]!r}")
                index = choice.get("index", i if len(prompts) == 1 else None)
                if not isinstance(index, int) or isinstance(index, bool):
                    # matched by position, replies went to other prompts where a server sends them in another
                    # order (found by a breaker): only the index says which prompt a completion answers
                    raise ServerUnavailable(f"{self.base_url}: a completion without an integer 'index' in a "
                                            f"batch of {len(prompts)} prompts: {str(choice)[:200]!r}")
                if 0 <= index < len(out):
                    out[index] = _completion(self.base_url, choice["text"], choice, params.get("max_tokens"))
            missing = [i for i, c in enumerate(out) if c is None]
            if missing:
                raise ServerUnavailable(f"{self.base_url}: the reply holds {len(prompts) - len(missing)} of "
                                        f"{len(prompts)} completions")
            return out   # type: ignore[return-value]
        out = []
        for p in prompts:
            if cancel is not None and cancel.is_set():
                raise ServerUnavailable(f"{self.base_url}: not asked, after an interruption")
            reply = self.post("/v1/chat/completions", {"model": self.model,
                                                       "messages": [{"role": "user", "content": p}], **params},
                              cancel)
            try:
                choice = reply["choices"][0]
                content = choice["message"]["content"]
            except (IndexError, KeyError, TypeError) as exc:
                raise ServerUnavailable(f"{self.base_url}: a chat reply without a message ({exc!r})") from None
            if content is not None and not isinstance(content, str):
                raise ServerUnavailable(f"{self.base_url}: a chat message that is not text: {str(content)[:200]!r}")
            refusal = choice["message"].get("refusal") if isinstance(choice["message"], dict) else None
            if content is None or refusal:
                # no text (a content filter, a refusal) is no completion: it had been cached as an empty sample
                # or an empty program, and never asked for again (a breaker)
                raise RequestRefused(f"{self.base_url} gave no text (finish_reason "
                                     f"{str(choice.get('finish_reason'))[:40]!r}"
                                     f"{', refusal ' + repr(str(refusal)[:200]) if refusal else ''})")
            out.append(_completion(self.base_url, content, choice, params.get("max_tokens")))
        return out


# Characters a token may stand for, at most, far past any vocabulary's longest tokens (runs of spaces in code).
MAX_CHARS_PER_TOKEN = 128


def _completion(server: str, text: str, choice: dict, max_tokens: Optional[int] = None) -> Completion:
    """A completion with its finish_reason, which must be text or absent (a number had been written through as
    JSON's bare Infinity, a dict as it was: a breaker); "content_filter" is a refusal, not a text. A text longer
    than ``max_tokens`` tokens can be is a broken server's: 16 replies of 60 MB each for max_tokens 1024 had
    taken 3.3 GB and filled the cache (a breaker)."""
    if max_tokens and len(text) > MAX_CHARS_PER_TOKEN * max_tokens:
        raise ServerUnavailable(f"{server}: a reply of {len(text)} characters, more than max_tokens {max_tokens} "
                                f"tokens can be")
    reason = choice.get("finish_reason")
    if reason is not None and not isinstance(reason, str):
        raise ServerUnavailable(f"{server}: a finish_reason that is not text: {str(reason)[:100]!r}")
    if reason == "content_filter":
        raise RequestRefused(f"{server} filtered the completion (finish_reason 'content_filter')")
    return Completion(text, reason)


def sampling_options(max_tokens: Optional[int] = None, temperature: Optional[float] = None,
                     top_p: Optional[float] = None, seed: Optional[int] = None) -> Dict[str, object]:
    """The sampling parameters cotnpot exposes, checked."""
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if temperature is not None and not (math.isfinite(temperature) and temperature >= 0):   # NaN was sent as-is
        raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
