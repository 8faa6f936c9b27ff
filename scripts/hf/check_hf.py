#!/usr/bin/env python3
"""plinth against transformers and peft, live (run by scripts/check-hf, which makes the venv).

Why: plinth reads Hugging Face Llama folders (`score`, `generate`, `import`, `finetune.base`) and
writes them (`export`, with a PEFT adapter after LoRA). Its C++ tests use fixtures made once by
transformers (tests/fixtures/hf/); this script makes fresh folders with the libraries
themselves and compares, so a new model variant or library version is checked end to end.

1. Folders made by transformers (random tiny LlamaForCausalLM + a Llama-style SentencePiece
   tokenizer): MHA untied fp32, GQA tied fp32 (rope_theta in transformers 5's rope_parameters),
   GQA untied bf16, GQA untied fp32 in shards. For each, and for the .ckpt `plinth import` makes
   of it: `plinth score` must give the token ids of transformers' tokenizer and per-token NLLs
   within 1e-5 of the float32 model; `plinth generate --temperature 0 --raw` the same 8 new
   ids as transformers' greedy generate.
2. A LoRA fine-tune by plinth of one of those folders, exported by `plinth export`: peft loads
   the adapter onto the original folder, transformers loads the merged export, and both agree
   with each other (logits; within 1e-5, or within the float32 rounding by which peft's own
   merge_and_unload differs from its unmerged model, whichever is larger) and with `plinth
   score` of tuned.ckpt (NLL, 1e-5); the export's weights are peft's merge; AutoTokenizer and
   generate work on the export as written, framing a text as the base folder's tokenizer
   does (BOS first). Then a model plinth trained itself
   (no dummy prefix; documents start with EOS, which its export's tokenizer_config.json gives
   as bos_token): AutoTokenizer on its export must tokenize as `plinth score` does.
3. A PASS/FAIL table with the largest differences; exit 1 on any failure.

    scripts/check-hf [build/plinth]           # makes the venv, then runs this
    python check_hf.py --plinth build/plinth [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_common as H  # noqa: E402

TOL = 1e-5
SEED = 1130
VOCAB = 512
SHAPE = dict(hidden=32, layers=2, heads=4, ffn=64, context=128)
# ~100 tokens: words, digits, a newline, two spaces, and é / — through byte fallback. It does
# not start with a space: there transformers' Metaspace and sentencepiece differ by design.
TEXT = ("The café — a naïve résumé of 1984: \"Software is like sex: it's better when it's free.\"\n"
        "Two  spaces, a tab\tand 3.14 stay as they are.")
PROMPT = "This program is free software"
NEW_TOKENS = 8
# name -> (kv_heads, tied, dtype, max_shard_size, rope_theta)
VARIANTS = {
    "mha-untied-fp32": (4, False, "float32", None, 10000.0),
    "gqa-tied-fp32": (2, True, "float32", None, 500000.0),
    "gqa-untied-bf16": (2, False, "bfloat16", None, 10000.0),
    "gqa-untied-sharded": (2, False, "float32", "40KB", 10000.0),
}
LORA_BASE = "gqa-untied-fp32"  # a single-file copy of the sharded variant's shape, made for part 2


class Results:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, check: str, variant: str, ok: bool | None, diff: float | None = None, note: str = "") -> bool:
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        d = "" if diff is None else f"{diff:.2e}"
        self.rows.append((check, variant, status, d, note))
        print(f"  {status:4} {check:28} {variant:20} {d:9} {note}", flush=True)
        return bool(ok)

    def table(self) -> str:
        head = ("check", "variant", "result", "max |diff|", "note")
        w = [max(len(r[i]) for r in self.rows + [head]) for i in range(4)]
        lines = ["  ".join(h.ljust(w[i]) if i < 4 else h for i, h in enumerate(head))]
        lines.append("  ".join("-" * w[i] for i in range(4)) + "  ----")
        for r in self.rows:
            note = r[4] if len(r[4]) <= 150 else r[4][:147] + "..."
            lines.append("  ".join(r[i].ljust(w[i]) if i < 4 else note for i in range(5)))
        return "\n".join(lines)

    @property
    def failed(self) -> int:
        return sum(r[2] == "FAIL" for r in self.rows)

    @property
    def passed(self) -> int:
        return sum(r[2] == "PASS" for r in self.rows)


class PlinthError(RuntimeError):
    pass


class Plinth:
    def __init__(self, binary: Path, log: Path) -> None:
        self.binary = binary
        self.log = log

    def run(self, *args: str, timeout: int = 600, cwd: Path | None = None) -> str:
        cmd = [str(self.binary), *args]
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        with self.log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}  # rc {p.returncode}, {time.time() - t0:.1f} s\n{p.stdout}{p.stderr}\n")
        if p.returncode != 0:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-6:]
            raise PlinthError(f"`plinth {' '.join(args[:2])} ...` exited {p.returncode}: " + " | ".join(tail))
        return p.stdout

    def json(self, *args: str, **kw) -> dict:
        out = self.run(*args, **kw)
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            # A JSON document may follow log lines on stdout: take the last one that parses.
            start = out.rfind("\n{")
            try:
                return json.loads(out[start + 1:] if start >= 0 else out)
            except json.JSONDecodeError:
                raise PlinthError(f"`plinth {args[0]}` printed no JSON: {out[:300]!r}") from None

    def score(self, checkpoint: Path, text: str) -> tuple[list[int], list[float]]:
        return parse_score(self.json("score", "--checkpoint", str(checkpoint), "--text", text, "--json"))

    def generate(self, checkpoint: Path, prompt: str, n: int, prompt_ids: list[int]):
        j = self.json("generate", "--checkpoint", str(checkpoint), "--prompt", prompt, "--max-new-tokens", str(n),
                      "--temperature", "0", "--raw", "--json")
        return parse_generated(j, prompt_ids)


def _find(j: dict, keys: tuple[str, ...]):
    for k in keys:
        if k in j:
            return j[k]
    return None


def parse_score(j: dict) -> tuple[list[int], list[float]]:
    """Token ids and per-token NLLs (the NLL of token t+1 given tokens 0..t) from `score --json`."""
    toks = _find(j, ("tokens", "token_ids", "ids", "input_ids"))
    if toks and isinstance(toks[0], dict):  # one object per token
        ids = [int(t.get("id", t.get("token_id"))) for t in toks]
        nll = [t.get("nll") for t in toks]
    else:
        ids = [int(t) for t in toks] if toks is not None else None
        nll = _find(j, ("nll", "nlls", "token_nll", "token_nlls", "per_token_nll"))
    if ids is None or nll is None:
        raise PlinthError(f"score --json has no token ids / NLLs I know: keys {sorted(j)}")
    if len(nll) == len(ids):  # a slot for the first token, which has no NLL
        if nll[0] not in (None, 0, 0.0):
            raise PlinthError("score --json gives an NLL for the first token")
        nll = nll[1:]
    if len(nll) != len(ids) - 1:
        raise PlinthError(f"score --json: {len(ids)} tokens but {len(nll)} NLLs")
    return ids, [float(x) for x in nll]


def parse_generated(j: dict, prompt_ids: list[int]) -> tuple[list[int] | None, list[int]]:
    """(prompt ids as plinth encoded them, or None when not printed; the new ids) from
    `generate --json`: {"prompt_ids": [...], "ids": [new ids, with the end token if one stopped it]}."""
    if "prompt_ids" in j and "ids" in j:
        return [int(t) for t in j["prompt_ids"]], [int(t) for t in j["ids"]]
    new = _find(j, ("new_ids", "new_tokens", "generated_ids", "generated_tokens"))
    if new is None:
        raise PlinthError(f"generate --json has no token ids I know: keys {sorted(j)}")
    return None, [int(t) for t in new]


def max_diff(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0) if len(a) == len(b) else math.inf


def first_token_diff(a: list[int], b: list[int], la: str = "plinth", lb: str = "hf") -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first differs at {i}: {la} {a[i:i + 4]}.. vs {lb} {b[i:i + 4]}.."
    return f"lengths {len(a)} ({la}) vs {len(b)} ({lb})"


def compare_score(res: Results, plinth: Plinth, check: str, variant: str, ckpt: Path, text: str,
                  ref_ids: list[int], ref_nll: list[float]) -> None:
    try:
        ids, nll = plinth.score(ckpt, text)
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add(f"{check} tokens", variant, False, note=str(e)[:300])
        res.add(f"{check} nll", variant, None, note="no score")
        return
    res.add(f"{check} tokens", variant, ids == ref_ids,
            note=f"{len(ids)} tokens" if ids == ref_ids else first_token_diff(ids, ref_ids))
    if ids != ref_ids:
        res.add(f"{check} nll", variant, None, note="tokens differ")
        return
    d = max_diff(nll, ref_nll)
    worst = max(range(len(nll)), key=lambda i: abs(nll[i] - ref_nll[i]))
    res.add(f"{check} nll", variant, d <= TOL, d,
            f"mean plinth {sum(nll) / len(nll):.6f} hf {sum(ref_nll) / len(ref_nll):.6f}"
            + ("" if d <= TOL else f"; worst at target {worst + 1}: {nll[worst]:.6f} vs {ref_nll[worst]:.6f}"))


def compare_generate(res: Results, plinth: Plinth, check: str, variant: str, ckpt: Path, prompt: str,
                     prompt_ids: list[int], ref_new: list[int], margin: float) -> None:
    try:
        got_prompt, got = plinth.generate(ckpt, prompt, NEW_TOKENS, prompt_ids)
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add(check, variant, False, note=str(e)[:300])
        return
    if got_prompt is not None and got_prompt != prompt_ids:
        res.add(check, variant, False, note="prompt ids: " + first_token_diff(got_prompt, prompt_ids))
        return
    # transformers was told not to stop at EOS; plinth stops there (its --raw generation ends at
    # EOS), so the reference is cut after its first EOS.
    ref = ref_new[:ref_new.index(2) + 1] if 2 in ref_new else ref_new
    ok = got == ref
    res.add(check, variant, ok, note=(f"{got}" if ok else f"plinth {got} vs hf {ref}")
            + f" (smallest top-2 logit gap {margin:.1e})")


def part1(res: Results, plinth: Plinth, work: Path, spm_model: Path) -> dict[str, Path]:
    """HF folders -> score / import / generate. Returns the folders made."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    folders: dict[str, Path] = {}
    variants = dict(VARIANTS)
    variants[LORA_BASE] = (2, False, "float32", None, 10000.0)
    for i, (name, (kv, tied, dtype, shard, theta)) in enumerate(variants.items()):
        folder = work / "hf" / name
        H.save_tokenizer(spm_model, folder, keep_tokenizer_json=True)
        cfg = H.llama_config(VOCAB, SHAPE["hidden"], SHAPE["layers"], SHAPE["heads"], kv, SHAPE["ffn"],
                             SHAPE["context"], tied, rope_theta=theta)
        H.save_model(H.make_model(cfg, SEED + i), folder, dtype=dtype, max_shard_size=shard)
        folders[name] = folder
    for name in VARIANTS:
        folder = folders[name]
        print(f"[1] {name}", flush=True)
        tok = AutoTokenizer.from_pretrained(folder)
        ids = tok(TEXT).input_ids
        prompt_ids = tok(PROMPT).input_ids
        shards = len(list(folder.glob("model-*.safetensors")))
        if VARIANTS[name][3]:
            res.add("hf folder sharded", name, shards >= 2 and (folder / "model.safetensors.index.json").exists(),
                    note=f"{shards} shards + index")
        sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        res.add("hf tokenizer = spm", name, ids == [1] + sp.encode(TEXT),
                note=f"{len(ids)} tokens, BOS first" if ids[0] == 1 else "no BOS")
        model = H.load_fp32(folder)
        nll = H.token_nll(model, ids)
        new, margin = H.greedy(model, prompt_ids, NEW_TOKENS)
        compare_score(res, plinth, "score dir", name, folder, TEXT, ids, nll)
        compare_generate(res, plinth, "generate dir", name, folder, PROMPT, prompt_ids, new, margin)
        ckpt = work / "imported" / f"{name}.ckpt"
        ckpt.parent.mkdir(exist_ok=True)
        try:
            plinth.run("import", str(folder), str(ckpt))
            res.add("import", name, ckpt.is_file(), note=f"{ckpt.stat().st_size} bytes" if ckpt.is_file() else "")
        except (PlinthError, subprocess.TimeoutExpired) as e:
            res.add("import", name, False, note=str(e)[:300])
            continue
        compare_score(res, plinth, "score ckpt", name, ckpt, TEXT, ids, nll)
        compare_generate(res, plinth, "generate ckpt", name, ckpt, PROMPT, prompt_ids, new, margin)
    return folders


