#!/usr/bin/env python3
"""plinth's capability suites against lm-evaluation-harness itself (run by scripts/check-lmeval).

Why: `plinth eval` scores multiple-choice suites (eval.suites) the way the harness scores a
`multiple_choice` task, so that a user's accuracy before and after a fine-tune means what the
harness's would. This script runs the harness's own scoring, through transformers, on the same
suites and models and compares per question:

1. The Hugging Face fixture tests/fixtures/hf/llama-gqa-tied-fp32 (saved by transformers) as
   the base of a LoRA fine-tune by plinth: `plinth eval` scores the suites on base and tuned,
   `plinth export` writes the tuned model as a Hugging Face folder, and the harness scores the
   fixture folder and the export. Llama convention: BOS first.
2. A model plinth pretrained itself, fully fine-tuned: the harness scores the exports of the
   pretrained and the tuned checkpoint. plinth's convention: EOS first (the export names it as
   bos_token).

Suites: tests/fixtures/lmeval/suite.jsonl (edge cases: trailing white space, byte fallback, a
query longer than the context, a token across the cut) with the delimiter " " and with "\\n",
and the cloze suite `plinth suite make` cuts from the recipe's domain. The harness runs with
add_bos_token=True (both put the model's document-start token first), float32, on the CPU.
Checked: every choice's log-likelihood within 1e-4 relative, and acc / acc_norm identical per
question.

    scripts/check-lmeval [build/plinth]          # makes the venv, then runs this
    python check_lmeval.py --plinth build/plinth [--keep DIR] [--write-fixture]

--write-fixture rewrites tests/fixtures/lmeval/expected.json (the harness's log-likelihoods of
part 1's base on the fixture suite), which tests/eval/lmeval_fixture_test.cpp checks in CI.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_hf as C  # noqa: E402
import hf_common as H  # noqa: E402

REL_TOL = 1e-4
ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = ROOT / "tests/fixtures/hf/llama-gqa-tied-fp32"
FIXTURE_SUITE = ROOT / "tests/fixtures/lmeval/suite.jsonl"
FIXTURE_EXPECTED = ROOT / "tests/fixtures/lmeval/expected.json"
# name -> (file, delimiter); the cloze suite is added once plinth has made it.
FIXTURE_SUITES = {"fixture-space": (FIXTURE_SUITE, " "), "fixture-newline": (FIXTURE_SUITE, "\n")}


def read_questions(path: Path) -> list[dict]:
    """A suite's questions, without plinth's provenance header line."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        j = json.loads(line)
        if "plinth_suite" not in j:
            out.append(j)
    return out


def write_tasks(tasks_dir: Path, suites: dict[str, tuple[Path, str]]) -> list[str]:
    """One harness task per suite: a local JSONL (header dropped) and a task YAML over it."""
    tasks_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for name, (path, delimiter) in suites.items():
        task = "plinth_" + name.replace("-", "_")
        data = tasks_dir / f"{task}.jsonl"
        data.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in read_questions(path)),
                        encoding="utf-8")
        # doc_to_text / doc_to_choice / doc_to_target name the document's fields; the harness
        # then takes them as they are (no template).
        (tasks_dir / f"{task}.yaml").write_text(
            f"task: {task}\n"
            f"dataset_path: json\n"
            f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
            f"test_split: test\n"
            f"output_type: multiple_choice\n"
            f"doc_to_text: query\n"
            f"doc_to_choice: choices\n"
            f"doc_to_target: gold\n"
            f"target_delimiter: {json.dumps(delimiter)}\n"
            f"metric_list:\n  - metric: acc\n  - metric: acc_norm\n  - metric: acc_mutual_info\n")
        names.append(task)
    return names


