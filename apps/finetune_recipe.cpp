#include "finetune_recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/prepare.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace fs = std::filesystem;

bool is_finetune_recipe(const Recipe& r) {
  return r.loaded.root.find("finetune") != nullptr;
}

FinetuneRecipe bind_finetune_recipe(Recipe r, int threads) {
  FinetuneRecipe f;
  {
    Diagnostics diag;
    ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
    ConfigSection ft = root.child("finetune", Need::Required);
    train::bind(ft, f.finetune);
    ConfigSection task = root.child("task", Need::Required);
    data::bind(task, f.task);
    ConfigSection t = root.child("train");
    train::bind(t, f.train);
    ConfigSection e = root.child("eval");
    eval::bind(e, f.eval);
    if (const ConfigNode* g = r.loaded.root.find("gate")) {
      ConfigSection gs = root.child("gate");
      eval::GateThresholds thresholds;
      eval::bind(gs, g, thresholds);
      f.gate = thresholds;
    }
    if (const ConfigNode* m = r.loaded.root.find("model"))
      diag.add(Problem{m->where(), "model",
                       "a fine-tuning recipe takes the model's shape from its base checkpoint",
                       "remove the model: section (or the include that brings it)"});
    diag.throw_if_any();
  }
  if (threads > 0) f.train.threads = threads;
  if (f.train.run_dir.empty()) f.train.run_dir = (fs::path("runs") / r.name).string();
  f.run_dir = f.train.run_dir;
  f.recipe = std::move(r);
  return f;
}

fs::path tuned_checkpoint_path(const fs::path& run_dir) {
  return run_dir / "tuned.ckpt";
}

fs::path adapter_checkpoint_path(const fs::path& run_dir) {
  return run_dir / "adapter.ckpt";
}

tokenizer::Tokenizer load_recipe_tokenizer(const Recipe& r) {
  std::error_code ec;
  if (!fs::exists(r.tokenizer.model_file(), ec))
    throw BadInput(fmt::format("the tokenizer {} does not exist", r.tokenizer.model_file()),
                   fmt::format("train it first: plinth tokenizer train {}", r.loaded.file.string()));
  return tokenizer::Tokenizer::load(r.tokenizer.model_file());
}

TaskSet load_task_set(const data::TaskSpec& spec, const tokenizer::Tokenizer& tok) {
  TaskSet s;
  s.data = data::load_task(spec);
  auto encode = [&](const std::vector<data::TaskExample>& in, std::vector<data::TokenizedExample>& out) {
    out.reserve(in.size());
    for (const auto& e : in) out.push_back(data::tokenize_example(tok, spec, e));
  };
  encode(s.data.train, s.train);
  encode(s.data.val, s.val);
  encode(s.data.test, s.test);
  log::info("task {}: {} examples from {} ({} train, {} val, {} test){}", spec.name, s.data.examples(), spec.path,
            s.train.size(), s.val.size(), s.test.size(),
            s.data.skipped ? fmt::format(", {} bad lines skipped", s.data.skipped) : "");
  return s;
}

DomainShards open_domain_shards(const Recipe& r, const std::vector<std::string>& names, const std::string& split,
                                uint64_t tokenizer_hash, const std::string& why) {
  DomainShards out;
  std::vector<std::string> missing;
  std::error_code ec;
  for (const auto& name : names)
    if (!fs::exists(data::shard_path(r.data, name, split), ec)) missing.push_back(name);
  if (!missing.empty())
    throw BadInput(fmt::format("{}, but {} has no {} shard for: {}", why, r.data.shards, split,
                               fmt::join(missing, ", ")),
                   fmt::format("prepare them: plinth prepare {}", r.loaded.file.string()));
  for (const auto& name : names) {
    out.readers.push_back(data::ShardReader::open(data::shard_path(r.data, name, split), tokenizer_hash));
    out.domains.emplace_back(name, &out.readers.back());
  }
  return out;
}

}  // namespace plinth