def lora_recipe(run: Path, base: Path, task_file: Path) -> str:
    # A tiny task in plain text: the HF tokenizer has none of plinth's <|prompt|> symbols.
    return f"""# check-hf: a few LoRA steps on a Hugging Face folder (written by scripts/hf/check_hf.py)
name: hf-lora
tokenizer:
  model: {base}/tokenizer         # plinth appends .model; tokenizer_config.json beside it counts
data:                             # what the base "knew": where forgetting would be measured
  shards: {run.parent}/shards
  val_fraction: 0.1
  domains:
    - name: legal
      sources:
        - path: /usr/share/common-licenses/GPL-3
          documents: blank_line
task:
  name: hf-count
  format: jsonl
  path: {task_file}
  template: "Q: {{prompt}}\\nA:"
  completion_suffix: "\\n"
  val_fraction: 0.2
  test_fraction: 0.2
finetune:
  base: {base}
  method: lora
  lora: {{rank: 4, alpha: 8, dropout: 0.0, targets: [q_proj, v_proj]}}
train:
  steps: 4
  batch_size: 4
  lr: 0.05
  min_lr: 0.005
  warmup_steps: 0
  weight_decay: 0.0
  precision: fp32
  device: cpu
  seed: 1
  eval_every: 4
  log_every: 1
  checkpoint_every: 4
  keep_best: false
  run_dir: {run}
"""


