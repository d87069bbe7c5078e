"""``cotnpot train``: candidate file (or TRL pairs) -> pairs -> a trained verifier directory that
``cotnpot eval --verifier DIR`` loads. Writes OUT/pair_stats.json, OUT/{train,eval}_pairs.jsonl,
OUT/metrics.jsonl (every step, and held-out best-of-N accuracy after every epoch), OUT/checkpoint.pt
and OUT/verifier/. Under ``torchrun`` the processes train one model with DDP (gloo on the CPU, NCCL on
GPUs, one per process): every process builds the same pairs, each takes its share of every step, rank 0
alone writes and prints."""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from .. import distributed
from ..atomic_file import atomic_file
from ..output_lock import OutputInUse, hold_output_lock
from ..pipeline.data import FORMATS, CandidateTable, load_candidates
from ..selection import best_of_n
from ..verifier import load_verifier, score_table
from .pairs import build_pairs, read_pairs, split_by_problem, write_pairs
from .trainer import TrainConfig, VerifierTrainer


def held_out_best_of_n(table: CandidateTable):
    """evaluate(trainer) for VerifierTrainer.train: the verifier's best-of-N accuracy (in %) on the table's
    problems, N = all their candidates."""
    labels, valid = table.labels(), table.valid()

    def evaluate(trainer) -> dict:
        trainer.model.eval()
        scores = _score(table, trainer)
        pick = best_of_n(scores, valid)
        right = labels.gather(1, pick.clamp_min(0)[:, None])[:, 0] & (pick >= 0)
        return {"best_of_n_accuracy": 100.0 * right.float().mean().item(), "problems": len(table.problems)}
    return evaluate


def _score(table, trainer):
    """score_table with the trainer's model (and its ORM head, attached only while scoring: as a submodule
    it would otherwise enter the checkpoints' parameters), each solution cut to the training's max_length as
    the training cut its pairs (a held-out solution past the model's context had ended the run after its
    training, found by a breaker)."""
    if trainer.head is not None:
        trainer.model.orm_head = trainer.head
    try:
        return score_table(table, trainer.model, trainer.tokenizer, batch_size=trainer.config.micro_batch_size,
                           max_length=trainer.config.max_length)
    finally:
        if trainer.head is not None:
            del trainer.model.orm_head


def run(args) -> int:
    """``cotnpot train``; under torchrun it joins the process group (and leaves it) unless the caller has."""
    device = distributed.local_device(args.device)
    ours = not torch.distributed.is_initialized()
    if distributed.init_from_env(device) and ours:   # under torchrun: DDP over the processes
        try:
            return _run(args, device)
        finally:   # left to interpreter exit, gloo's teardown can abort the process
            torch.distributed.destroy_process_group()
    return _run(args, device)


