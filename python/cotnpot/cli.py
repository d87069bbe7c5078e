"""The ``cotnpot`` command line.

    cotnpot eval --candidates FILE [--format auto|qwen|ovm|openai|tora|pot|code] [--task gsm8k|math|mbpp|aqua]
                 [--out DIR] [--execute | --no-execute] [--workers W] [--timeout S] [--ks 1,2,4]
                 [--samples S] [--seed SEED] [--resamples R] [--ties fair|first] [--log-samples FILE]
                 [--verifier DIR] [--quiet]
    cotnpot generate --problems FILE --server URL --model NAME --out FILE [--n 8 | --num-samples 8]
                     [--temperature T] [...]
    cotnpot train --candidates FILE | --pairs FILE --model DIR --objective simpo|dpo|orm --out DIR [...]
"""
import argparse
import contextlib
import math
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import List, Optional

from .pipeline.data import FORMATS, CandidateFileError
from .translate import TranslationServerError
from .translate.client import is_http_url

EVAL_HELP = """Evaluate the candidates of one file: every selection method at N = 1, 2, 4, ..., max.

Methods: pass@N (unbiased), maj@N (majority over cotnpot's answer classes: 1/2 and 0.5 vote together),
maj (exact)@N (majority over exact answer strings, Qwen2.5-Math's rule), rm@N (best verifier score) and
weighted@N (vote weighted by non-negative scores; a verifier's log-probs by their exp) when there are
scores, and mean (over all candidates). Each is the expectation over size-N subsets of the candidates:
exact (closed forms for pass/rm, an exact count for majority votes, every subset otherwise) or, marked *,
--samples seeded subsets with their sampling error inside the interval; 95% bootstrap intervals over
problems (none below 10 problems) and paired differences between methods on the same resamples. Ties
are fair by default (each tied class counts equally); --ties first reproduces harnesses that take the
first seen, and figures compared with a publication use its rule. Files with their own labels are scored
twice: with them and with cotnpot's grader against the gold answers (every disagreement is listed).
Files with programs (pot, tora) are re-executed in the sandbox first (--no-execute uses the recorded
answers).

CoTnPoT (--translator): every CoT solution is translated into a program, which runs in the sandbox;
"cotnpot maj" and "cotnpot rm" vote or rank among the candidates whose program agrees with their CoT
answer (a subset with none falls back to all its candidates; the report gives how often). The report adds
a compute-matched view: with a model as translator CoTnPoT spends one more LLM call per candidate, so
CoTnPoT@N stands next to maj@2N and rm@2N (accuracy_vs_calls.png); the offline translator calls none.

Writes OUT/report.json, OUT/report.md, OUT/accuracy_vs_n.png and OUT/accuracy_vs_calls.png when --out is given;
prints the tables."""


def make_translator(args):
    """--translator offline | file:PATH | http(s)://server (with --translator-model), behind a cache."""
    spec = args.translator
    if spec is None:
        return None
    from . import translate
    if spec == "offline":
        inner = translate.OfflineCalculatorTranslator()
    elif spec.startswith("file:"):
        inner = translate.FileTranslator(spec[5:])
    elif is_http_url(spec):
        if not args.translator_model:
            raise ValueError("--translator URL needs --translator-model NAME")
        inner = translate.OpenAICompatibleTranslator(spec, args.translator_model, api=args.translator_api,
                                                     concurrency=args.concurrency, timeout=args.translator_timeout,
                                                     retries=args.translator_retries, api_key=api_key(args))
    else:
        raise ValueError(f"--translator must be 'offline', 'file:PATH' or an http(s) URL, got {spec!r}")
    return translate.CachedTranslator(inner, args.translation_cache) if args.translation_cache else inner


def api_key(args) -> Optional[str]:
    """The server's API key from the environment variable --api-key-env names: not an option's value, which
    every user of the machine sees in `ps`; not OPENAI_API_KEY unasked, which would go to whatever --server
    is (a breaker found no way to give a key at all)."""
    name = getattr(args, "api_key_env", None)
    if not name:
        return None
    key = os.environ.get(name)
    if not key:
        raise UsageError(f"--api-key-env {name}: the environment variable is not set or empty")
    return key


