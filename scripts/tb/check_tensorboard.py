#!/usr/bin/env python3
"""plinth's TensorBoard event files, read by tensorboard's own EventAccumulator (scripts/check-tensorboard).

Every scalar series of a run's tb/ must hold exactly the values of its metrics.jsonl, step for
step and equal as float32: after a SIGKILL with the last record torn, after the resumed run
ends (also with the killed run's file put back beside the new one, as a kill inside the
resume's rewrite would leave it), for a fine-tune with a select: panel, and, for the eval's tb/eval, the figures of
report.json at the tuned step.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from tensorboard.backend.event_processing import event_accumulator

# metrics.jsonl keys -> TensorBoard tags (lib/train/metrics_log.h, tensorboard_event).
TRAIN_KEYS = ["loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "penalty", "replay_share",
              "distill_kl", "skipped_steps", "lr_scale"]
NOT_SCALARS = {"step", "wall_time"}

DATA = """tokenizer: {model: tok/small, vocab_size: 600, sample_bytes: 1MiB,
            user_defined_symbols: ["<|prompt|>", "<|response|>", "<|end|>"]}
data:
  shards: shards
  val_fraction: 0.2
  domains:
    - {name: alpha, weight: 1.0, sources: [{path: corpus/alpha.txt, documents: blank_line}]}
    - {name: beta, weight: 2.0, sources: [{path: corpus/beta, documents: blank_line}]}
"""

RECIPE = """include: data.yaml
name: tb
model: {dim: 64, layers: 2, heads: 2, context: 64}
train: {steps: 60, warmup_steps: 2, batch_size: 4, log_every: 1, eval_every: 5, eval_tokens: 256,
        checkpoint_every: 5, keep_last: 2, precision: fp32, device: cpu}
"""

FINETUNE = """include: data.yaml
name: tb-ft
finetune: {base: runs/tb, method: full}
task: {format: tsv, path: task.tsv, val_fraction: 0.2, test_fraction: 0.2}
train: {steps: 12, warmup_steps: 1, batch_size: 4, log_every: 1, eval_every: 4, checkpoint_every: 4,
        precision: fp32, device: cpu}
