#include "finetune/finetune_spec.h"

#include <fmt/format.h>

#include <set>

#include "model/hf_config.h"
#include "train/checkpoint_files.h"
#include "util/regex.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

namespace {

// Each regex must compile as it will when the options are applied (util/regex.h).
void check_regexes(ConfigSection& s, const char* key, const std::vector<std::string>& regexes) {
  for (const auto& r : regexes) {
    try {
      Regex parsed(r);
    } catch (const RegexError& e) {
      s.error(key, invalid_regex("", r, e),
              "write a name part such as q_proj; escape dots as \\. ('layers\\.1\\.')");
    }
  }
}

void bind_lora(ConfigSection& s, model::LoraOptions& lora) {
  s.read("rank", lora.rank, Range<int64_t>::between(1, 1 << 16));
  s.read("alpha", lora.alpha, Range<double>::positive());
  s.read("dropout", lora.dropout, Range<double>::between(0.0, 1.0));
  s.read("targets", lora.targets);
  s.finish();
  if (lora.dropout >= 1.0)
    s.error("dropout", fmt::format("{} must be below 1", lora.dropout), "0 or 0.05 are usual");
  if (lora.targets.empty())
    s.error("targets", "no projection to adapt", "list projections such as [q_proj, v_proj]");
  check_regexes(s, "targets", lora.targets);
}

void bind_freeze(ConfigSection& s, model::FreezeOptions& freeze) {
  s.read("embeddings", freeze.embeddings);
  s.read("first_layers", freeze.first_layers, Range<int64_t>::between(0, 1 << 16));
  s.read("patterns", freeze.patterns);
  s.finish();
  check_regexes(s, "patterns", freeze.patterns);
}

void bind_replay(ConfigSection& s, ReplaySpec& replay) {
  s.read("fraction", replay.fraction, Range<double>::between(0.0, 1.0));
  s.read_choice("source", replay.source, {"data", "generated"});
  const char* generation_keys[] = {"documents", "max_tokens", "temperature", "top_p", "seed"};
  if (replay.generated()) {
    s.read("documents", replay.documents, Range<int64_t>::between(1, 1 << 24));
    s.read("max_tokens", replay.max_tokens, Range<int64_t>::between(0, 1 << 24));
    s.read("temperature", replay.temperature, Range<double>::positive());
    s.read("top_p", replay.top_p, Range<double>::positive());
    s.read("seed", replay.seed, Range<int64_t>::at_least(0));
    if (replay.fraction <= 0)
      s.error("source", "generated replay, but fraction is 0 (replay is off: nothing would be generated)",
              "set finetune.replay.fraction (e.g. 0.25), or remove the replay section");
    if (!(replay.top_p <= 1.0))
      s.error("top_p", fmt::format("{} is not in (0, 1]", replay.top_p),
              "1 samples the base's whole distribution; 0.9 keeps its most likely tokens");
    if (s.has("domains")) {
      s.ignore("domains");
      s.error("domains", "generated documents have no domains (the base writes what it writes)",
              "remove domains, or replay the pretraining shards: source: data");
    }
  } else {
    for (const char* key : generation_keys)
      if (s.has(key)) {
        s.ignore(key);
        s.error(key, "is a setting of generated replay, but source is data",
                "set finetune.replay.source: generated, or remove the key");
      }
  }
  std::set<std::string> seen;
  double weight_sum = 0;
  const bool listed = s.has("domains");
  for (ConfigSection& d : s.list("domains")) {
    std::string name;
    double weight = 1.0;
    const bool named = d.read("name", name, Need::Required);
    d.read("weight", weight, Range<double>::at_least(0.0));
    d.finish();
    if (!named) continue;
    if (!seen.insert(name).second) {
      d.error("name", fmt::format("domain '{}' is listed twice", name), "list each domain once");
      continue;
    }
    replay.domains.emplace_back(name, weight);
    weight_sum += weight;
  }
  s.finish();
  if (replay.fraction >= 1.0)
    s.error("fraction", fmt::format("{} must be below 1 (1 would leave no task data)", replay.fraction),
            "0.1 to 0.5 is usual; 0 turns replay off");
  if (listed && !replay.domains.empty() && weight_sum <= 0)
    s.error("domains", "every replay domain has weight 0", "give at least one domain a weight above 0");
}

void bind_ewc(ConfigSection& s, EwcSpec& ewc) {
  s.read("lambda", ewc.lambda, Range<double>::at_least(0.0));
  s.read("fisher_sequences", ewc.fisher_sequences, Range<int64_t>::between(1, 1 << 24));
  for (const char* old : {"fisher_batches", "fisher_rows"})
    if (s.has(old)) {
      s.ignore(old);
      s.error(old, "is gone: the Fisher is now the mean over single sequences (per-example gradients)",
              "set finetune.ewc.fisher_sequences (batches x rows of before; default 128)");
    }
  s.finish();
}

}  // namespace

