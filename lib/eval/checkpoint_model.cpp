#include "eval/checkpoint_model.h"

#include <fmt/format.h>

#include <set>

#include "recipe/recipe_loader.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace

std::string checkpoint_tokenizer_hash(const model::CheckpointContents& ckpt) {
  auto it = ckpt.meta.find("tokenizer_hash");
  return it == ckpt.meta.end() ? std::string() : it->second;
}

void check_tokenizer(const model::CheckpointContents& ckpt, const std::filesystem::path& checkpoint,
                     uint64_t tokenizer_hash, const std::string& tokenizer_file) {
  std::string stored = checkpoint_tokenizer_hash(ckpt);
  if (stored.empty() || stored == hex64(tokenizer_hash)) return;
  throw BadInput(fmt::format("{} was trained with tokenizer {}, but {} has hash {}", checkpoint.string(),
                             stored, tokenizer_file, hex64(tokenizer_hash)),
                 "use the tokenizer (and shards) the checkpoint was trained with, or a checkpoint "
                 "trained with this tokenizer");
}

std::filesystem::path checkpoint_tokenizer_file(const model::CheckpointContents& ckpt,
                                                const std::filesystem::path& checkpoint,
                                                const std::string& explicit_file,
                                                const std::string& default_prefix) {
  if (!explicit_file.empty()) return explicit_file;
  auto it = ckpt.meta.find("recipe");
  if (it == ckpt.meta.end())
    throw BadInput(fmt::format("{} stores no recipe naming its tokenizer", checkpoint.string()),
                   "name it: --tokenizer PATH.model");
  ConfigNode root = recipe::parse_yaml(it->second, checkpoint.string() + " (stored recipe)");
  std::string prefix = default_prefix;
  if (const ConfigNode* tok = root.find("tokenizer"))
    if (const ConfigNode* model = tok->find("model"))
      if (model->is_scalar() && !model->text().empty()) prefix = model->text();
  std::filesystem::path file = prefix + ".model";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    throw BadInput(fmt::format("the tokenizer {} named by the recipe stored in {} does not exist",
                               file.string(), checkpoint.string()),
                   "run from the directory the model was trained in, or name it: --tokenizer PATH.model");
  return file;
}

int64_t checkpoint_step(const model::CheckpointContents& ckpt) {
  auto it = ckpt.meta.find("step");
  if (it == ckpt.meta.end()) return -1;
  try {
    size_t used = 0;
    long long step = std::stoll(it->second, &used);
    return used == it->second.size() ? step : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

model::Llama model_from_checkpoint(const model::CheckpointContents& ckpt, const std::filesystem::path& file) {
  model::ModelConfig config = model::model_config_from_json(ckpt.meta_or_throw("model_config", file), file);
  model::Llama net(config);
  net->eval();
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& p : net->named_parameters()) {
    const std::string name = "model/" + p.key();
    const torch::Tensor* t = ckpt.find(name);
    if (!t)
      throw BadInput(fmt::format("{}: weight '{}' is missing", file.string(), p.key()),
                     "the file is not a complete plinth model checkpoint; use another checkpoint");
    if (!t->sizes().equals(p.value().sizes()))
      throw BadInput(fmt::format("{}: weight '{}' has shape {}, its model_config needs {}", file.string(),
                                 p.key(), shape_str(*t), shape_str(p.value())),
                     "the checkpoint is inconsistent; use another checkpoint");
    p.value().copy_(*t);
    used.insert(name);
  }
  for (const auto& [name, t] : ckpt.tensors)
    if (starts_with(name, "model/") && !used.count(name))
      throw BadInput(fmt::format("{}: tensor '{}' belongs to no parameter of the model its model_config "
                                 "describes",
                                 file.string(), name.substr(6)),
                     "the checkpoint is inconsistent; use another checkpoint");
  return net;
}

}  // namespace plinth::eval