def task_examples() -> list[dict]:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    out = []
    for a in range(10):
        for b in range(4):
            out.append({"prompt": f"{a} + {b}", "completion": f" {words[(a + b) % 10]}"})
    return out


def part2_lora(res: Results, plinth: Plinth, work: Path, base: Path) -> None:
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print("[2] LoRA fine-tune of an HF folder, exported with its PEFT adapter", flush=True)
    ft = work / "lora"
    ft.mkdir()
    task = ft / "task.jsonl"
    task.write_text("".join(json.dumps(e) + "\n" for e in task_examples()))
    recipe = ft / "lora.yaml"
    run = ft / "run"
    recipe.write_text(lora_recipe(run, base, task))
    try:
        plinth.run("prepare", str(recipe))
        plinth.run("finetune", str(recipe), timeout=900)
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add("finetune lora (hf base)", LORA_BASE, False, note=str(e)[:300])
        return
    tuned = run / "tuned.ckpt"
    res.add("finetune lora (hf base)", LORA_BASE, tuned.is_file(), note=str(tuned.relative_to(work)))
    out = ft / "export"
    try:
        plinth.run("export", str(tuned), str(out))
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add("export tuned", LORA_BASE, False, note=str(e)[:300])
        return
    want = ["config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "export.json",
            "adapter/adapter_model.safetensors", "adapter/adapter_config.json"]
    missing = [f for f in want if not (out / f).is_file()]
    res.add("export files", LORA_BASE, not missing, note="missing: " + ", ".join(missing) if missing else "all 9")
    if not (out / "adapter/adapter_model.safetensors").is_file():
        return
    with safe_open(str(out / "adapter/adapter_model.safetensors"), "pt") as f:
        keys = sorted(f.keys())
    want_key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    res.add("adapter key names", LORA_BASE, want_key in keys, note=f"{len(keys)} tensors, e.g. {keys[0]}")

    tok_base = AutoTokenizer.from_pretrained(base)
    ids = tok_base(TEXT).input_ids
    try:
        peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                                               out / "adapter").eval()
        merged = H.load_fp32(out)
    except Exception as e:  # noqa: BLE001 - whatever refuses the files is the finding
        res.add("peft / transformers load", LORA_BASE, False, note=f"{type(e).__name__}: {e}"[:300])
        return
    base_logits = H.logits_of(H.load_fp32(base), ids)
    lp, le = H.logits_of(peft_model, ids), H.logits_of(merged, ids)
    moved = float((lp - base_logits).abs().max())
    res.add("adapter changes logits", LORA_BASE, moved > 1e-4, moved, "peft(base, adapter) vs base")
    # peft's own merge (W + scaling * B @ A) is what the export's model.safetensors should hold.
    peft_merged = PeftModel.from_pretrained(H.load_fp32(base), out / "adapter").eval().merge_and_unload()
    lm = H.logits_of(peft_merged, ids)
    sd_m, sd_e = peft_merged.state_dict(), merged.state_dict()
    wdiff = max(float((sd_m[k] - sd_e[k]).abs().max()) for k in sd_e) if sd_m.keys() == sd_e.keys() else math.inf
    d = float((lm - le).abs().max())
    res.add("export = peft merge", LORA_BASE, d <= TOL, d, f"logits; weights differ by at most {wdiff:.1e}")
    # Unmerged (x W + s x A^T B^T) and merged differ by float32 rounding alone: peft's own merge
    # differs from its unmerged model by `floor`; the export may not differ by more.
    floor = float((lp - lm).abs().max())
    d = float((lp - le).abs().max())
    res.add("peft = merged export", LORA_BASE, d <= max(TOL, floor + 1e-6), d,
            f"logits, PeftModel vs AutoModel(export); peft's merged vs unmerged: {floor:.1e}")
    peft_nll = H.token_nll(peft_model, ids)
    res.add("peft = merged export nll", LORA_BASE, max_diff(peft_nll, H.token_nll(merged, ids)) <= TOL,
            max_diff(peft_nll, H.token_nll(merged, ids)), "per-token NLL")
    compare_score(res, plinth, "score tuned.ckpt vs peft", LORA_BASE, tuned, TEXT, ids, peft_nll)

    # The export as a user would take it: AutoTokenizer + generate, no edits.
    try:
        tok = AutoTokenizer.from_pretrained(out)
        res.add("AutoTokenizer(export)", LORA_BASE, tok(TEXT).input_ids == ids,
                note="same ids as the base folder's tokenizer" if tok(TEXT).input_ids == ids
                else first_token_diff(tok(TEXT).input_ids, ids, "export", "base folder"))
        enc = tok(PROMPT, return_tensors="pt")
        gen = merged.generate(**enc, max_new_tokens=NEW_TOKENS, do_sample=False)
        res.add("generate(export)", LORA_BASE, gen.shape[1] > enc["input_ids"].shape[1],
                note=repr(tok.decode(gen[0, enc["input_ids"].shape[1]:]))[:60])
    except Exception as e:  # noqa: BLE001
        res.add("AutoTokenizer/generate(export)", LORA_BASE, False, note=f"{type(e).__name__}: {e}"[:300])
        return
    # plinth's generate against the export's weights, the prompt framed as the base folder's
    # tokenizer frames it (BOS first).
    prompt_ids = tok_base(PROMPT).input_ids
    new, margin = H.greedy(merged, prompt_ids, NEW_TOKENS)
    compare_generate(res, plinth, "generate tuned.ckpt", LORA_BASE, tuned, PROMPT, prompt_ids, new, margin)


