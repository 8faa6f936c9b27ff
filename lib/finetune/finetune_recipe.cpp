#include "finetune/finetune_recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "data/prepare.h"
#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth::finetune {

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
    bind(ft, f.finetune);
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
    if (r.loaded.root.find("select")) {
      ConfigSection ss = root.child("select");
      bind(ss, f.select);
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

fs::path existing_tuned_checkpoint(const FinetuneRecipe& f) {
  const fs::path tuned_ckpt = tuned_checkpoint_path(f.run_dir);
  std::error_code ec;
  if (!fs::exists(tuned_ckpt, ec))
    throw BadInput(
        fmt::format("{} does not exist: the run has not finished fine-tuning", tuned_ckpt.string()),
        fmt::format("fine-tune first: plinth finetune {} (--resume continues a stopped run)",
                    f.recipe.loaded.file.string()));
  return tuned_ckpt;
}

fs::path adapter_checkpoint_path(const fs::path& run_dir) {
  return run_dir / "adapter.ckpt";
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
  log::info("task {}: {} examples from {} ({} train, {} val, {} test){}", spec.name, s.data.examples(),
            spec.path, s.train.size(), s.val.size(), s.test.size(),
            s.data.skipped ? fmt::format(", {} bad lines skipped", s.data.skipped) : "");
  return s;
}

int64_t task_row_tokens(const data::TaskSpec& spec, const TaskSet& task, int64_t context) {
  int64_t seq_len = spec.seq_len;
  if (seq_len <= 0) {
    std::vector<size_t> lengths;
    for (const auto& e : task.train) lengths.push_back(e.prompt.size() + e.completion.size());
    std::sort(lengths.begin(), lengths.end());
    const size_t p99 = lengths.empty() ? 2 : lengths[lengths.size() * 99 / 100];
    seq_len = std::min<int64_t>(context, (static_cast<int64_t>(p99) - 1 + 7) / 8 * 8);
  }
  if (seq_len > context)
    throw BadInput(
        fmt::format("task.seq_len {} is longer than the base model's context of {}", seq_len, context),
        fmt::format("set task.seq_len to at most {} (0 = fit 99% of the training examples)", context));
  return seq_len;
}

DomainShards open_domain_shards(const Recipe& r, const std::vector<std::string>& names,
                                const std::string& split, uint64_t tokenizer_hash, const std::string& why) {
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

namespace {

// A domain's recipe node without its mixture weight (which changes how often the base saw the
// domain, not which of its documents are validation), as a hash.
uint64_t domain_identity(ConfigNode domain) {
  domain.erase("weight");
  return recipe::content_hash(domain);
}

std::map<std::string, const ConfigNode*> domains_by_name(const ConfigNode& root) {
  std::map<std::string, const ConfigNode*> out;
  const ConfigNode* data = root.find("data");
  const ConfigNode* domains = data ? data->find("domains") : nullptr;
  if (domains && domains->is_sequence())
    for (const ConfigNode& d : domains->items())
      if (const ConfigNode* name = d.find("name"); name && name->is_scalar()) out[name->text()] = &d;
  return out;
}

// data.<key> as a number, `fallback` (the binder's default) when absent.
double data_number(const ConfigNode& root, const char* key, double fallback) {
  const ConfigNode* data = root.find("data");
  const ConfigNode* v = data ? data->find(key) : nullptr;
  if (!v || !v->is_scalar()) return fallback;
  try {
    return std::stod(v->text());
  } catch (const std::exception&) {
    return std::nan("");
  }
}

}  // namespace

void check_base_data(const Recipe& r, const model::CheckpointContents& base, const fs::path& base_file) {
  auto stored = base.meta.find("recipe");
  if (auto kind = base.meta.find("kind"); kind != base.meta.end() && kind->second == "hf-model") {
    log::info(
        "{}: a model plinth did not pretrain; the data: section stands for what it knew (forgetting is "
        "measured on its domains)",
        base_file.string());
    return;
  }
  if (stored == base.meta.end()) {
    log::warn("{} stores no recipe: cannot check that this fine-tune's data: section is its base's",
              base_file.string());
    return;
  }
  const ConfigNode theirs = recipe::parse_yaml(stored->second, base_file.string() + " (stored recipe)");
  const ConfigNode& ours = r.loaded.root;
  std::vector<std::string> diffs;
  const auto our_domains = domains_by_name(ours), their_domains = domains_by_name(theirs);
  for (const auto& [name, node] : our_domains) {
    auto it = their_domains.find(name);
    if (it == their_domains.end())
      diffs.push_back(fmt::format("domain '{}' is not one of the base's", name));
    else if (domain_identity(*node) != domain_identity(*it->second))
      diffs.push_back(fmt::format("domain '{}' has other sources or document rules than the base's", name));
  }
  for (const auto& [name, node] : their_domains)
    if (!our_domains.count(name)) diffs.push_back(fmt::format("the base also trained on domain '{}'", name));
  // Ours are bound already; the base's are read from its stored tree, the binder's default when absent.
  const data::DataSpec defaults;
  for (const auto& [key, a, fallback] :
       {std::tuple<const char*, double, double>{"val_fraction", r.data.val_fraction, defaults.val_fraction},
        {"split_seed", static_cast<double>(r.data.split_seed), static_cast<double>(defaults.split_seed)}}) {
    const double b = data_number(theirs, key, fallback);
    if (!(a == b)) diffs.push_back(fmt::format("data.{} is {} here, {} in the base's", key, a, b));
  }
  if (!diffs.empty())
    throw BadInput(
        fmt::format("{}: this fine-tune's data: section is not the one its base {} was pretrained on: {}",
                    r.loaded.file.string(), base_file.string(), fmt::join(diffs, "; ")),
        "include the base's data recipe unchanged (e.g. include: ../pretrain/quickstart.yaml), so that the "
        "documents the base trained on are never scored as validation; or fine-tune a base pretrained on "
        "this data");
}

}  // namespace plinth::finetune