void bind(ConfigSection& s, FinetuneSpec& spec) {
  if (s.read("base", spec.base, Need::Required) && spec.base.empty())
    s.error("base", "is empty", "name the pretraining run directory (e.g. runs/quickstart) or a .ckpt file");
  s.read_choice("method", spec.method, {"full", "lora"});
  ConfigSection lora = s.child("lora");
  bind_lora(lora, spec.lora);
  ConfigSection freeze = s.child("freeze");
  bind_freeze(freeze, spec.freeze);
  ConfigSection replay = s.child("replay");
  bind_replay(replay, spec.replay);
  ConfigSection ewc = s.child("ewc");
  bind_ewc(ewc, spec.ewc);
  ConfigSection l2sp = s.child("l2sp");
  l2sp.read("alpha", spec.l2sp.alpha, Range<double>::at_least(0.0));
  l2sp.finish();
  ConfigSection distill = s.child("distill");
  distill.read("weight", spec.distill.weight, Range<double>::at_least(0.0));
  std::string on;
  if (distill.read("on", on)) {
    if (on != "task" && on != "replay" && on != "generated")
      distill.error("on", fmt::format("'{}' is not one of task, replay, generated", on),
                    "on: task (the task's rows, prompts included), on: replay (the replayed rows) or "
                    "on: generated (rows the base wrote, with replay.source: generated)");
    else
      spec.distill.on = on;
  }
  distill.finish();
  s.finish();

  if (spec.method == "full" && lora.present())
    s.error("lora", "a lora section, but method is full (the lora settings would be ignored)",
            "set finetune.method: lora to train adapters, or remove the lora section");
  if (spec.method == "lora" && freeze.present())
    s.error("freeze", "a freeze section, but method lora already freezes every base weight",
            "remove the freeze section, or use method: full to freeze parts of a full fine-tune");
  const char* why =
      "the adapters start at zero; EWC/L2-SP pull full weights toward the base: use method full, or freeze";
  if (spec.method == "lora" && spec.ewc_on())
    s.error("ewc", "EWC with method lora", fmt::format("{}; or set ewc.lambda: 0", why));
  if (spec.method == "lora" && spec.l2sp_on())
    s.error("l2sp", "L2-SP with method lora", fmt::format("{}; or set l2sp.alpha: 0", why));
  if (spec.distill_on() && spec.distill.on == "replay" && !spec.replay_on())
    distill.error("on", "distillation on replayed rows, but replay is off (finetune.replay.fraction is 0)",
                  "set finetune.replay.fraction (e.g. 0.25), or distil on the task's rows: on: task");
  if (spec.distill_on() && spec.distill.on == "generated" && !(spec.replay_on() && spec.replay.generated()))
    distill.error("on",
                  "distillation on generated rows, but no generated replay (finetune.replay with "
                  "source: generated and a fraction above 0)",
                  "add replay: {fraction: 0.25, source: generated}, or distil on the task's rows: on: task");
}

std::string method_label(const FinetuneSpec& spec) {
  std::string label = spec.lora_on() ? "lora" : "full";
  if (spec.freeze_on() && !spec.lora_on()) label += "+freeze";
  if (spec.replay_on()) label += spec.replay.generated() ? "+genreplay" : "+replay";
  if (spec.ewc_on()) label += "+ewc";
  if (spec.l2sp_on()) label += "+l2sp";
  if (spec.distill_on()) label += "+distill";
  return label;
}

fs::path resolve_base_checkpoint(const std::string& base) {
  const std::string usage =
      "set finetune.base to a pretraining run directory (e.g. runs/quickstart), one of its .ckpt files, or a "
      "Hugging Face model folder (config.json, *.safetensors, tokenizer.model)";
  std::error_code ec;
  const fs::path p(base);
  if (fs::is_regular_file(p, ec)) return p;
  if (model::is_hf_model_dir(p)) return p;  // a Hugging Face model folder: read as a checkpoint
  if (fs::is_directory(p, ec)) {
    if (fs::exists(train::best_checkpoint_path(p), ec)) return train::best_checkpoint_path(p);
    if (auto latest = train::latest_checkpoint(p)) return *latest;
    throw BadInput(
        fmt::format("finetune.base: the directory {} holds no checkpoints/best.ckpt nor step checkpoints",
                    base),
        fmt::format("pretrain it first (plinth pretrain), or {}", usage));
  }
  throw BadInput(fmt::format("finetune.base: {} does not exist", base),
                 fmt::format("pretrain the base first (plinth pretrain), or {}", usage));
}

}  // namespace plinth::finetune
