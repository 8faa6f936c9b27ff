"""Helpers shared by check_hf.py and make_fixtures.py: tiny Llama folders made by transformers.

Everything here is what a Hugging Face user's folder would hold, produced by the real libraries:
a SentencePiece model trained with the `sentencepiece` package the way Llama's was configured
(BPE, byte fallback, dummy prefix, no normalisation, <unk>=0 <s>=1 </s>=2, no pad), the
tokenizer files transformers writes for it, and a random LlamaForCausalLM saved with
save_pretrained. References (token ids, per-token NLL, greedy continuations) are always computed
from the folder as reloaded by transformers, so they are what a consumer of the folder sees.

Two choices make the checks sensitive: the weights are drawn wider than transformers' default
(initializer_range 0.02 leaves attention nearly uniform, where a RoPE or masking mistake would
hardly move the logits) and the RMSNorm gains are perturbed away from 1 (so that a loader that
drops them is caught).
"""
from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
from pathlib import Path

# Text of the project's embedded default corpora (recipes/data/debian.yaml: literature, legal,
# code), from the Debian packages the set-up installs. Missing files are skipped.
CORPUS_FILES = [
    "/usr/share/games/fortunes/fortunes",
    "/usr/share/games/fortunes/literature",
    "/usr/share/common-licenses/GPL-3",
    "/usr/share/common-licenses/Apache-2.0",
    "/usr/lib/python3.11/json/__init__.py",
    "/usr/lib/python3.11/json/decoder.py",
]


def quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def corpus_lines(min_bytes: int = 50_000) -> list[str]:
    lines: list[str] = []
    total = 0
    for name in CORPUS_FILES:
        p = Path(name)
        if not p.is_file():
            continue
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                lines.append(line)
                total += len(line.encode())
    if total < min_bytes:
        raise SystemExit(
            f"only {total} bytes of training text in {CORPUS_FILES}: install the corpora "
            "(scripts/setup-deps, scripts/debian-packages.txt [corpora])"
        )
    return lines


def train_tokenizer(model_path: Path, vocab_size: int, lines: list[str] | None = None) -> Path:
    """A Llama-style SentencePiece model (the settings of Llama 2's tokenizer.model)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines if lines is not None else corpus_lines()),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        add_dummy_prefix=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,  # one thread: the same model on every machine
        minloglevel=2,
    )
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(buf.getvalue())
    return model_path


def save_tokenizer(spm_model: Path, folder: Path, keep_tokenizer_json: bool = True):
    """Writes the tokenizer files transformers writes for a Llama SentencePiece model into
    `folder`, plus tokenizer.model itself (transformers 5 converts the .model to tokenizer.json
    and no longer copies it; plinth reads the .model). Returns the transformers tokenizer."""
    from transformers import LlamaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(spm_model, Path(tmp) / "tokenizer.model")
        # add_bos_token: Llama's tokenizer_config.json says so; transformers 5 loading a bare
        # tokenizer.model otherwise adds no BOS.
        tok = LlamaTokenizer.from_pretrained(tmp, add_bos_token=True, add_eos_token=False, legacy=False)
    tok.save_pretrained(folder)
    shutil.copy(spm_model, folder / "tokenizer.model")
    if not keep_tokenizer_json:
        (folder / "tokenizer.json").unlink(missing_ok=True)
    return tok


def llama_config(vocab_size: int, hidden: int, layers: int, heads: int, kv_heads: int, ffn: int,
                 context: int, tied: bool, rope_theta: float = 10000.0, init_std: float = 0.25):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=ffn,
        max_position_embeddings=context,
        tie_word_embeddings=tied,
        rope_theta=rope_theta,
        rms_norm_eps=1e-5,
        initializer_range=init_std,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
    )


def make_model(config, seed: int):
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    return model


def save_model(model, folder: Path, dtype: str = "float32", max_shard_size: str | None = None) -> None:
    import torch

    m = model.to(torch.bfloat16) if dtype == "bfloat16" else model
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    m.save_pretrained(folder, safe_serialization=True, **kwargs)
    model.float()


def load_fp32(folder: Path):
    """The folder as transformers loads it, computing in float32 (bf16 weights upcast)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def token_nll(model, ids: list[int]) -> list[float]:
    """Per-token next-token NLL: -log_softmax(logits[t])[ids[t+1]] for t < len(ids) - 1."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
        lp = torch.log_softmax(logits[:-1], dim=-1)
        nll = -lp.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
    return [float(x) for x in nll]


def logits_of(model, ids: list[int]):
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def greedy(model, prompt_ids: list[int], n: int) -> tuple[list[int], float]:
    """n new ids by transformers' greedy generate, with no stop at EOS (eos_token_id cleared in
    the generation config: min_new_tokens would instead forbid EOS and change the argmax).
    Checked against a plain argmax loop over full forwards; returns (ids, smallest margin
    between the best and second-best logit), the margin telling how robust each choice is."""
    import copy

    import torch

    gen_cfg = copy.deepcopy(model.generation_config)
    gen_cfg.eos_token_id = None
    gen_cfg.pad_token_id = 0
    gen_cfg.do_sample = False
    gen_cfg.max_new_tokens = n
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            generation_config=gen_cfg,
        )
    new = [int(x) for x in out[0, len(prompt_ids):]]
    if len(new) != n:
        raise RuntimeError(f"transformers' generate gave {len(new)} tokens, not {n}")
    ids = list(prompt_ids)
    margin = math.inf
    for _ in range(n):
        last = logits_of(model, ids)[-1]
        top = torch.topk(last, 2).values
        margin = min(margin, float(top[0] - top[1]))
        ids.append(int(torch.argmax(last)))
    if ids[len(prompt_ids):] != new:
        raise RuntimeError(f"generate {new} differs from the argmax loop {ids[len(prompt_ids):]}")
    return new, margin


def versions() -> dict[str, str]:
    import peft
    import sentencepiece
    import torch
    import transformers

    return {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "peft": peft.__version__,
        "sentencepiece": sentencepiece.__version__,
    }


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def env_quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def start_checks(keep: Path | None, prefix: str) -> Path:
    """Quiet libraries, two torch threads, and the work folder: `keep` emptied, or a fresh
    temporary one."""
    env_quiet()
    quiet_transformers()
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        return keep.resolve()
    return Path(tempfile.mkdtemp(prefix=prefix))