def check_requests(timeout: float, retries: int, flag: str) -> None:
    """A request's timeout (seconds per attempt) and retries, bounded as the client needs them."""
    if not (math.isfinite(timeout) and 0 < timeout <= 1e6):
        raise UsageError(f"--{flag}timeout must be in (0, 1e6] seconds, got {timeout}")
    if not 0 <= retries <= 100:
        raise UsageError(f"--{flag}retries must be in [0, 100], got {retries}")


# Bounds of the size options, far past any real run, below what would exhaust the machine.
MAX_DRAWS = 10 ** 6                 # --samples, --resamples
MAX_WORKERS = 1024                  # sandbox processes (the Executor's own bound)
MAX_CONCURRENCY = 1024              # requests in flight
MAX_SAMPLES_PER_PROBLEM = 100_000   # generate --n


class HelpWithDefaults(argparse.HelpFormatter):
    """Each option's default in its help, where the help does not already say it ("(8)", "default ..."):
    `cotnpot train --help` had named none, and a run failed on a --max-length of 1024 no text mentioned."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default is None or action.default is False or action.default == argparse.SUPPRESS
                or not action.option_strings or action.nargs == 0   # flags
                or "default" in text or re.search(r"\(\d[\d.]*\)", text)):   # said already: "(8)"
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class RawDescriptionWithDefaults(argparse.RawDescriptionHelpFormatter, HelpWithDefaults):
    """eval's: its description keeps its own line breaks (the others are wrapped to the terminal)."""


class UsageError(ValueError):
    """A bad option value or output path: reported in one line, exit code 2, before any work."""


def one_line(exc: BaseException) -> str:
    """An exception as its type and the first line of its message: what a model directory that does not load
    raised, whatever it was (TypeError, RuntimeError, SafetensorError ...)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def output_dir(path: Optional[Path], flag: str) -> Optional[Path]:
    """Checks now, before a long run, that the output directory is or can be made: a file in its place, or
    no writable directory above it, was found only at the end, when the results were lost (found by a
    breaker). Makes nothing: a run that fails leaves no empty directory behind."""
    if path is None:
        return None
    try:
        return _writable_dir(path, flag)
    except OSError as exc:   # a stat refused: a name too long (ENAMETOOLONG), a loop of links
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None


def _writable_dir(path: Path, flag: str) -> Path:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    above = path
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise UsageError(f"{flag} {path}: {above} is not a directory")
    if not os.access(above, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {above} is not writable")
    # What access() does not see, found by a reviewer only at the end of a run: a name past the filesystem's
    # limit (ENAMETOOLONG), and a directory that refuses files even to root (/proc). A file made and removed
    # (TemporaryFile: unnamed where the filesystem allows) tells.
    check_names(path, above, flag)
    try:
        with tempfile.TemporaryFile(dir=above):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in {above}: {exc.strerror}") from None
    return path


def check_names(path: Path, above: Path, flag: str) -> None:
    """Every name of path below its existing directory above fits the filesystem's NAME_MAX."""
    try:
        name_max = os.pathconf(above, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in path.relative_to(above).parts if path != above else ():
        if len(os.fsencode(part)) > name_max:
            raise UsageError(f"{flag} {path}: the name {part[:24]}... is longer than the {name_max} bytes a "
                             "file name may have here")


def output_file(path: Optional[Path], flag: str) -> Optional[Path]:
    """As output_dir, for a file: not a directory, in a directory that is or can be made."""
    if path is None:
        return None
    try:
        return _writable_file(path, flag)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None


def _writable_file(path: Path, flag: str) -> Path:
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    if path.exists() and not path.is_file():   # a FIFO or a device, written to as it is (atomic_file)
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path}: is not writable")
        return path
    output_dir(path.resolve().parent if path.is_symlink() else path.parent, f"{flag}'s directory")
    check_names(path, path.parent, flag)
    return path