select: {every: 4, max_forgetting: 90%, panel_tokens: 256}
eval: {max_tokens: 256, task_examples: 4, task_samples: 2}
"""

PAIRS = ["Haus\thouse", "Baum\ttree", "Hund\tdog", "Katze\tcat", "Wasser\twater", "Feuer\tfire",
         "Brot\tbread", "Milch\tmilk", "Buch\tbook", "Stadt\ttown", "Weg\tway", "Licht\tlight",
         "Stein\tstone", "Nacht\tnight", "Tag\tday", "Hand\thand"]


class Tally:
    series = 0
    points = 0


def fail(message):
    print(f"check-tensorboard: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def plinth(args, work, plinth_bin):
    r = subprocess.run([plinth_bin] + args + ["--threads", "2"], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"plinth {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")


def metrics_series(run):
    """tag -> {step: float32} from metrics.jsonl; a torn last line (a kill) is skipped."""
    series = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for text in f:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            step = line["step"]

            def put(tag, value):
                if value is not None and math.isfinite(value):
                    series.setdefault(tag, {})[step] = np.float32(value)

            for key, value in line.items():
                if key in NOT_SCALARS:
                    continue
                if key in TRAIN_KEYS:
                    put("train/" + key, value)
                elif key in ("val_loss", "forgetting"):
                    group = "val" if key == "val_loss" else "forgetting"
                    for domain, x in value.items():
                        put(f"{group}/{domain}", x)
                elif key in ("val_loss_mean", "forgetting_mean"):
                    put(("val" if key == "val_loss_mean" else "forgetting") + "/mean", value)
                elif key == "panel_s":
                    put("forgetting/panel_s", value)
                else:
                    fail(f"{run}/metrics.jsonl has '{key}', which has no TensorBoard tag here")
    return series


def tensorboard_series(tb):
    acc = event_accumulator.EventAccumulator(tb, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        points = acc.Scalars(tag)
        steps = [p.step for p in points]
        if len(steps) != len(set(steps)):
            fail(f"{tb}: {tag} holds a step twice: {steps}")
        out[tag] = {p.step: np.float32(p.value) for p in points}
    return out


def compare(what, expected, seen, missing_last_step=None):
    """Every series equal, step for step and as float32; `missing_last_step`: a step whose
    points the event file may lack (the record a kill tore)."""
    for tag in sorted(set(expected) | set(seen)):
        want, got = dict(expected.get(tag, {})), seen.get(tag, {})
        if missing_last_step is not None and missing_last_step not in got:
            want.pop(missing_last_step, None)
        if set(want) != set(got):
            fail(f"{what}: {tag}: steps {sorted(got)} in TensorBoard, {sorted(want)} expected")
        for step, value in want.items():
            if got[step] != value:
                fail(f"{what}: {tag} at step {step}: {got[step]!r} in TensorBoard, {value!r} expected")
        Tally.series += 1
        Tally.points += len(want)
    print(f"check-tensorboard: {what}: {len(expected)} series, "
          f"{sum(len(v) for v in expected.values())} points agree")


def killed_run(work, plinth_bin):
    """Pretraining SIGKILLed once it has logged a few lines past a checkpoint."""
    log = open(os.path.join(work, "pretrain.log"), "w")
    proc = subprocess.Popen([plinth_bin, "pretrain", "tb.yaml", "--threads", "2"], cwd=work,
                            stdout=log, stderr=subprocess.STDOUT)
    metrics = os.path.join(work, "runs/tb/metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            with open(metrics) as f:
                if sum(1 for _ in f) >= 13:
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    if proc.poll() is not None:
        fail(f"the pretraining run ended (exit {proc.returncode}) before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plinth", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    args.plinth = os.path.abspath(args.plinth)
    start = time.time()
    work = tempfile.mkdtemp(prefix="plinth-check-tb-")
    try:
        os.makedirs(os.path.join(work, "corpus/beta"))
        shutil.copy("/usr/share/common-licenses/GPL-3", os.path.join(work, "corpus/alpha.txt"))
        for name in ["Apache-2.0", "MPL-2.0", "Artistic", "LGPL-2.1"]:
            shutil.copy(f"/usr/share/common-licenses/{name}", os.path.join(work, "corpus/beta", name))
        with open(os.path.join(work, "data.yaml"), "w") as f:
            f.write(DATA)
        with open(os.path.join(work, "tb.yaml"), "w") as f:
            f.write(RECIPE)
        with open(os.path.join(work, "tb-ft.yaml"), "w") as f:
            f.write(FINETUNE)
        with open(os.path.join(work, "task.tsv"), "w") as f:
            f.write("\n".join(PAIRS) + "\n")
        plinth(["tokenizer", "train", "tb.yaml"], work, args.plinth)
        plinth(["prepare", "tb.yaml"], work, args.plinth)

        run = os.path.join(work, "runs/tb")
        tb = os.path.join(run, "tb")
        killed_run(work, args.plinth)
        # The kill may have fallen between records: cut the last one as a torn write would.
        files = sorted(os.listdir(tb))
        if len(files) != 1:
            fail(f"{tb} holds {files}, one event file expected")
        path = os.path.join(tb, files[0])
        os.truncate(path, os.path.getsize(path) - 3)
        expected = metrics_series(run)
        last_step = max(s for series in expected.values() for s in series)
        compare("killed pretraining, last record torn", expected, tensorboard_series(tb), last_step)

        with open(path, "rb") as f:
            killed_file = f.read()
        plinth(["pretrain", "tb.yaml", "--resume"], work, args.plinth)
        compare("pretraining resumed to its end", metrics_series(run), tensorboard_series(tb))
        # A kill between the resume's new file and the removal of the old one leaves both: the
        # new file's SessionLog START makes TensorBoard drop the old file's points.
        if os.path.exists(path):
            fail(f"the resume left the killed run's event file {path}")
        with open(path, "wb") as f:
            f.write(killed_file)
        compare("the killed run's file left beside the resumed one", metrics_series(run), tensorboard_series(tb))
        os.remove(path)

        plinth(["finetune", "tb-ft.yaml"], work, args.plinth)
        ft = os.path.join(work, "runs/tb-ft")
        expected = metrics_series(ft)
        if not any(tag.startswith("forgetting/") for tag in expected):
            fail("the fine-tune logged no select: panel")
        compare("fine-tune with a select: panel", expected, tensorboard_series(os.path.join(ft, "tb")))

        plinth(["eval", "tb-ft.yaml"], work, args.plinth)
        with open(os.path.join(ft, "report.json")) as f:
            report = json.load(f)
        step = report["tuned"]["step"]
        figures = {}

        def put(tag, value, ci):
            for suffix, x in (("", value), ("/low", ci[0] if ci else None), ("/high", ci[1] if ci else None)):
                if x is not None:
                    figures[tag + suffix] = {step: np.float32(x)}

        for d in report["domains"]:
            put("eval/forgetting/" + d["name"], d["forgetting_pct"], d["forgetting_ci"])
        put("eval/forgetting/mean", report["overall"]["mean_forgetting_pct"], report["overall"]["mean_forgetting_ci"])
        if report.get("task"):
            put("eval/task_gain", report["task"]["gain_pct"], report["task"]["gain_ci"])
        compare("plinth eval's report.json", figures, tensorboard_series(os.path.join(ft, "tb/eval")))
        # The eval leaves the fine-tune's own run as it was.
        compare("fine-tune after plinth eval", metrics_series(ft), tensorboard_series(os.path.join(ft, "tb")))
    finally:
        if args.keep:
            print(f"check-tensorboard: scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"check-tensorboard: OK: {Tally.series} series, {Tally.points} points compared with "
          f"tensorboard's EventAccumulator in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
