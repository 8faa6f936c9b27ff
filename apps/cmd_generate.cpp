// plinth generate --checkpoint C --prompt TEXT: a continuation of the prompt, sampled from a
// checkpoint with the tokenizer it was trained with. A fine-tuned checkpoint (tuned.ckpt) is
// asked as it was taught: the prompt goes into its task's template (data/task_data.h,
// task_prompt_tokens) and only the completion, up to the task's end marker, is printed.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_tokenizer.h"
#include "command.h"
#include "data/task_data.h"
#include "data/task_spec.h"
#include "model/checkpoint_model.h"
#include "model/hf_import.h"
#include "model/device.h"
#include "model/generation.h"
#include "model/torch_runtime.h"
#include "recipe/recipe_loader.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::string checkpoint;
  std::string prompt;
  std::string tokenizer;  // empty: the one named by the recipe stored in the checkpoint
  std::vector<std::string> stop;
  model::GenerateOptions options;
  std::string device = "auto";
  std::string precision = "fp32";
  int threads = 0;
  bool raw = false;   // a fine-tuned checkpoint: continue the prompt as given, without the task template
  bool json = false;  // print {"prompt_ids", "ids", "text"} instead of the text
};

// The task a fine-tuned checkpoint was trained on (template, completion suffix), from the recipe
// it stores; nullopt for any other checkpoint.
std::optional<data::TaskSpec> checkpoint_task(const model::CheckpointContents& ckpt,
                                              const fs::path& checkpoint) {
  auto kind = ckpt.meta.find("kind");
  auto recipe = ckpt.meta.find("recipe");
  if (kind == ckpt.meta.end() || recipe == ckpt.meta.end()) return std::nullopt;
  if (kind->second != "plinth-finetuned" && kind->second != "plinth-finetune") return std::nullopt;
  const std::string name = checkpoint.string() + " (stored recipe)";
  return data::task_format_from_recipe(recipe::parse_yaml(recipe->second, name), Location{name});
}

// Where the first stop string begins in `text`, or npos.
size_t first_stop(const std::string& text, const std::vector<std::string>& stops) {
  size_t at = std::string::npos;
  for (const auto& s : stops)
    if (!s.empty()) at = std::min(at, text.find(s));
  return at;
}