def not_an_input(outputs: dict, inputs: dict) -> None:
    """No output file is one of the run's inputs: --log-samples or --cache naming the candidate file replaced
    or appended to it, and generate's --out its problem file (found by a breaker)."""
    given = {Path(path).resolve(): flag for flag, path in inputs.items() if path is not None}
    for flag, path in outputs.items():
        if path is not None and Path(path).resolve() in given:
            raise UsageError(f"{flag} {path}: is the run's input ({given[Path(path).resolve()]}), which it would "
                             "overwrite")


def distinct_outputs(outputs: dict) -> None:
    """No two outputs are one file: --log-samples naming OUT/report.json, or the cache --cache, had replaced
    one with the other, silently (a reviewer)."""
    seen = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise UsageError(f"{flag} {path}: is also {seen[key]}; each output needs a file of its own")
        seen[key] = flag


def positive_ints(text: Optional[str], flag: str) -> Optional[List[int]]:
    if not text:
        return None
    try:
        values = [int(k) for k in text.split(",")]
    except ValueError:
        values = []
    if not values or any(not 1 <= k <= 2 ** 31 for k in values):
        raise UsageError(f"{flag} must be comma-separated positive integers, got {text!r}")
    return values


def _eval(args) -> int:
    from . import distributed
    from .pipeline import report
    from .pipeline.evaluation import EvalOptions, evaluate_file
    distributed.init_from_env()   # under torchrun: each process works on its share, rank 0 reports
    ks = positive_ints(args.ks, "--ks")
    # Upper bounds too: 10^13 resamples had run the whole evaluation and then failed allocating 960 TB, and
    # --workers past int's range gave a TypeError dumping the prelude (a reviewer)
    if not (2 <= args.samples <= MAX_DRAWS and 1 <= args.resamples <= MAX_DRAWS):
        raise UsageError(f"--samples must be in [2, {MAX_DRAWS}] and --resamples in [1, {MAX_DRAWS}], got "
                         f"{args.samples} and {args.resamples}")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be in [1, {MAX_WORKERS}], got {args.workers}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be in [1, {MAX_CONCURRENCY}], got {args.concurrency}")
    if args.verifier_max_length is not None and (args.verifier_max_length < 1 or not args.verifier):
        raise UsageError(f"--verifier-max-length must be >= 1 and needs --verifier, got {args.verifier_max_length}"
                         f"{'' if args.verifier else ' without --verifier'}")
    if not 0 < args.timeout <= 1e6:   # the executor's bound, checked before the translator's work
        raise UsageError(f"--timeout must be > 0 and at most 1e6 seconds, got {args.timeout}")
    check_requests(args.translator_timeout, args.translator_retries, "translator-")
    if not -2 ** 63 <= args.seed < 2 ** 64 - 1:   # what the generators take (seed and seed + 1); past it the
        raise UsageError(f"--seed must be between -2^63 and 2^64 - 2, got {args.seed}")   # run failed at its end
    output_dir(args.out, "--out")
    output_file(args.log_samples, "--log-samples")
    output_file(args.cache, "--cache")
    output_file(args.translation_cache, "--translation-cache")
    translations = args.translator[5:] if args.translator and args.translator.startswith("file:") else None
    not_an_input({"--log-samples": args.log_samples, "--cache": args.cache,
                  "--translation-cache": args.translation_cache},
                 {"--candidates": args.candidates, "--published": args.published, "--translator": translations})
    # With --out, every stage's results are cached in OUT/cache, so rerunning with another selection rule
    # (or another --ks) executes, translates and scores nothing again.
    cache_dir = args.out / "cache" if args.out else None
    if cache_dir and args.cache is None:
        args.cache = cache_dir / "executions.jsonl"
    if cache_dir and args.translator and args.translation_cache is None:
        args.translation_cache = cache_dir / "translations.jsonl"
    scores_path = cache_dir / "scores.jsonl" if cache_dir else None
    distinct_outputs({"--log-samples": args.log_samples, "--cache": args.cache,
                      "--translation-cache": args.translation_cache, "--out's cache/scores.jsonl": scores_path,
                      **{f"--out's {name}": args.out / name for name in (report.REPORT_FILES if args.out else ())}})
    try:
        translator = make_translator(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"cotnpot eval: {exc}", file=sys.stderr)
        return 2
    verifier = score_cache = None
    if args.verifier:
        from .verifier import load_verifier
        try:
            verifier = load_verifier(args.verifier)
        except Exception as exc:   # noqa: BLE001 -- whatever a broken model directory raises: a config with an
            # unknown key (TypeError), weights of another shape (RuntimeError), a cut safetensors file ...
            print(f"cotnpot eval: cannot load the verifier from {args.verifier}: {one_line(exc)}", file=sys.stderr)
            return 2
        if cache_dir:
            from .verifier import ScoreCache, model_identity
            score_cache = ScoreCache(scores_path, model_identity(args.verifier))
    published = None
    if args.published:
        from .pipeline.evaluation import load_published
        try:
            published = load_published(args.published, args.candidates)
        except (OSError, ValueError) as exc:
            print(f"cotnpot eval: --published: {exc}", file=sys.stderr)
            return 2
    options = EvalOptions(published=published, translator=translator, verifier=verifier, score_cache=score_cache, task=args.task,
                          execute=args.execute, workers=args.workers, timeout=args.timeout, ks=ks,
                          example_filter=args.example_filter, verifier_max_length=args.verifier_max_length,
                          samples=args.samples, seed=args.seed, resamples=args.resamples, ties=args.ties,
                          log_samples=args.log_samples, cache=args.cache,
                          progress=not args.quiet and sys.stderr.isatty())
    try:
        ev = evaluate_file(args.candidates, args.format, options)
    except (CandidateFileError, FileNotFoundError, ValueError) as exc:
        print(f"cotnpot eval: {exc}", file=sys.stderr)
        return 1
    except TranslationServerError as exc:   # the translations that finished are in the cache
        print(f"cotnpot eval: {exc}" + (f" (finished translations kept in {args.translation_cache})"
                                        if args.translation_cache else ""), file=sys.stderr)
        return 1
    if not distributed.is_main():
        return 0
    # the files first: a reader of stdout that had gone (a pager quit, `| head`) failed the print, and with it
    # a whole run's report (a breaker)
    written = []
    try:
        written = report.write(ev, Path(args.out)) if args.out else []
    finally:   # the tables also where the files could not be written (a full disk: a reviewer)
        print(report.to_markdown(ev))
    for path in written:
        print(f"wrote {path}")
    return 0


