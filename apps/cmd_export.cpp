// plinth export CHECKPOINT --format safetensors OUT_DIR: a checkpoint in the Hugging Face
// layout (model.safetensors + config.json), with its tokenizer and an export.json that says
// where it came from.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "build_info.h"
#include "checkpoint_tokenizer.h"
#include "command.h"
#include "finetune/finetune_recipe.h"
#include "model/checkpoint_model.h"
#include "model/hf_import.h"
#include "model/hf_export.h"
#include "model/hf_peft.h"
#include "recipe/recipe_loader.h"
#include "tokenizer/document_convention.h"
#include "tokenizer/tokenizer.h"
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
  std::string peft_base;  // an adapter's base_model_name_or_path; empty: the fine-tune's base
};

// A recipe value stored in a checkpoint ("finetune.lora.alpha"), `fallback` when absent.
double stored_number(const model::CheckpointContents& ckpt, const std::string& meta_key,
                     const std::vector<std::string>& recipe_path, double fallback) {
  auto number = [&](const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0')
      throw BadInput(fmt::format("the adapter checkpoint's {} is \"{}\", not a number", meta_key, text),
                     "the file is damaged: export the fine-tune's adapter.ckpt again from its run");
    return v;
  };
  if (auto it = ckpt.meta.find(meta_key); it != ckpt.meta.end()) return number(it->second);
  auto recipe = ckpt.meta.find("recipe");
  if (recipe == ckpt.meta.end()) return fallback;
  ConfigNode root = recipe::parse_yaml(recipe->second, "stored recipe");
  const ConfigNode* node = &root;
  for (const auto& key : recipe_path)
    if (!(node = node->find(key))) return fallback;
  return node->is_scalar() ? number(node->text()) : fallback;
}

// An adapter checkpoint (a LoRA fine-tune's adapter.ckpt) as a PEFT folder.
void export_adapter(const model::CheckpointContents& adapter, const fs::path& out, const std::string& base) {
  model::LoraOptions options;
  options.alpha = stored_number(adapter, "lora_alpha", {"finetune", "lora", "alpha"}, options.alpha);
  options.dropout = stored_number(adapter, "lora_dropout", {"finetune", "lora", "dropout"}, options.dropout);
  model::write_peft_adapter(model::peft_adapter(adapter.tensors, options, base), out);
}

// base_model_name_or_path of an exported adapter: --peft-base, else the fine-tune's base.
std::string peft_base(const model::CheckpointContents& ckpt, const ExportArgs& a) {
  if (!a.peft_base.empty()) return a.peft_base;
  auto it = ckpt.meta.find("base_checkpoint");
  return it == ckpt.meta.end() ? std::string() : it->second;
}

// tokenizer_config.json and special_tokens_map.json, so AutoTokenizer frames a text as the
// model was trained: a Hugging Face tokenizer's own files (and its tokenizer.json), with the
// document start made explicit (transformers 5 builds a tokenizer from tokenizer.model without
// a BOS unless add_bos_token says so), or plinth's rule written in their terms.
void write_tokenizer_files(const tokenizer::Tokenizer& tok, const fs::path& out, int64_t context) {
  const fs::path from = tok.model_file().parent_path();
  const std::string eos = tok.id_to_piece(tok.eos_id()), unk = tok.id_to_piece(tok.unk_id());
  const std::string pad = tok.pad_id() >= 0 ? tok.id_to_piece(tok.pad_id()) : std::string();
  const tokenizer::DocumentConvention& convention = tok.convention();
  std::error_code ec;
  nlohmann::json special;
  if (!convention.config.empty()) {
    nlohmann::json config = nlohmann::json::parse(read_file(convention.config));  // parsed when loaded
    config["add_bos_token"] = convention.add_bos;
    if (!config.contains("add_eos_token")) config["add_eos_token"] = false;
    write_file_atomic(out / "tokenizer_config.json", config.dump(2) + "\n");
    if (fs::exists(from / "tokenizer.json", ec))
      write_file_atomic(out / "tokenizer.json", read_file(from / "tokenizer.json"));
    if (fs::exists(from / "special_tokens_map.json", ec)) {
      write_file_atomic(out / "special_tokens_map.json", read_file(from / "special_tokens_map.json"));
      return;
    }
    special = {{"bos_token", tok.id_to_piece(tok.bos_id())}, {"eos_token", eos}, {"unk_token", unk}};
  } else {
    write_file_atomic(out / "tokenizer_config.json",
                      tokenizer::plinth_tokenizer_config_json(eos, unk, pad, context));
    special = {{"bos_token", eos}, {"eos_token", eos}, {"unk_token", unk}};
  }
  if (!pad.empty()) special["pad_token"] = pad;
  write_file_atomic(out / "special_tokens_map.json", special.dump(2) + "\n");
}