void run_generate(const GenerateArgs& a) {
  model::configure_threads(a.threads);
  const fs::path checkpoint = a.checkpoint;
  model::Llama net{nullptr};
  std::optional<tokenizer::Tokenizer> tok;
  std::optional<data::TaskSpec> task;
  {
    model::CheckpointContents ckpt = model::read_model_checkpoint(checkpoint);
    tok.emplace(checkpoint_tokenizer(ckpt, checkpoint, a.tokenizer));
    net = model::model_from_checkpoint(ckpt, checkpoint);
    if (!a.raw) task = checkpoint_task(ckpt, checkpoint);
  }
  net->to(model::resolve_device(a.device, "--device"),
          model::weight_dtype(*parse_precision(a.precision)));  // --precision is checked

  // Training saw every document after the EOS of the one before, so a prompt starts there too;
  // a task's prompt also goes into the template it was fine-tuned with.
  std::vector<int64_t> prompt;
  int64_t end_id = -1;  // the task's completion suffix, when it is one token
  if (task) {
    for (int32_t id : data::task_prompt_tokens(*tok, *task, a.prompt)) prompt.push_back(id);
    end_id = tok->piece_to_id(task->completion_suffix);
    if (end_id == tok->unk_id()) end_id = -1;
    log::info(
        "{}: fine-tuned on task '{}': the prompt goes into its template \"{}\"{}; --raw continues the "
        "prompt as given",
        checkpoint.string(), task->name, task->prompt_template,
        end_id >= 0 ? fmt::format(", and the completion ends at {}", task->completion_suffix) : "");
  } else {
    prompt.push_back(tok->document_start_id());  // as every training document began
    for (int32_t id : tok->encode(a.prompt)) prompt.push_back(id);
  }
  const int64_t context = net->config().context;
  if (static_cast<int64_t>(prompt.size()) >= context)
    throw BadInput(
        fmt::format("the prompt is {} tokens (with the token before it{}); the model's context is {}",
                    prompt.size(), task ? " and the task template" : "", context),
        fmt::format("shorten the prompt to at most {} tokens", context - 2));

  const int64_t eos = tok->eos_id();
  std::vector<int32_t> ids;
  auto stop = [&](const std::vector<int64_t>& generated) {
    if (generated.back() == eos || generated.back() == end_id) return true;
    if (a.stop.empty()) return false;
    ids.assign(generated.begin(), generated.end());
    return first_stop(tok->decode(ids), a.stop) != std::string::npos;
  };
  std::vector<int64_t> generated = model::generate(net, prompt, a.options, stop);
  const std::vector<int64_t> all_new = generated;  // with the end token, for --json
  if (!generated.empty() && (generated.back() == eos || generated.back() == end_id)) generated.pop_back();
  ids.assign(generated.begin(), generated.end());
  std::string text = tok->decode(ids);
  text = text.substr(0, first_stop(text, a.stop));
  log::debug("{} new tokens", generated.size());
  if (a.json) {
    nlohmann::json out = {{"prompt_ids", prompt}, {"ids", all_new}, {"text", text}};
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("{}\n", text);
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a checkpoint (sampling, KV cache)");
  static GenerateArgs a;
  cmd->add_option("--checkpoint", a.checkpoint, "Checkpoint file (.ckpt) or Hugging Face model folder")
      ->required();
  cmd->add_option("--prompt", a.prompt, "Text to continue (may be empty)")->required();
  cmd->add_option("--max-new-tokens", a.options.max_new_tokens, "Most tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temperature", a.options.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", a.options.top_k, "Sample among the k most likely tokens; 0 = off")
      ->capture_default_str();
  cmd->add_option("--top-p", a.options.top_p,
                  "Sample from the smallest set reaching this probability; 1 = off")
      ->capture_default_str();
  cmd->add_option("--seed", a.options.seed, "Seed of the sampler: same seed, same text")
      ->capture_default_str();
  cmd->add_option("--stop", a.stop, "Stop at this text (repeatable); it is not printed");
  cmd->add_option("--tokenizer", a.tokenizer,
                  "Tokenizer .model (default: the one named by the recipe stored in the checkpoint)");
  cmd->add_flag("--raw", a.raw,
                "A fine-tuned checkpoint: continue the prompt as given, not wrapped in its task template");
  cmd->add_flag("--json", a.json,
                "Print JSON: the prompt's token ids, the new ids (with the end token, when one stopped it), "
                "the text");
  cmd->add_option("--device", a.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--precision", a.precision, "fp32 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--threads", a.threads, "Threads (default: $PLINTH_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  cmd->footer(
      "Example:\n"
      "  plinth generate --checkpoint runs/quickstart/checkpoints/step-001000.ckpt --prompt 'def main(' \\\n"
      "      --max-new-tokens 80 --temperature 0.8 --top-p 0.95 --stop $'\\n\\n'\n"
      "  plinth generate --checkpoint runs/ft-lora/tuned.ckpt --prompt Hund --temperature 0\n"
      "The prompt is preceded by the token every training document began with: the EOS for plinth's\n"
      "tokenizers, the BOS for a Hugging Face model's (docs/hf-interop.md). Generation ends at\n"
      "--max-new-tokens, at EOS, at a --stop text, or when the model's context is full.\n"
      "A fine-tuned checkpoint wraps the prompt in its task's template (e.g. <|prompt|>Hund<|response|>),\n"
      "stops at the task's completion suffix (e.g. <|end|>) and prints the completion only; --raw\n"
      "continues the prompt as given.");
  cmd->callback([] { run_generate(a); });
}

}  // namespace plinth
