"""A client for any OpenAI-compatible server (vLLM, llama.cpp server, SGLang): chat or completions.

Completions requests carry a batch of prompts each (the API takes a list); chat requests carry one
conversation each and run ``concurrency`` at a time. Every request has a timeout and is retried with
exponential back-off on connection errors, timeouts, 429 and 5xx. When a request still fails, no new
request is sent, and a :class:`TranslationServerError` says which server and why; the translations finished before it are on
the exception (``.partial``, None where missing) and, behind a :class:`CachedTranslator`, already saved.
"""
import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

from .base import Request

TEMPLATES: Dict[str, str] = {
    "cot2pot": ("Question: {question}\n\nSolution:\n{text}\n\nRewrite the solution above as a Python program "
                "that computes its final answer step by step and stores it in a variable named `ans`. Reply with "
                "only the program, in a ```python block."),
    "code2text": ("Task: {question}\n\nProgram:\n```python\n{text}\n```\n\nExplain in words, step by step, what "
                  "this program does and how it solves the task."),
}

_CODE_BLOCK = re.compile(r"```(?:python|py)?\n(.*?)```", re.S)


class TranslationServerError(RuntimeError):
    def __init__(self, message: str, partial: List[Optional[str]]):
        super().__init__(message)
        self.partial = partial


def program_from_reply(reply: str) -> str:
    """The program in a model's reply: its first fenced code block, else the reply itself."""
    match = _CODE_BLOCK.search(reply)
    return (match.group(1) if match else reply).strip() + "\n"


class OpenAICompatibleTranslator:
    reports_batches = True   # translate() takes on_done, called as each batch finishes
    llm_calls = 1

    def __init__(self, base_url: str, model: str, api: str = "chat", templates: Optional[Dict[str, str]] = None,
                 batch_size: int = 16, concurrency: int = 4, retries: int = 3, backoff: float = 0.5,
                 timeout: float = 120.0, max_tokens: int = 1024, temperature: float = 0.0,
                 api_key: Optional[str] = None, progress=None):
        if api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions', got {api!r}")
        for name, value in (("batch_size", batch_size), ("concurrency", concurrency)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if retries < 0 or timeout <= 0:
            raise ValueError(f"retries must be >= 0 and timeout > 0, got {retries} and {timeout}")
        self.base_url = base_url.rstrip("/")
        self.name, self.api = model, api
        self.templates = dict(TEMPLATES, **(templates or {}))
        self.template = json.dumps(self.templates, sort_keys=True)   # the cache key covers the prompts
        self.batch_size, self.concurrency = batch_size, concurrency
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.max_tokens, self.temperature, self.api_key = max_tokens, temperature, api_key
        self.progress = progress

    def prompt(self, r: Request) -> str:
        if r.kind not in self.templates:
            raise ValueError(f"no template for request kind {r.kind!r}; have {sorted(self.templates)}")
        return self.templates[r.kind].format(question=r.question, text=r.text)

    def _post(self, path: str, body: dict) -> dict:
        url = f"{self.base_url}{path}"
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode())
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    raise RuntimeError(f"{url} refused the request: HTTP {exc.code} "
                                       f"{exc.read()[:300].decode(errors='replace')}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except ValueError as exc:
                last = f"a reply that is not JSON ({exc})"
        raise RuntimeError(f"{url} did not answer after {self.retries + 1} attempts (last: {last})")

    def _translate_batch(self, batch: Sequence[Request]) -> List[str]:
        if self.api == "completions":
            body = {"model": self.name, "prompt": [self.prompt(r) for r in batch], "max_tokens": self.max_tokens,
                    "temperature": self.temperature}
            choices = self._post("/v1/completions", body)["choices"]
            texts = [""] * len(batch)
            for i, choice in enumerate(choices):
                texts[choice.get("index", i)] = choice["text"]
            return texts
        out = []
        for r in batch:
            body = {"model": self.name, "messages": [{"role": "user", "content": self.prompt(r)}],
                    "max_tokens": self.max_tokens, "temperature": self.temperature}
            out.append(self._post("/v1/chat/completions", body)["choices"][0]["message"]["content"])
        return out

    def translate(self, requests: Sequence[Request], on_done=None) -> List[Optional[str]]:
        """Translations in order; ``on_done(indices, texts)`` is called as each batch finishes."""
        size = self.batch_size if self.api == "completions" else 1
        batches = [list(range(i, min(i + size, len(requests)))) for i in range(0, len(requests), size)]
        results: List[Optional[str]] = [None] * len(requests)
        errors = []

        def run(indices):
            if errors:   # a request already failed after its retries: do not keep hammering a dead server
                return
            try:
                replies = self._translate_batch([requests[i] for i in indices])
            except Exception as exc:   # noqa: BLE001 - reported below with the work that did finish
                errors.append(str(exc))
                return
            texts = [program_from_reply(t) if requests[i].kind == "cot2pot" else t.strip()
                     for i, t in zip(indices, replies)]
            for i, t in zip(indices, texts):
                results[i] = t
            if on_done:
                on_done(indices, texts)
            if self.progress:
                self.progress(len(indices))

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(run, batches))
        if errors:
            done = sum(r is not None for r in results)
            raise TranslationServerError(f"translation failed for {len(requests) - done} of {len(requests)} "
                                         f"requests: {errors[0]}", results)
        return results