def _run(args, device) -> int:
    main_process = distributed.is_main()

    def say(message):
        if main_process:
            print(message)

    from ..cli import not_an_input, one_line, output_dir
    # --pairs OUT/train_pairs.jsonl had been replaced by its own training split, its held-out pairs lost (a
    # breaker): no file the run writes is one of its inputs
    not_an_input({f"--out's {name}": Path(args.out) / name
                  for name in ("train_pairs.jsonl", "eval_pairs.jsonl", "pair_stats.json")},
                 {"--pairs": args.pairs, "--candidates": args.candidates})
    # A run without --resume had replaced an earlier one in the same --out (its checkpoint, metrics and verifier)
    # without a word (a new user): it must be asked for. Rank 0 decides for all (an --out local to each node
    # must not stop one rank alone while the others wait in a collective: a reviewer).
    refusal = None
    if main_process:
        earlier = [name for name in ("checkpoint.pt", "metrics.jsonl", "verifier") if (Path(args.out) / name).exists()]
        if earlier and not (args.resume or getattr(args, "overwrite", False)):
            try:   # a run still going there is named as such, not as an earlier one
                hold_output_lock(Path(args.out), "cotnpot train").close()
            except OutputInUse as exc:
                refusal = str(exc)
            else:
                what = (", or --resume continues it" if "checkpoint.pt" in earlier else
                        " (it has no checkpoint.pt to continue: --resume starts afresh too)")
                refusal = (f"--out {args.out} holds an earlier run ({', '.join(earlier)}): --overwrite starts a new "
                           f"run in its place{what}; or give another --out")
    refusal = distributed.from_main(refusal)
    if refusal is not None:
        raise ValueError(refusal)
    model_dir = Path(args.model[5:] if args.model.startswith("tiny:") else args.model)
    if not model_dir.is_dir():   # before the pairs are built and their statistics printed (a new user)
        raise ValueError(f"cannot load the model from {args.model}: no such directory (--model takes a directory "
                         "written by save_pretrained, or tiny:DIR)")
    out = output_dir(Path(args.out), "--out")   # made once the run can start: a refused option left it empty
    held_out_table = None
    if args.pairs:
        pairs = read_pairs(args.pairs)
        say(f"cotnpot train: {len(pairs)} pairs from {args.pairs}")
    else:
        table = load_candidates(args.candidates, args.format)
        pairs, stats = build_pairs(table, args.pairs_per_problem, args.seed)
        say(f"cotnpot train: {stats.summary()}")
    train, held_out = split_by_problem(pairs, args.eval_fraction, args.seed)
    if args.micro_batch_size is not None and args.micro_batch_size < 1:   # 0 silently became the batch size
        raise ValueError(f"--micro-batch-size must be >= 1, got {args.micro_batch_size}")
    config = TrainConfig(objective=args.objective, epochs=args.epochs, max_steps=args.max_steps,
                         batch_size=args.batch_size, micro_batch_size=args.micro_batch_size or args.batch_size,
                         lr=args.lr, warmup_steps=args.warmup_steps, max_length=args.max_length,
                         truncation=args.truncation, bf16=args.bf16, seed=args.seed, sft_weight=args.sft_weight,
                         checkpoint_every=args.checkpoint_every, pair_layout=args.pair_layout,
                         progress=not args.quiet)
    config.check()
    if args.quiet:   # transformers' own bars too (save_pretrained's "Writing model shards": a new user)
        from transformers.utils import logging as transformers_logging
        transformers_logging.disable_progress_bar()
    # The model is loaded before any pair file is written: a run that cannot start must leave an earlier
    # run's pairs matching its verifier and checkpoint (found by a breaker).
    try:
        model, tokenizer = load_verifier(args.model)
    except Exception as exc:   # noqa: BLE001 -- whatever a broken model directory raises
        raise ValueError(f"cannot load the model from {args.model}: {one_line(exc)}") from exc
    # So is everything else that would stop the run before its first step (the model's context and vocabulary,
    # a refused --resume, a pair too long): the pair files are written only once it can start.
    trainer = VerifierTrainer(model.to(device), tokenizer, config, out)
    trainer.check_start(train, resume=args.resume)
    # One run per --out: rank 0 takes the directory's lock before anything is written there, and every rank
    # learns whether it did (alone, the others had gone on into the first collective and waited there).
    lock, busy = None, None
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        try:
            lock = hold_output_lock(out, "cotnpot train")
        except OutputInUse as exc:
            busy = str(exc)
    busy = distributed.from_main(busy)
    if busy is not None:
        raise OutputInUse(busy)
    try:
        if main_process:   # every process holds the same pairs; one writes them
            if not args.pairs:
                with atomic_file(out / "pair_stats.json", "w", permissions=0o644, encoding="utf-8") as f:
                    f.write(json.dumps(stats.to_json(), indent=1))
            write_pairs(train, out / "train_pairs.jsonl")
            write_pairs(held_out, out / "eval_pairs.jsonl")
        if not args.pairs and held_out:
            ids = {p.problem_id for p in held_out}
            held_out_table = replace(table, problems=[p for p in table.problems if p.id in ids])
        held_problems = len({p.problem_id for p in held_out})
        say(f"cotnpot train: {plural(len(train), 'training pair')}, {plural(len(held_out), 'held-out pair')} of "
            f"{plural(held_problems, 'problem')}")
        evaluate = held_out_best_of_n(held_out_table) if held_out_table is not None else None
        last = trainer.train(train, resume=args.resume, evaluate=evaluate)
        verifier = trainer.save_verifier()
        layout = trainer.layout or "not decided (no step run)"
        say(f"cotnpot train: {plural(trainer.step, 'step')} on {trainer.world} process{'es' if trainer.world > 1 else ''} "
            f"({device}), last loss {last.get('loss', float('nan')):.4f}; "
            f"{plural(trainer.collator.truncated, 'sequence')} truncated; pair layout {layout}"
            f"{f' ({trainer.layout_reason})' if trainer.layout == 'concatenated' and trainer.layout_reason else ''}; "
            f"verifier in {verifier}")
        distributed.barrier()   # no process leaves (and tears the group down) while rank 0 still writes
        return 0
    finally:
        if lock is not None:   # released here, not when the frame is collected (a traceback keeps it)
            lock.close()


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--candidates", type=Path, help="candidate file with correctness labels (the qwen, ovm "
                        "and openai formats carry them; tora, pot and code files do not)")
    source.add_argument("--pairs", type=Path, help="TRL-style JSONL: prompt, chosen, rejected")
    parser.add_argument("--format", default="auto", choices=("auto",) + FORMATS,
                        help="the candidate file's format; auto detects it from the first row")
    parser.add_argument("--model", required=True, help="directory written by save_pretrained (model + tokenizer)")
    parser.add_argument("--objective", default="simpo", choices=("simpo", "dpo", "orm"),
                        help="SimPO (reference-free), DPO (the model before training is the reference) or an ORM head")
    parser.add_argument("--out", required=True, type=Path,
                        help="the run's directory: pairs, metrics, checkpoint.pt and verifier/")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training pairs")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (default: the epochs')")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per optimizer step")
    parser.add_argument("--micro-batch-size", type=int, help="pairs per forward pass (default: batch size)")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (AdamW, cosine schedule)")
    parser.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up steps")
    parser.add_argument("--max-length", type=int, default=1024,
                        help="tokens of prompt + solution per sequence (default: %(default)s; TrainConfig's own is "
                             f"{TrainConfig.max_length})")
    parser.add_argument("--truncation", default="error", choices=("error", "truncate"),
                        help="a pair past --max-length: refused, or its solutions cut")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--device", default="auto",
                        help="auto (GPU LOCAL_RANK where torch sees one, else the CPU), cpu, cuda or cuda:N")
    parser.add_argument("--pair-layout", default="auto", choices=("auto", "shared_prefix", "concatenated"),
                        help="each pair's shared prefix run once (auto: where the model allows)")
    parser.add_argument("--sft-weight", type=float, default=0.0, help="SimPO's SFT term (its weight)")
    parser.add_argument("--pairs-per-problem", type=int, help="k pairs per problem (default: all)")
    parser.add_argument("--eval-fraction", type=float, default=0.1, help="problems held out (default 0.1)")
    parser.add_argument("--checkpoint-every", type=int, default=0,
                        help="optimizer steps between checkpoints (0: at each epoch's end and at --max-steps)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    again.add_argument("--overwrite", action="store_true", help="start a new run where --out holds an earlier one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the pair draw and the training")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args) -> int:
    try:
        return run(args)
    except (ValueError, OSError, OutputInUse) as error:   # bad options and data, paths the system refused, a busy --out
        print(f"cotnpot train: {error}", file=sys.stderr)
        return 2
