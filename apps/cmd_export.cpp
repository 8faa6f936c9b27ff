// plinth export CHECKPOINT --format safetensors OUT_DIR: a checkpoint in the Hugging Face
// layout (model.safetensors + config.json), with its tokenizer and an export.json that says
// where it came from.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/checkpoint_tokenizer.h"
#include "model/checkpoint_model.h"
#include "model/hf_export.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string checkpoint;
  std::string out_dir;
  std::string format = "safetensors";
  std::string tokenizer;  // empty: the one named by the recipe stored in the checkpoint
};

void run_export(const ExportArgs& a) {
  if (a.format != "safetensors")
    throw BadInput(fmt::format("--format {}: unknown export format", a.format),
                   "use --format safetensors (Hugging Face layout; llama.cpp's convert_hf_to_gguf.py "
                   "turns it into GGUF)");
  const fs::path checkpoint = a.checkpoint, out = a.out_dir;
  model::CheckpointContents ckpt = model::read_checkpoint(checkpoint);
  const fs::path tok_file =
      eval::checkpoint_tokenizer_file(ckpt, checkpoint, a.tokenizer, tokenizer::TokenizerSpec{}.model);
  auto tok = tokenizer::Tokenizer::load(tok_file);
  model::check_tokenizer(ckpt, checkpoint, tok.hash(), tok_file.string());
  model::Llama net = model::model_from_checkpoint(ckpt, checkpoint);

  model::HfTokenIds ids;
  ids.bos = tok.bos_id();
  ids.eos = tok.eos_id();
  model::export_hf(net, out, ids);
  write_file_atomic(out / "tokenizer.model", read_file(tok_file));

  const int64_t step = model::checkpoint_step(ckpt);
  nlohmann::json info;
  info["plinth_version"] = PLINTH_VERSION;
  info["format"] = a.format;
  info["checkpoint"] = checkpoint.string();
  info["step"] = step;
  info["tokenizer_hash"] = hex64(tok.hash());
  info["model"] = nlohmann::json::parse(model::model_config_json(net->config()));
  info["files"] = {{"model.safetensors", "weights, float32, Hugging Face Llama names"},
                   {"config.json", "transformers LlamaForCausalLM configuration"},
                   {"tokenizer.model",
                    "SentencePiece model: identity normalisation, no dummy prefix; every "
                    "document was preceded by the EOS token in training"},
                   {"export.json", "this file"}};
  info["load"] = "transformers: AutoModelForCausalLM.from_pretrained(\"" + out.string() + "\")";
  write_file_atomic(out / "export.json", info.dump(2) + "\n");
  log::info("exported {} (step {}) to {}", checkpoint.string(), step, out.string());
  fmt::print("{}\n", out.string());
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export",
      "Write a checkpoint as model.safetensors + config.json (Hugging Face Llama) with its tokenizer");
  static ExportArgs a;
  cmd->add_option("checkpoint", a.checkpoint, "Checkpoint file (.ckpt)")->required();
  cmd->add_option("out_dir", a.out_dir, "Output directory (created)")->required();
  cmd->add_option("--format", a.format, "Export format: safetensors")->capture_default_str();
  cmd->add_option("--tokenizer", a.tokenizer,
                  "Tokenizer .model (default: the one named by the recipe stored in the checkpoint)");
  cmd->footer(
      "Example:\n"
      "  plinth export runs/quickstart/checkpoints/step-001000.ckpt --format safetensors exports/quickstart\n"
      "Writes model.safetensors, config.json, tokenizer.model and export.json (plinth version, step,\n"
      "tokenizer hash). Load with transformers: "
      "AutoModelForCausalLM.from_pretrained(\"exports/quickstart\").");
  cmd->callback([] { run_export(a); });
}

}  // namespace plinth