def unconditional_same(folder: Path, continuations: list[str]) -> list[bool]:
    """Per continuation (delimiter + choice), whether transformers' tokenizer of `folder` encodes it
    as sentencepiece (plinth) does. The harness encodes a request without a query on its own, and
    transformers' Llama tokenizer (Metaspace) encodes a text that starts with white space unlike
    sentencepiece, by design (docs/hf-interop.md): such a request is other tokens in the two."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    spm_file = folder / "tokenizer.model"
    if not spm_file.exists():
        return [True] * len(continuations)
    hf = AutoTokenizer.from_pretrained(str(folder))
    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    return [hf.encode(c, add_special_tokens=False) == sp.encode(c) for c in continuations]


def harness_scores(folder: Path, tasks_dir: Path, tasks: list[str],
                   delimiters: list[str]) -> dict[str, list[dict]]:
    """The harness's per-document samples of each task on the model folder, by doc_id:
    {"ll": [per choice], "ll_unconditional": [per choice], "acc", "acc_norm", "acc_mutual_info": 0/1}.
    With acc_mutual_info listed the harness appends one request ("", delimiter + choice) per
    choice after the conditional ones: the responses' second half. "unconditional_same": per
    choice, whether that request is the same tokens as plinth's (unconditional_same)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(folder), "dtype": "float32", "device": "cpu", "add_bos_token": True},
        tasks=tasks, task_manager=TaskManager(include_path=str(tasks_dir)), batch_size=4,
        log_samples=True, bootstrap_iters=0)
    result = {}
    for task, delimiter in zip(tasks, delimiters):
        rows = sorted(out["samples"][task], key=lambda s: s["doc_id"])
        result[task] = []
        for s in rows:
            lls = [float(r[0]) for r in s["filtered_resps"]]
            half = len(lls) // 2
            same = unconditional_same(folder, [delimiter + c for c in s["doc"]["choices"]])
            result[task].append({"ll": lls[:half], "ll_unconditional": lls[half:], "unconditional_same": same,
                                 "acc": int(s["acc"]), "acc_norm": int(s["acc_norm"]),
                                 "acc_mutual_info": int(s["acc_mutual_info"])})
    return result


