#!/usr/bin/env python3
"""Makes the Hugging Face fixtures of the C++ tests (tests/fixtures/hf/), with transformers and
peft themselves, so that CI (which has neither) still tests plinth against what they write and
compute.

    scripts/check-hf --setup-only                        # the venv with the pinned libraries
    /opt/plinth-hf/bin/python scripts/hf/make_fixtures.py tests/fixtures/hf

Run by hand when the fixtures must change; commit the output. The same versions and seed give
the same files. Each model folder holds what save_pretrained writes (config.json,
generation_config.json, model.safetensors or shards + model.safetensors.index.json), the shared
tokenizer (tokenizer.model, tokenizer_config.json; tokenizer.json is left out to keep the tree
small) and expected.json: the token ids transformers' tokenizer gives for a text (BOS first),
the per-token next-token NLL of the folder reloaded by transformers in float32, and 8 greedy
tokens after a prompt. peft-lora/ is a PEFT LoRA adapter on llama-gqa-untied-sharded with the
NLL of the PeftModel.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_common as H  # noqa: E402

SEED = 20261130
VOCAB = 384  # the smallest vocabulary sentencepiece accepts for this text with 256 byte pieces
SHAPE = dict(hidden=16, layers=2, heads=4, ffn=32, context=64)
# ~50 tokens of this vocabulary: ASCII, digits (split one per piece), and é, ï, — that are not
# pieces of it, so they go through byte fallback.
TEXT = "The café opened at noon — naïve writers queued, 42 of them, hoping."
PROMPT = "Free software is"
GREEDY_TOKENS = 8

# name -> (kv_heads, tied, dtype, max_shard_size, rope_theta)
CASES = {
    "llama-mha-untied-fp32": (4, False, "float32", None, 10000.0),
    # rope_theta 500000 (Llama 3's): transformers 5 writes it under rope_parameters, not as a
    # top-level rope_theta, so a reader that only knows the old key gets the wrong rotation.
    "llama-gqa-tied-fp32": (2, True, "float32", None, 500000.0),
    "llama-gqa-untied-bf16": (2, False, "bfloat16", None, 10000.0),
    "llama-gqa-untied-sharded": (2, False, "float32", "20KB", 10000.0),
}
PEFT_BASE = "llama-gqa-untied-sharded"
TOKENIZER_FILES = ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"]


def write_json(path: Path, obj: dict) -> None:
    """One key a line, each value on its line (lists of ids and NLLs stay readable in a diff)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in obj.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def write_readme(out: Path, vers: dict) -> None:
    rows = "\n".join(
        f"| `{name}/` | {'MHA' if kv == SHAPE['heads'] else f'GQA ({kv} KV heads)'}, "
        f"{'tied' if tied else 'untied'}, {dtype}, "
        f"{'sharded (model.safetensors.index.json)' if shard else 'one model.safetensors'}, rope_theta {theta:g} |"
        for name, (kv, tied, dtype, shard, theta) in CASES.items())
    (out / "README.md").write_text(f"""# Hugging Face fixtures

Made by transformers {vers['transformers']}, peft {vers['peft']}, sentencepiece {vers['sentencepiece']} and
torch {vers['torch']} (CPU), with

    scripts/check-hf --setup-only
    /opt/plinth-hf/bin/python scripts/hf/make_fixtures.py tests/fixtures/hf

Do not edit by hand: change `scripts/hf/make_fixtures.py` and run it again (same versions and
seed, same files). `scripts/check-hf` runs the same comparisons live against plinth.

Random `LlamaForCausalLM` models (hidden {SHAPE['hidden']}, {SHAPE['layers']} layers, {SHAPE['heads']} heads, intermediate
{SHAPE['ffn']}, max_position_embeddings {SHAPE['context']}, vocabulary {VOCAB}, rms_norm_eps 1e-5; weights drawn with
initializer_range 0.25 and RMSNorm gains perturbed from 1 so that attention is far from
uniform), saved with `save_pretrained`:

| folder | model |
|---|---|
{rows}
| `peft-lora/` | PEFT LoRA adapter on `{PEFT_BASE}/`: r 4, lora_alpha 8 (scaling 2), dropout 0, q_proj and v_proj, `init_lora_weights=False` (B is not zero) |

transformers 5 writes `rope_theta` inside `rope_parameters` in config.json, not at the top level.

Every model folder holds the same tokenizer: `tokenizer.model`, trained with the sentencepiece
package on text of the embedded corpora (fortunes, licences, Python's json module) as Llama's was
configured (BPE, byte fallback, dummy prefix, identity normalisation, whitespace kept, digits
split, `<unk>` 0, `<s>` 1, `</s>` 2, no pad), and the `tokenizer_config.json` transformers'
`LlamaTokenizer.save_pretrained` writes for it. transformers 5 writes no
`special_tokens_map.json` and no longer copies `tokenizer.model` (it is copied here); its
`tokenizer.json` is left out to save space. Without tokenizer.json, `AutoTokenizer` of
transformers 5 builds the tokenizer from tokenizer.model and, as tokenizer_config.json has no
`add_bos_token`, adds no BOS. The expected tokens come from the tokenizer transformers builds
from tokenizer.model with `add_bos_token=True` (what its tokenizer.json holds, and what
`AutoTokenizer` gives when tokenizer.json is present): `<s>` first, as Llama does.

`expected.json` in each folder:

- `text`, `tokens`: `tokenizer(text).input_ids` (BOS first), checked equal to
  `[1] + sentencepiece.encode(text)`; the text has é, ï and — (not pieces: byte fallback)
- `nll`: per-token next-token NLL of the folder reloaded by `AutoModelForCausalLM` in float32
  (bf16 weights upcast), `-log_softmax(logits[t])[tokens[t+1]]`, len(tokens) - 1 values;
  `mean_nll` their mean
- `prompt`, `prompt_tokens`, `greedy`: {GREEDY_TOKENS} new ids of `generate(do_sample=False)` with no
  stop at EOS (checked equal to an argmax loop); `greedy_min_logit_margin`: the smallest gap
  between the best and second-best logit along the way
- `peft-lora/expected.json`: the same for `PeftModel.from_pretrained(base, adapter)`; `base` is
  the base folder relative to the adapter's; `base_mean_nll` the base alone
""", encoding="utf-8")