def _generate(args) -> int:
    from . import distributed
    from .generate import DEFAULT_PROMPT, GenerationError, generate, load_problems, write_candidates
    from .translate.client import OpenAICompatibleClient, sampling_options
    distributed.init_from_env()   # under torchrun: each process sends its share of the requests
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    check_requests(args.timeout, args.retries, "")
    if not 1 <= args.n <= MAX_SAMPLES_PER_PROBLEM:   # 10^15 had ended in a MemoryError's traceback
        raise UsageError(f"--n must be in [1, {MAX_SAMPLES_PER_PROBLEM}], got {args.n}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be in [1, {MAX_CONCURRENCY}], got {args.concurrency}")
    output_file(args.out, "--out")
    output_file(args.cache, "--cache")
    not_an_input({"--out": args.out, "--cache": args.cache}, {"--problems": args.problems})
    distinct_outputs({"--out": args.out, "--cache": args.cache or args.out.with_name(args.out.name + ".samples.jsonl")})
    if not is_http_url(args.server):   # the client's words named its base_url (a new user)
        raise UsageError(f"--server must be an http(s) URL such as http://localhost:8000/v1, got {args.server!r}")
    try:
        problems = load_problems(args.problems, args.limit)
        client = OpenAICompatibleClient(args.server, args.model, args.api, retries=args.retries, timeout=args.timeout,
                                        api_key=api_key(args), **sampling_options(args.max_tokens, args.temperature, args.top_p, args.seed))
        cache = args.cache or args.out.with_name(args.out.name + ".samples.jsonl")
        result = generate(problems, client, args.n, cache=cache, prompt=args.prompt or DEFAULT_PROMPT,
                          concurrency=args.concurrency, progress=not args.quiet and sys.stderr.isatty())
    except (ValueError, FileNotFoundError) as exc:
        print(f"cotnpot generate: {exc}", file=sys.stderr)
        return 2
    except GenerationError as exc:
        print(f"cotnpot generate: {exc}", file=sys.stderr)
        return 1
    if not distributed.is_main():
        return 0
    write_candidates(result, args.out)
    c = result.counts
    print(f"wrote {args.out}: {len(problems)} problems, {c['made']} samples made, {c['cached']} from the cache, "
          f"{c['refused']} refused by the server, {c['truncated']} cut at max_tokens")
    for r in result.refusals[:5]:
        print(f"  refused: problem {r['problem']} sample {r['sample']}: {r['reason'][:200]}")
    if problems and c["made"] + c["cached"] == 0:   # a wrong URL, model or key: every request refused
        print("cotnpot generate: the server refused every request; the first reason is above", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cotnpot", description="cotnpot: verify LLM reasoning by scaling "
                                     "inference compute (best-of-N selection, verifiers, CoTnPoT).")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"cotnpot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ev = sub.add_parser("eval", help="best-of-N metrics of a candidate file, with a report",
                        description=EVAL_HELP, formatter_class=RawDescriptionWithDefaults)
    ev.add_argument("--candidates", required=True, type=Path, help="JSONL file, one problem per line")
    ev.add_argument("--format", default="auto", choices=("auto",) + FORMATS,
                    help="the file's format (default: detected from its first row)")
    ev.add_argument("--task", choices=("gsm8k", "math", "mbpp", "aqua"),
                    help="the benchmark (default: aqua for multiple-choice rows, math for qwen, else gsm8k)")
    ev.add_argument("--out", type=Path, help="directory for report.json, report.md, accuracy_vs_n.png and "
                    "accuracy_vs_calls.png")
    ev.add_argument("--execute", dest="execute", action="store_true", default=None,
                    help="re-run the candidates' programs in the sandbox (default for pot and tora files)")
    ev.add_argument("--no-execute", dest="execute", action="store_false", help="use the recorded answers")
    ev.add_argument("--workers", type=int, default=2, help="sandbox workers (default 2)")
    ev.add_argument("--timeout", type=float, default=5.0, help="seconds per program (default 5)")
    ev.add_argument("--cache", type=Path, help="JSONL file of execution results reused across runs")
    ev.add_argument("--translator", help="CoTnPoT: 'offline' (GSM8K <<calc>> annotations), 'file:PATH' "
                    "(translations made elsewhere) or the URL of an OpenAI-compatible server")
    ev.add_argument("--translator-model", help="the model name to ask the server for")
    ev.add_argument("--translator-api", default="chat", choices=("chat", "completions"),
                    help="the translator server's API: chat messages or a plain completion")
    ev.add_argument("--translation-cache", type=Path, help="JSONL file of translations reused across runs")
    ev.add_argument("--concurrency", type=int, default=4, help="requests in flight to the translator's server (4)")
    ev.add_argument("--translator-timeout", type=float, default=120.0,
                    help="seconds per attempt of a request to the translator's server (120)")
    ev.add_argument("--translator-retries", type=int, default=3,
                    help="attempts after the first, on timeouts, 429 and 5xx (3)")
    ev.add_argument("--api-key-env", metavar="NAME", help="the environment variable holding the translator "
                    "server's API key (sent as a bearer token)")
    ev.add_argument("--verifier", help="score candidates with a model: a directory written by save_pretrained "
                    "(any transformers causal LM and its tokenizer, loaded offline) or tiny:DIR "
                    "(cotnpot.models.TinyCausalLM); its average log-probs replace the file's scores")
    ev.add_argument("--verifier-max-length", type=int,
                    help="tokens of question + solution the verifier scores: longer solutions keep their start "
                         "(default: all, up to the model's context, past which a solution is refused)")
    ev.add_argument("--example-filter", action="store_true",
                    help="code tasks: also report rm with candidates failing the prompt's example test dropped")
    ev.add_argument("--ks", help="comma-separated N values (default 1, 2, 4, ..., max)")
    ev.add_argument("--samples", type=int, default=1000, help="subsets drawn when exact is too costly (1000)")
    ev.add_argument("--seed", type=int, default=0, help="seed of subset sampling and bootstrap (0)")
    ev.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    ev.add_argument("--ties", choices=("fair", "first"), default="fair",
                    help="how votes and scores break ties: 'fair' (each tied class counts equally; default) or "
                    "'first' (the class seen first, as harnesses built on Counter.most_common do)")
    ev.add_argument("--log-samples", type=Path, metavar="FILE",
                    help="write one JSON line per problem: every candidate's answer, classes, labels, program "
                    "output, consistency and score, each method's pick and per-problem value at every N")
    ev.add_argument("--published", type=Path, metavar="JSON",
                    help="published figures to compare with, per candidate file name (data/published.json has the "
                    "bundled files'): each is set next to cotnpot's under the publication's tie rule, gaps explained")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    tr = sub.add_parser("train", help="train a verifier (SimPO, DPO or ORM) on pairs from a candidate file",
                        description="Pairs every correct candidate with every wrong one (or k per problem), "
                        "holds out whole problems, trains the model with the objective and writes OUT/verifier "
                        "for cotnpot eval --verifier.", formatter_class=HelpWithDefaults)
    from .train.run import add_arguments
    add_arguments(tr)
    gen = sub.add_parser("generate", help="sample N solutions per problem from a reasoner behind an "
                         "OpenAI-compatible server; writes a candidate file for cotnpot eval",
                         description="Samples N solutions per problem (one request each, --concurrency in flight, "
                         "each saved to the cache as it finishes: a stopped run resumes), extracts their answers and, "
                         "where the problems have gold answers, labels them with cotnpot's grader.",
                         formatter_class=HelpWithDefaults)
    gen.add_argument("--problems", required=True, type=Path,
                     help="JSONL: GSM8K (question, answer '... #### v'), MATH (problem, answer or solution), or question+gold")
    gen.add_argument("--server", required=True, help="the server's base URL (with or without /v1)")
    gen.add_argument("--model", required=True, help="the model name to ask the server for")
    gen.add_argument("--out", required=True, type=Path, help="the candidate file to write (ovm format)")
    # --num-samples too: under torchrun, whose own options --nnodes and --nproc-per-node make --n ambiguous
    gen.add_argument("--n", "--num-samples", dest="n", type=int, default=8, help="samples per problem (8)")
    gen.add_argument("--api", default="chat", choices=("chat", "completions"),
                     help="the server's API: chat messages or a plain completion of the prompt")
    gen.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    gen.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: the server's)")
    gen.add_argument("--max-tokens", type=int, default=1024,
                     help="tokens per sample; a reply cut there is kept and flagged")
    gen.add_argument("--seed", type=int, default=None, help="sample j asks for seed + j (default: the server's)")
    gen.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    gen.add_argument("--timeout", type=float, default=300.0,
                     help="seconds per attempt of a request (300); a request makes up to --retries + 1 attempts")
    gen.add_argument("--retries", type=int, default=3, help="attempts after the first, on timeouts, 429 and 5xx (3)")
    gen.add_argument("--api-key-env", metavar="NAME", help="the environment variable holding the server's API "
                     "key (sent as a bearer token)")
    gen.add_argument("--prompt", default=None, help="the prompt template, with {question} (default: reason step by "
                     "step, answer in \\boxed{})")
    gen.add_argument("--cache", type=Path, help="JSONL of finished samples (default: OUT with .samples.jsonl)")
    gen.add_argument("--limit", type=int, help="only the first LIMIT problems")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    ex = sub.add_parser("experiment", help="the paper's experiment in miniature: ORM/DPO/SimPO verifiers on "
                        "synthetic arithmetic problems, best-of-N with and without CoTnPoT, over seeds",
                        description="The paper's experiment in miniature: tiny ORM, DPO and SimPO verifiers trained "
                        "on synthetic arithmetic problems (a quarter held out), then best-of-N, majority vote and "
                        "random selection with and without the CoTnPoT filter, each over several seeds, with 95% "
                        "intervals. Writes OUT/report.md, report.json and the plots.",
                        formatter_class=HelpWithDefaults)
    ex.add_argument("--out", type=Path, default=Path("runs/experiment"), help="directory for the report")
    ex.add_argument("--seeds", type=int, default=3, help="seeds (each: its own problems, training and sampling)")
    ex.add_argument("--problems", type=int, default=400, help="problems per seed (a quarter held out)")
    ex.add_argument("--epochs", type=int, default=3, help="training epochs of each verifier")
    ex.add_argument("--sampler", choices=("reasoner", "rules"), default="rules",
                    help="candidates from the rule-based sampler or from a tiny reasoner LM trained here")
    ex.add_argument("--reasoner-steps", type=int, default=700, help="the reasoner's fine-tuning steps")
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _experiment(args) -> int:
    from .train.experiment import run
    from .train.reasoner import ReasonerConfig
    for flag, value, least in (("--seeds", args.seeds, 1), ("--problems", args.problems, 20),
                               ("--epochs", args.epochs, 1), ("--reasoner-steps", args.reasoner_steps, 1)):
        if value < least:
            raise UsageError(f"{flag} must be >= {least}, got {value}"
                             + (" (a quarter is held out, and both halves need problems)" if flag == "--problems" else ""))
    output_dir(args.out, "--out")
    run(args.out, seeds=args.seeds, problems=args.problems, epochs=args.epochs, progress=not args.quiet,
        sampler=args.sampler, reasoner=ReasonerConfig(steps=args.reasoner_steps))
    print((args.out / "report.md").read_text())
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A model's reply (or a candidate file) may hold a lone surrogate, which no encoding can print: the
    # tables show it escaped rather than end the run (found by a breaker).
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    commands = {"eval": _eval, "experiment": _experiment, "generate": _generate}
    try:
        if args.command in commands:
            return commands[args.command](args)
        if args.command == "train":
            from .train.run import main as train_main
            return train_main(args)
    except UsageError as exc:
        print(f"cotnpot {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # a path the system refused midway (no permission, a full disk): one line, not a
        # traceback; what finished is in the caches
        print(f"cotnpot {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # Ctrl-C: what finished is in the caches (eval, generate) or the last checkpoint
        print(f"cotnpot {args.command}: interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return 0 if args.command is None else 2


def entry_point() -> int:
    """The command line as a program runs it (the ``cotnpot`` script, ``python -m cotnpot``): :func:`main`, and
    after a Ctrl-C an exit that does not wait for threads still in a request. The first Ctrl-C lets the
    requests in flight finish and saves their replies; a second one ends :func:`main` with 130, but the
    interpreter then joined the request threads at its exit, each up to its timeout and retries (20 minutes
    against a hung server, and three more presses; a breaker). Every cache entry is written as it is made,
    one write each, so at most an entry being written at that instant is lost (a cut line is skipped on the
    next read)."""
    code = main()
    if code == 130 and any(t.is_alive() and not t.daemon for t in threading.enumerate()
                           if t is not threading.main_thread()):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):   # a closed or broken stream must not keep the process
                stream.flush()
        os._exit(130)
    return code


if __name__ == "__main__":
    sys.exit(entry_point())
