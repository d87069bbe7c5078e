"""The coder-LLM translator: any OpenAI-compatible server (vLLM, llama.cpp server, SGLang), chat or
completions, through :class:`cotnpot.translate.client.OpenAICompatibleClient`.

Completions requests carry a batch of prompts each (the API takes a list); chat requests carry one
conversation each; ``concurrency`` requests run at a time. A request the server refuses (4xx: a prompt
over its context, say) fails alone: that candidate gets no translation and the reason is kept in
``failures`` (a refused batch is retried prompt by prompt, so only the offending one fails). A reply cut
at ``max_tokens`` is kept and its index listed in ``truncated``. When the server stops answering (after
the client's retries), no new request is sent, and a :class:`TranslationServerError` says which server
and why; the translations finished before it are on the exception (``.partial``, None where missing)
and, behind a :class:`CachedTranslator`, already saved.
"""
import json
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

from .base import Request
from .client import Completion, OpenAICompatibleClient, RequestRefused, sampling_options

TEMPLATES: Dict[str, str] = {
    "cot2pot": ("Question: {question}\n\nSolution:\n{text}\n\nRewrite the solution above as a Python program "
                "that computes its final answer step by step and stores it in a variable named `ans`. Reply with "
                "only the program, in a ```python block."),
    "code2text": ("Task: {question}\n\nProgram:\n```python\n{text}\n```\n\nExplain in words, step by step, what "
                  "this program does and how it solves the task."),
}

# An opening fence and its info string (the language tag first); the block's text starts after its line.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n`]*\n?")
_PYTHON_TAGS = ("python", "py", "python3")
# what program_from_reply picks (in the translation cache's key: a cache filled by another rule is not reused)
EXTRACTOR_VERSION = 2


class TranslationServerError(RuntimeError):
    def __init__(self, message: str, partial: List[Optional[str]]):
        super().__init__(message)
        self.partial = partial


def fenced_blocks(reply: str) -> List[Tuple[str, str]]:
    """(language tag in lower case, text) of each fenced block, fences paired in the order they come: an
    opening fence may follow text on its line, as models write ("Sure! ```python"), and a block that the
    reply's end cuts short runs to it. (Pairing fences only at line starts took a mid-line block's closing
    fence for an opening one, and the prose between two blocks became "the program": a breaker.)"""
    blocks, at = [], 0
    while True:
        start = reply.find("```", at)
        if start < 0:
            return blocks
        fence = _FENCE.match(reply, start)
        end = reply.find("```", fence.end())
        blocks.append((fence.group(1).lower(), reply[fence.end():] if end < 0 else reply[fence.end():end]))
        if end < 0:
            return blocks
        at = end + 3


def program_from_reply(reply: str) -> str:
    """The program in a model's reply: its blocks tagged Python (``python``, ``py``, ``python3``, any case)
    joined in order -- a program split over blocks runs whole, and of two versions the later one's ``ans``
    is the one left -- else its first untagged block, else its first block, else the reply itself. (A tagged
    block now wins over an untagged one before it, such as the expected output: a breaker.)"""
    blocks = [(tag, text) for tag, text in fenced_blocks(reply) if text.strip()]
    python = [text.strip("\n") for tag, text in blocks if tag in _PYTHON_TAGS]
    untagged = [text for tag, text in blocks if tag == ""]
    chosen = "\n".join(python) if python else untagged[0] if untagged else blocks[0][1] if blocks else reply
    return chosen.replace("\r\n", "\n").strip() + "\n"