void run_export(const ExportArgs& a) {
  if (a.format != "safetensors")
    throw BadInput(fmt::format("--format {}: unknown export format", a.format),
                   "use --format safetensors (Hugging Face layout; llama.cpp's convert_hf_to_gguf.py "
                   "turns it into GGUF)");
  const fs::path checkpoint = a.checkpoint, out = a.out_dir;
  model::CheckpointContents ckpt = model::read_model_checkpoint(checkpoint);
  auto kind = ckpt.meta.find("kind");
  if (kind != ckpt.meta.end() && kind->second == "plinth-lora-adapter") {
    export_adapter(ckpt, out, peft_base(ckpt, a));
    log::info("exported the LoRA adapter {} as a PEFT adapter to {}", checkpoint.string(), out.string());
    fmt::print("{}\n", out.string());
    return;
  }
  const tokenizer::Tokenizer tok = checkpoint_tokenizer(ckpt, checkpoint, a.tokenizer);
  const fs::path tok_file = tok.model_file();
  model::Llama net = model::model_from_checkpoint(ckpt, checkpoint);

  model::HfTokenIds ids;
  ids.bos = tok.document_start_id();  // what transformers puts first: the token documents start with
  ids.eos = tok.eos_id();
  model::export_hf(net, out, ids);
  write_file_atomic(out / "tokenizer.model", read_file(tok_file));
  write_tokenizer_files(tok, out, net->config().context);
  const nlohmann::json generation = {{"bos_token_id", ids.bos},
                                     {"eos_token_id", ids.eos},
                                     {"pad_token_id", tok.pad_id() >= 0 ? tok.pad_id() : tok.eos_id()}};
  write_file_atomic(out / "generation_config.json", generation.dump(2) + "\n");

  // A LoRA fine-tune's adapter, beside its merged weights, when it is the same run's.
  const fs::path adapter_file = finetune::adapter_checkpoint_path(checkpoint.parent_path());
  bool adapter = false;
  std::error_code ec;
  if (kind != ckpt.meta.end() && kind->second == "plinth-finetuned" && fs::exists(adapter_file, ec)) {
    model::CheckpointContents lora = model::read_checkpoint(adapter_file);
    if (lora.meta["step"] == ckpt.meta["step"] && lora.meta["base_hash"] == ckpt.meta["base_hash"]) {
      export_adapter(lora, out / "adapter", peft_base(ckpt, a));
      adapter = true;
    }
  }

  const int64_t step = model::checkpoint_step(ckpt);
  nlohmann::json info;
  info["plinth_version"] = plinth_version();
  info["format"] = a.format;
  info["checkpoint"] = checkpoint.string();
  info["step"] = step;
  info["tokenizer_hash"] = hex64(tok.hash());
  info["model"] = nlohmann::json::parse(model::model_config_json(net->config()));
  const std::string start = tok.id_to_piece(tok.document_start_id());
  info["files"] = {{"model.safetensors", "weights, float32, Hugging Face Llama names"},
                   {"config.json", "transformers LlamaForCausalLM configuration"},
                   {"generation_config.json", "the start, end and padding token ids for generate"},
                   {"tokenizer.model", tok.convention().config.empty()
                                           ? "SentencePiece model: identity normalisation, no dummy prefix"
                                           : "SentencePiece model, as the base model published it"},
                   {"tokenizer_config.json",
                    fmt::format("every document starts with {} (bos_token), as in training", start)},
                   {"special_tokens_map.json", "the special tokens' pieces"},
                   {"export.json", "this file"}};
  if (adapter)
    info["files"]["adapter/"] = fmt::format(
        "the LoRA adapter in PEFT's layout, for the base {}: PeftModel.from_pretrained(base, \"{}\")",
        peft_base(ckpt, a), (out / "adapter").string());
  info["load"] = "transformers: AutoModelForCausalLM.from_pretrained(\"" + out.string() +
                 "\"), AutoTokenizer.from_pretrained(\"" + out.string() + "\")";
  write_file_atomic(out / "export.json", info.dump(2) + "\n");
  log::info("exported {} (step {}) to {}{}", checkpoint.string(), step, out.string(),
            adapter ? ", with its LoRA adapter in PEFT's layout (adapter/)" : "");
  fmt::print("{}\n", out.string());
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export",
      "Write a checkpoint as model.safetensors + config.json (Hugging Face Llama) with its tokenizer");
  static ExportArgs a;
  cmd->add_option("checkpoint", a.checkpoint, "Checkpoint file (.ckpt), adapter.ckpt, or model folder")
      ->required();
  cmd->add_option("out_dir", a.out_dir, "Output directory (created)")->required();
  cmd->add_option("--format", a.format, "Export format: safetensors")->capture_default_str();
  cmd->add_option("--tokenizer", a.tokenizer,
                  "Tokenizer .model (default: the one named by the recipe stored in the checkpoint)");
  cmd->add_option("--peft-base", a.peft_base,
                  "An adapter's base_model_name_or_path (default: the fine-tune's finetune.base)");
  cmd->footer(
      "Example:\n"
      "  plinth export runs/quickstart/checkpoints/step-001000.ckpt --format safetensors exports/quickstart\n"
      "  plinth export runs/ft-lora/tuned.ckpt exports/ft-lora      # + exports/ft-lora/adapter (PEFT)\n"
      "  plinth export runs/ft-lora/adapter.ckpt exports/ft-lora-adapter --peft-base exports/quickstart\n"
      "Writes model.safetensors, config.json, generation_config.json, tokenizer.model,\n"
      "tokenizer_config.json, special_tokens_map.json and export.json (plinth version, step, tokenizer\n"
      "hash). Load with transformers: AutoModelForCausalLM.from_pretrained(\"exports/quickstart\") and\n"
      "AutoTokenizer.from_pretrained(\"exports/quickstart\"). A LoRA fine-tune's tuned.ckpt also writes\n"
      "its adapter in PEFT's layout (adapter/: PeftModel.from_pretrained(base, "
      "\"exports/ft-lora/adapter\"));\n"
      "an adapter.ckpt alone writes only that. The checkpoint may be a Hugging Face model folder.");
  cmd->callback([] { run_export(a); });
}

}  // namespace plinth