def reference(folder: Path, tok, vers: dict) -> dict:
    import sentencepiece as spm

    model = H.load_fp32(folder)
    tokens = tok(TEXT).input_ids
    prompt_tokens = tok(PROMPT).input_ids
    # plinth encodes with sentencepiece itself: the fixture is only meaningful where
    # transformers' tokenizer (tokenizers' BPE converted from the .model) agrees with it.
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    for text, ids in ((TEXT, tokens), (PROMPT, prompt_tokens)):
        if ids != [1] + sp.encode(text):
            raise SystemExit(f"transformers and sentencepiece tokenize {text!r} differently")
    if not 40 <= len(tokens) <= SHAPE["context"]:
        raise SystemExit(f"TEXT is {len(tokens)} tokens; keep it in [40, {SHAPE['context']}]")
    nll = H.token_nll(model, tokens)
    greedy, margin = H.greedy(model, prompt_tokens, GREEDY_TOKENS)
    return {
        "text": TEXT,
        "tokens": tokens,
        "nll": nll,
        "mean_nll": sum(nll) / len(nll),
        "prompt": PROMPT,
        "prompt_tokens": prompt_tokens,
        "greedy": greedy,
        "greedy_min_logit_margin": margin,
        "transformers": vers["transformers"],
        "torch": vers["torch"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    H.env_quiet()
    H.quiet_transformers()
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    vers = H.versions()
    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in list(CASES) + ["peft-lora"]:
        shutil.rmtree(out / name, ignore_errors=True)

    with tempfile.TemporaryDirectory() as tmp:
        spm_model = H.train_tokenizer(Path(tmp) / "tokenizer.model", VOCAB)
        tok_dir = Path(tmp) / "tok"
        tok = H.save_tokenizer(spm_model, tok_dir, keep_tokenizer_json=False)

        for i, (name, (kv, tied, dtype, shard, theta)) in enumerate(CASES.items()):
            folder = out / name
            cfg = H.llama_config(VOCAB, SHAPE["hidden"], SHAPE["layers"], SHAPE["heads"], kv, SHAPE["ffn"],
                                 SHAPE["context"], tied, rope_theta=theta)
            model = H.make_model(cfg, SEED + i)
            H.save_model(model, folder, dtype=dtype, max_shard_size=shard)
            for f in TOKENIZER_FILES:
                if (tok_dir / f).exists():
                    shutil.copy(tok_dir / f, folder / f)
            exp = reference(folder, tok, vers)
            exp.update(case=name, kv_heads=kv, tied=tied, dtype=dtype, rope_theta=theta,
                       shards=len(list(folder.glob("model-*.safetensors"))))
            if shard and exp["shards"] < 2:
                raise SystemExit(f"{name}: {exp['shards']} shard(s); lower max_shard_size")
            write_json(folder / "expected.json", exp)
            print(f"{name}: {len(exp['tokens'])} tokens, mean NLL {exp['mean_nll']:.4f}, "
                  f"greedy {exp['greedy']}, {H.folder_bytes(folder)} bytes")

        # The adapter: B non-zero (init_lora_weights=False), so it changes the logits. Made from
        # inside its folder so that adapter_config.json names its base relatively.
        adapter = out / "peft-lora"
        adapter.mkdir()
        cwd = os.getcwd()
        os.chdir(adapter)
        try:
            base_rel = f"../{PEFT_BASE}"
            torch.manual_seed(SEED + 100)
            base = H.load_fp32(Path(base_rel))
            lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                              init_lora_weights=False, task_type="CAUSAL_LM")
            peft_model = get_peft_model(base, lcfg)
            peft_model.save_pretrained(".")
            (adapter / "README.md").unlink(missing_ok=True)  # peft's model-card template
            # The reference is the adapter as a user loads it: base folder + adapter folder.
            loaded = PeftModel.from_pretrained(H.load_fp32(Path(base_rel)), ".").eval()
        finally:
            os.chdir(cwd)
        tokens = tok(TEXT).input_ids
        nll = H.token_nll(loaded, tokens)
        base_nll = H.token_nll(H.load_fp32(out / PEFT_BASE), tokens)
        greedy, margin = H.greedy(loaded, tok(PROMPT).input_ids, GREEDY_TOKENS)
        diff = max(abs(a - b) for a, b in zip(nll, base_nll))
        if diff < 1e-3:
            raise SystemExit(f"the adapter hardly changes the NLL ({diff}); the test would not see it")
        write_json(adapter / "expected.json", {
            "base": base_rel,
            "text": TEXT,
            "tokens": tokens,
            "nll": nll,
            "mean_nll": sum(nll) / len(nll),
            "base_mean_nll": sum(base_nll) / len(base_nll),
            "prompt": PROMPT,
            "prompt_tokens": tok(PROMPT).input_ids,
            "greedy": greedy,
            "greedy_min_logit_margin": margin,
            "lora": {"r": 4, "lora_alpha": 8, "scaling": 2.0, "target_modules": ["q_proj", "v_proj"]},
            "peft": vers["peft"],
            "transformers": vers["transformers"],
            "torch": vers["torch"],
        })
        print(f"peft-lora: mean NLL {sum(nll) / len(nll):.4f} (base {sum(base_nll) / len(base_nll):.4f}, "
              f"max per-token change {diff:.3f}), {H.folder_bytes(adapter)} bytes")
    write_readme(out, vers)
    for f in out.rglob("*"):
        if f.is_file():
            f.chmod(0o644)  # safetensors writes 0600
    total = H.folder_bytes(out)
    print(f"fixtures: {total} bytes in {out}")
    if not math.isfinite(total) or total > 600_000:
        raise SystemExit(f"fixtures are {total} bytes; keep them under 600 KB")


if __name__ == "__main__":
    main()