class OpenAICompatibleTranslator:
    reports_batches = True   # translate() takes on_done, called as each batch finishes
    llm_calls = 1

    def __init__(self, base_url: str, model: str, api: str = "chat", templates: Optional[Dict[str, str]] = None,
                 batch_size: int = 16, concurrency: int = 4, retries: int = 3, backoff: float = 0.5,
                 timeout: float = 120.0, max_tokens: int = 1024, temperature: float = 0.0,
                 api_key: Optional[str] = None, progress=None, top_p: Optional[float] = None,
                 seed: Optional[int] = None):
        for name, value in (("batch_size", batch_size), ("concurrency", concurrency)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.client = OpenAICompatibleClient(base_url, model, api, retries, backoff, timeout, api_key,
                                             **sampling_options(max_tokens, temperature, top_p, seed))
        self.base_url, self.name, self.api = self.client.base_url, model, api
        self.templates = dict(TEMPLATES, **(templates or {}))
        # The cache key covers the prompts and every sampling parameter.
        self.template = json.dumps({"templates": self.templates, "client": self.client.identity(),
                                    "extractor": EXTRACTOR_VERSION}, sort_keys=True)
        self.batch_size, self.concurrency = batch_size, concurrency
        self.progress = progress
        # The last call's outcome, per calling thread: threads sharing one translator had read each other's
        # refusals and cut replies (a reviewer).
        self._last = threading.local()

    @property
    def failures(self) -> Dict[int, str]:
        """This thread's last call's refused requests: index -> reason."""
        return getattr(self._last, "failures", {})

    @property
    def truncated(self) -> List[int]:
        """This thread's last call's replies cut at max_tokens (their indices)."""
        return getattr(self._last, "truncated", [])

    def prompt(self, r: Request) -> str:
        if r.kind not in self.templates:
            raise ValueError(f"no template for request kind {r.kind!r}; have {sorted(self.templates)}")
        return self.templates[r.kind].format(question=r.question, text=r.text)

    def _complete(self, batch: Sequence[Request], indices: Sequence[int], failures: Dict[int, str],
                  cancel: Optional[threading.Event] = None) -> List[Optional[Completion]]:
        """Completions for a batch; a refused batch is retried one request at a time (each refusal into
        ``failures``)."""
        prompts = [self.prompt(r) for r in batch]
        try:
            return self.client.complete(prompts, cancel=cancel)
        except RequestRefused as exc:
            if len(batch) == 1:
                failures[indices[0]] = str(exc)
                return [None]
        return [self._complete([r], [i], failures, cancel)[0] for r, i in zip(batch, indices)]

    def translate(self, requests: Sequence[Request], on_done=None) -> List[Optional[str]]:
        """Translations in order; ``on_done(indices, texts, cut)`` is called as each batch finishes (``cut``:
        whether each reply was cut at max_tokens)."""
        size = self.batch_size if self.api == "completions" else 1
        batches = [list(range(i, min(i + size, len(requests)))) for i in range(0, len(requests), size)]
        results: List[Optional[str]] = [None] * len(requests)
        errors: List[str] = []
        failures: Dict[int, str] = {}
        truncated: List[int] = []

        cancel = threading.Event()   # Ctrl-C: no new request, no retry of one in flight

        def run(indices):
            if errors or cancel.is_set():   # the server stopped answering: do not keep hammering it
                return
            try:
                replies = self._complete([requests[i] for i in indices], indices, failures, cancel)
            except Exception as exc:   # noqa: BLE001 - reported below with the work that did finish
                errors.append(str(exc))
                return
            done_idx, texts, cut = [], [], []
            for i, c in zip(indices, replies):
                if c is None:
                    continue
                if c.truncated:
                    truncated.append(i)
                text = program_from_reply(c.text) if requests[i].kind == "cot2pot" else c.text.strip()
                results[i] = text
                done_idx.append(i)
                texts.append(text)
                cut.append(c.truncated)
            if on_done and done_idx:
                on_done(done_idx, texts, cut)
            if self.progress:
                self.progress(len(indices))

        pool = ThreadPoolExecutor(self.concurrency)
        try:
            list(pool.map(run, batches))
        except KeyboardInterrupt:
            # The requests in flight end within their timeout, unretried, and what they bring is kept (on_done);
            # a second Ctrl-C leaves them to the process's exit. They had gone on retrying for their whole budget,
            # minutes with the defaults, without a word (a breaker).
            cancel.set()
            print("cotnpot: interrupted; keeping the translations in flight as they finish, without retries "
                  "(Ctrl-C again to stop now)", file=sys.stderr)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:   # also when Ctrl-C ends the call: what finished is reported
            pool.shutdown(wait=False, cancel_futures=True)
            self._last.failures, self._last.truncated = failures, sorted(truncated)
        if errors:
            done = sum(r is not None for r in results)
            raise TranslationServerError(f"translation failed for {len(requests) - done} of {len(requests)} "
                                         f"requests: {errors[0]}", results)
        return results