def first_max(values: list[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-6)


def compare(res: C.Results, check: str, variant: str, plinth_suite: dict, column: str, theirs: list[dict]) -> None:
    """plinth's per-question log-likelihoods (report.json's suites[].per_question) vs the harness."""
    pq = plinth_suite["per_question"]
    worst, acc_diff, norm_diff, mi_diff, n = 0.0, 0, 0, 0, len(pq["index"])
    other_tokens = 0  # questions whose requests without the query are other tokens in transformers
    alone_column = column + "_unconditional"
    if alone_column not in pq:
        res.add(check, variant, False, note=f"report.json has no per_question.{alone_column}")
        return
    if n != len(theirs):
        res.add(check, variant, False, note=f"plinth scored {n} questions, the harness {len(theirs)}")
        return
    for k in range(n):
        ours = pq[column][k]
        want = theirs[pq["index"][k]]
        if len(ours) != len(want["ll"]):
            res.add(check, variant, False, note=f"question {pq['index'][k]}: {len(ours)} vs {len(want['ll'])} choices")
            return
        alone = pq[alone_column][k]
        worst = max(worst, max(rel_diff(a, b) for a, b in zip(ours, want["ll"])))
        gold = pq["gold"][k]
        acc = int(first_max(ours) == gold)
        chars = pq["choice_chars"][k]
        acc_norm = int(first_max([ll / c for ll, c in zip(ours, chars)]) == gold)
        acc_diff += acc != want["acc"]
        norm_diff += acc_norm != want["acc_norm"]
        if not all(want["unconditional_same"]):
            other_tokens += 1
            continue
        worst = max(worst, max(rel_diff(a, b) for a, b in zip(alone, want["ll_unconditional"])))
        acc_mi = int(first_max([a - b for a, b in zip(ours, alone)]) == gold)
        mi_diff += acc_mi != want["acc_mutual_info"]
    # Only an imported Llama-convention model (Metaspace) may encode them otherwise: plinth's own
    # exports must agree on every question.
    ok = worst <= REL_TOL and acc_diff == 0 and norm_diff == 0 and mi_diff == 0 and (
        other_tokens == 0 or variant == "hf-fixture")
    res.add(check, variant, ok, worst,
            f"{n} questions; relative ll difference (with and without the query); acc differs on {acc_diff}, "
            f"acc_norm on {norm_diff}, acc_mutual_info on {mi_diff} of {n - other_tokens} "
            f"({other_tokens} without the query are other tokens in transformers: Metaspace)")


def suite_eval_yaml(suites: dict[str, tuple[Path, str]], cloze_questions: int) -> str:
    lines = ["eval:", "  precision: fp32", "  max_tokens: 2048", "  min_documents: 4", "  batch_size: 4",
             "  suite_questions: 0", "  suites:"]
    for name, (path, delimiter) in suites.items():
        lines.append(f"    - {{name: {name}, path: {json.dumps(str(path))}, delimiter: {json.dumps(delimiter)}}}")
    lines += ["suites:", "  cloze:", f"    questions: {cloze_questions}", "    choices: 4",
              "    query_chars: 200", "    min_answer_chars: 10", "    max_answer_chars: 60"]
    return "\n".join(lines) + "\n"


def plinth_suites(work: Path) -> dict[str, tuple[Path, str]]:
    suites = dict(FIXTURE_SUITES)
    suites["legal-cloze"] = (work / "suites" / "legal-same.jsonl", " ")
    return suites


def shard_documents(shard: Path, spm_file: Path) -> list[tuple[str, list[int]]]:
    """A validation shard's documents as text (lib/data/shard.h, version 1): each document's
    tokens without the EOS that ends it and a stored BOS, decoded by the tokenizer, with the ids
    sentencepiece gives that text."""
    import numpy as np
    import sentencepiece as spm

    raw = shard.read_bytes()
    if raw[:8] != b"PLSHARD1":
        raise RuntimeError(f"{shard}: not a plinth shard")
    width = struct.unpack_from("<I", raw, 12)[0]
    tokens, documents = struct.unpack_from("<QQ", raw, 24)
    ids = np.frombuffer(raw, dtype=np.uint16 if width == 2 else np.uint32, count=tokens, offset=128)
    index = np.frombuffer(raw, dtype=np.uint64, count=2 * documents, offset=128 + tokens * width)
    firsts = [int(index[2 * d]) for d in range(documents)] + [tokens]
    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    out = []
    for d in range(documents):
        doc = [int(t) for t in ids[firsts[d]:firsts[d + 1]]]
        if doc and doc[-1] == sp.eos_id():
            doc.pop()
        if doc and sp.bos_id() >= 0 and doc[0] == sp.bos_id():
            doc.pop(0)
        text = sp.decode(doc)
        out.append((text, sp.encode(text)))
    return out


def compare_rolling(res: C.Results, variant: str, report: dict, shards: Path, spm_file: Path,
                    folders: dict[str, Path]) -> None:
    """The report's per-document NLL (whole documents) against the harness's
    loglikelihood_rolling on the same text, with add_bos_token=False: the harness's prefix token
    is the BOS already, and the tokenizer's default would encode a second one and score it."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    for domain in report["domains"]:
        docs = domain["per_document"]
        texts = shard_documents(shards / domain["name"] / "val.bin", spm_file)
        whole = [k for k in range(len(docs["index"])) if docs["first_token"][k] == 0]
        for side, folder in folders.items():
            lm = HFLM(pretrained=str(folder), dtype="float32", device="cpu", add_bos_token=False, batch_size=1)
            # transformers' Llama tokenizer (Metaspace) encodes a text that starts with white space
            # unlike sentencepiece, by design (docs/hf-interop.md); such a document is not the
            # same token sequence in the two, so it is left out and counted.
            same = [k for k in whole if lm.tok_encode(texts[docs["index"][k]][0]) == texts[docs["index"][k]][1]]
            requests = [Instance(request_type="loglikelihood_rolling", doc={}, arguments=(texts[docs["index"][k]][0],),
                                 idx=i) for i, k in enumerate(same)]
            theirs = lm.loglikelihood_rolling(requests, disable_tqdm=True)
            worst, token_diff = 0.0, 0
            for i, k in enumerate(same):
                worst = max(worst, rel_diff(docs[f"{side}_nll"][k], -theirs[i]))
                token_diff += len(texts[docs["index"][k]][1]) != docs["tokens"][k]
            ok = len(same) > 0 and worst <= REL_TOL and token_diff == 0
            res.add(f"rolling nll {domain['name']} {side}", variant, ok, worst,
                    f"{len(same)} whole documents of {len(docs['index'])} scored "
                    f"({len(whole) - len(same)} start with white space: Metaspace); token counts differ on {token_diff}")


def run_pair(res: C.Results, plinth: C.Plinth, variant: str, recipe: Path, work: Path,
             base_folder: Path, tuned_ckpt: Path, run: Path, shards: Path, spm_file: Path) -> None:
    """plinth eval of a fine-tune, the tuned checkpoint exported, and the harness on both."""
    suites = plinth_suites(work)
    plinth.run("eval", str(recipe), timeout=900)
    report = json.loads((run / "report.json").read_text())
    ours = {s["name"]: s for s in report["suites"]}
    tuned_folder = work / f"{variant}-tuned-export"
    plinth.run("export", str(tuned_ckpt), str(tuned_folder))
    tasks_dir = work / "tasks"
    tasks = write_tasks(tasks_dir, suites)
    for side, folder, column in (("base", base_folder, "base_ll"), ("tuned", tuned_folder, "tuned_ll")):
        theirs = harness_scores(folder, tasks_dir, tasks, [d for _, d in suites.values()])
        for (name, _), task in zip(suites.items(), tasks):
            compare(res, f"{name} {side}", variant, ours[name], column, theirs[task])
    compare_rolling(res, variant, report, shards, spm_file, {"base": base_folder, "tuned": tuned_folder})


def part1_hf(res: C.Results, plinth: C.Plinth, work: Path) -> None:
    print("[1] LoRA fine-tune of the transformers fixture: plinth eval vs the harness", flush=True)
    d = work / "hf"
    d.mkdir()
    task = d / "task.jsonl"
    task.write_text("".join(json.dumps(e) + "\n" for e in C.task_examples()))
    run = d / "run"
    recipe = d / "lora.yaml"
    # The fixture's tokenizer has no newline piece: the answers end with "." (one piece).
    lora = C.lora_recipe(run, FIXTURE_MODEL, task).replace('completion_suffix: "\\n"', 'completion_suffix: "."')
    recipe.write_text(lora + suite_eval_yaml(plinth_suites(d), 16))
    plinth.run("prepare", str(recipe))
    plinth.run("suite", "make", str(recipe), "--out", str(d / "suites"))
    plinth.run("finetune", str(recipe), timeout=900)
    run_pair(res, plinth, "hf-fixture", recipe, d, FIXTURE_MODEL, run / "tuned.ckpt", run, d / "shards",
             FIXTURE_MODEL / "tokenizer.model")


def own_finetune_recipe(base: Path, task: Path, run: Path) -> str:
    # The pretraining recipe's tokenizer and data (own-data.yaml, beside it), a full fine-tune of
    # its best checkpoint on the counting task.
    return f"""# check-lmeval: a full fine-tune of a model plinth pretrained (scripts/hf/check_lmeval.py)
include: own-data.yaml
name: own-ft
task:
  name: own-count
  format: jsonl
  path: {task}
  template: "Q: {{prompt}}\\nA:"
  completion_suffix: "\\n"
  val_fraction: 0.2
  test_fraction: 0.2
finetune:
  base: {base}
  method: full
train:
  steps: 4
  lr: 0.01
  warmup_steps: 0
  weight_decay: 0.0
  checkpoint_every: 4
  eval_every: 4
  keep_best: false
  run_dir: {run}
"""


def part2_own(res: C.Results, plinth: C.Plinth, work: Path) -> None:
    print("[2] a model plinth pretrained, fully fine-tuned: plinth eval vs the harness", flush=True)
    d = work / "own"
    d.mkdir()
    # check-hf's recipe, its tokenizer: and data: sections in a file of their own that the
    # fine-tune includes too (a fine-tuning recipe may not have a model: section).
    text = C.own_recipe(d)
    cut = text.index("\nmodel:\n") + 1
    (d / "own-data.yaml").write_text(text[:cut])
    pre = d / "own.yaml"
    pre.write_text("include: own-data.yaml\n" + text[cut:])
    plinth.run("tokenizer", "train", str(pre))
    plinth.run("prepare", str(pre))
    plinth.run("pretrain", str(pre), timeout=900)
    best = d / "run" / "checkpoints" / "best.ckpt"
    base_folder = d / "own-base-export"
    plinth.run("export", str(best), str(base_folder))
    task = d / "task.jsonl"
    task.write_text("".join(json.dumps(e) + "\n" for e in C.task_examples()))
    run = d / "ft"
    recipe = d / "ft.yaml"
    recipe.write_text(own_finetune_recipe(best, task, run) + suite_eval_yaml(plinth_suites(d), 16))
    plinth.run("suite", "make", str(recipe), "--out", str(d / "suites"))
    plinth.run("finetune", str(recipe), timeout=900)
    run_pair(res, plinth, "plinth-own", recipe, d, base_folder, run / "tuned.ckpt", run, d / "shards",
             d / "tok.model")


def write_fixture(res: C.Results, work: Path) -> None:
    """The harness's numbers for the C++ test: part 1's base on the fixture suite."""
    tasks_dir = work / "fixture-tasks"
    tasks = write_tasks(tasks_dir, FIXTURE_SUITES)
    theirs = harness_scores(FIXTURE_MODEL, tasks_dir, tasks, [d for _, d in FIXTURE_SUITES.values()])
    import lm_eval
    vers = H.versions()
    doc = {"note": "lm-evaluation-harness's multiple_choice scoring of suite.jsonl on ../hf/llama-gqa-tied-fp32 "
                   "(add_bos_token=True, float32, CPU); written by scripts/hf/check_lmeval.py --write-fixture",
           "lm_eval": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "?",
           "transformers": vers["transformers"], "torch": vers["torch"],
           "model": "../hf/llama-gqa-tied-fp32", "suite": "suite.jsonl",
           "suites": {name: {"delimiter": FIXTURE_SUITES[name][1], "questions": theirs[task]}
                      for name, task in zip(FIXTURE_SUITES, tasks)}}
    FIXTURE_EXPECTED.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    res.add("fixture written", "hf-fixture", True, note=str(FIXTURE_EXPECTED.relative_to(ROOT)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plinth", type=Path, required=True)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    ap.add_argument("--write-fixture", action="store_true", help="rewrite tests/fixtures/lmeval/expected.json")
    args = ap.parse_args()
    work = H.start_checks(args.keep, "check-lmeval-")
    t0 = time.time()
    binary = args.plinth.resolve()
    os.environ.setdefault("HF_DATASETS_CACHE", str(work / "datasets-cache"))
    import lm_eval

    log = work / "plinth.log"
    plinth = C.Plinth(binary, log)
    vers = H.versions()
    print(f"check-lmeval: {binary} against lm-evaluation-harness {getattr(lm_eval, '__version__', '?')}, "
          f"transformers {vers['transformers']}, torch {vers['torch']}; work in {work}", flush=True)
    res = C.Results()
    parts = [write_fixture] if args.write_fixture else []
    parts += [part1_hf, part2_own]
    for part in parts:
        try:
            part(res, plinth, work) if part is not write_fixture else part(res, work)
        except (C.PlinthError, subprocess.TimeoutExpired) as e:
            res.add(part.__name__, "-", False, note=str(e)[:300])
        except Exception:  # noqa: BLE001 - a crash of this script is a failure too, with its trace
            traceback.print_exc()
            res.add(f"{part.__name__} itself", "-", False, note="crashed: see the trace above")
    print()
    print(res.table())
    print()
    verdict = "FAIL" if res.failed or not res.passed else "PASS"
    keep = bool(args.keep or res.failed)
    print(f"check-lmeval: {verdict}: {res.passed} passed, {res.failed} failed in {time.time() - t0:.0f} s"
          + (f"; folders and plinth's output ({log.name}) kept in {work}" if keep else ""))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