def own_recipe(d: Path) -> str:
    return f"""# check-hf: a tiny model trained by plinth itself (written by scripts/hf/check_hf.py)
name: hf-own
tokenizer:
  model: {d}/tok
  type: bpe
  vocab_size: 400
  user_defined_symbols: ["<|prompt|>", "<|response|>", "<|end|>"]
  sample_bytes: 1MiB
data:
  shards: {d}/shards
  val_fraction: 0.1
  domains:
    - name: legal
      sources:
        - path: /usr/share/common-licenses/GPL-3
          documents: blank_line
        - path: /usr/share/common-licenses/Apache-2.0
          documents: blank_line
model:
  dim: 32
  layers: 1
  heads: 2
  context: 128
train:
  steps: 6
  batch_size: 4
  lr: 0.003
  warmup_steps: 1
  precision: fp32
  device: cpu
  eval_every: 6
  eval_tokens: 1024
  log_every: 2
  checkpoint_every: 6
  run_dir: {d}/run
"""


OWN_TEXTS = [
    TEXT,
    "Copyright (C) 2007 Free Software Foundation, Inc.\n\n  Everyone is permitted to copy.",
    "<|prompt|>Hund<|response|>dog<|end|>",
]


def part2_own(res: Results, plinth: Plinth, work: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print("[2] a plinth-trained model, exported: AutoTokenizer vs plinth", flush=True)
    d = work / "own"
    d.mkdir()
    recipe = d / "own.yaml"
    recipe.write_text(own_recipe(d))
    try:
        plinth.run("tokenizer", "train", str(recipe))
        plinth.run("prepare", str(recipe))
        plinth.run("pretrain", str(recipe), timeout=900)
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add("plinth pretrain (own)", "plinth-own", False, note=str(e)[:300])
        return
    ckpts = sorted((d / "run" / "checkpoints").glob("*.ckpt"))
    ckpt = next((c for c in ckpts if c.name == "best.ckpt"), ckpts[-1] if ckpts else None)
    if ckpt is None:
        res.add("plinth pretrain (own)", "plinth-own", False, note="no checkpoint")
        return
    out = d / "export"
    try:
        plinth.run("export", str(ckpt), str(out))
    except (PlinthError, subprocess.TimeoutExpired) as e:
        res.add("export (own)", "plinth-own", False, note=str(e)[:300])
        return
    try:
        cfg = json.loads((out / "tokenizer_config.json").read_text())
        tok = AutoTokenizer.from_pretrained(out)
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    except Exception as e:  # noqa: BLE001
        res.add("AutoTokenizer(own export)", "plinth-own", False, note=f"{type(e).__name__}: {e}"[:300])
        return
    res.add("own tokenizer_config", "plinth-own", cfg.get("bos_token") == cfg.get("eos_token"),
            note=f"bos_token {cfg.get('bos_token')!r}, eos_token {cfg.get('eos_token')!r}")
    for i, text in enumerate(OWN_TEXTS):
        ids = tok(text).input_ids
        compare_score(res, plinth, f"own text {i} ckpt", "plinth-own", ckpt, text, ids, H.token_nll(model, ids))
    compare_score(res, plinth, "own text 0 export dir", "plinth-own", out, TEXT, tok(TEXT).input_ids,
                  H.token_nll(model, tok(TEXT).input_ids))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plinth", type=Path, required=True)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    work = H.start_checks(args.keep, "check-hf-")
    t0 = time.time()
    vers = H.versions()
    binary = args.plinth.resolve()
    log = work / "plinth.log"
    plinth = Plinth(binary, log)
    print(f"check-hf: {binary} against transformers {vers['transformers']}, peft {vers['peft']}, "
          f"sentencepiece {vers['sentencepiece']}, torch {vers['torch']}; work in {work}", flush=True)
    res = Results()
    try:
        spm_model = H.train_tokenizer(work / "tokenizer.model", VOCAB)
        folders = part1(res, plinth, work, spm_model)
        part2_lora(res, plinth, work, folders[LORA_BASE])
        part2_own(res, plinth, work)
    except Exception:  # noqa: BLE001 - a crash of this script is a failure too, with its trace
        traceback.print_exc()
        res.add("check_hf.py itself", "-", False, note="crashed: see the trace above")
    print()
    print(res.table())
    print()
    verdict = "FAIL" if res.failed else "PASS"
    keep = bool(args.keep or res.failed)
    print(f"check-hf: {verdict}: {res.passed} passed, {res.failed} failed in {time.time() - t0:.0f} s"
          + (f"; folders and plinth's output ({log.name}) kept in {work}" if keep else ""))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
