#include "model/checkpoint_model.h"

#include <fmt/format.h>

#include <set>

#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"

namespace plinth::model {

namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace

std::string checkpoint_tokenizer_hash(const CheckpointContents& ckpt) {
  auto it = ckpt.meta.find("tokenizer_hash");
  return it == ckpt.meta.end() ? std::string() : it->second;
}

void check_tokenizer(const CheckpointContents& ckpt, const std::filesystem::path& checkpoint,
                     uint64_t tokenizer_hash, const std::string& tokenizer_file) {
  std::string stored = checkpoint_tokenizer_hash(ckpt);
  if (stored.empty() || stored == hex64(tokenizer_hash)) return;
  throw BadInput(fmt::format("{} was trained with tokenizer {}, but {} has hash {}", checkpoint.string(),
                             stored, tokenizer_file, hex64(tokenizer_hash)),
                 "use the tokenizer (and shards) the checkpoint was trained with, or a checkpoint "
                 "trained with this tokenizer");
}

int64_t checkpoint_step(const CheckpointContents& ckpt) {
  auto it = ckpt.meta.find("step");
  if (it == ckpt.meta.end()) return -1;
  return parse_meta_int(it->second).value_or(-1);
}

Llama model_from_checkpoint(const CheckpointContents& ckpt, const std::filesystem::path& file) {
  ModelConfig config = model_config_from_json(ckpt.meta_or_throw("model_config", file), file);
  Llama net(config);
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

}  // namespace plinth::model
