#include "model/checkpoint_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <vector>

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

void check_checkpoint_compatible(const CheckpointContents& ckpt, const std::filesystem::path& file,
                                 const ModelConfig& config, uint64_t tokenizer_hash) {
  if (tokenizer_hash != 0) {
    const std::string& theirs = ckpt.meta_or_throw("tokenizer_hash", file);
    if (theirs != hex64(tokenizer_hash))
      throw BadInput(fmt::format("checkpoint {} was made with another tokenizer (hash {}; this recipe's "
                                 "tokenizer has {})",
                                 file.string(), theirs, hex64(tokenizer_hash)),
                     "use the tokenizer the run was trained with (see the checkpoint's run_dir/recipe.yaml), "
                     "or start a new run in another train.run_dir");
  }
  const ModelConfig c = model_config_from_json(ckpt.meta_or_throw("model_config", file), file);
  std::vector<std::string> diffs;
  auto cmp = [&](const char* name, auto theirs, auto ours) {
    if (theirs != ours) diffs.push_back(fmt::format("{} {} (checkpoint) vs {} (recipe)", name, theirs, ours));
  };
  cmp("vocab_size", c.vocab_size, config.vocab_size);
  cmp("dim", c.dim, config.dim);
  cmp("layers", c.layers, config.layers);
  cmp("heads", c.heads, config.heads);
  cmp("kv_heads", c.resolved_kv_heads(), config.resolved_kv_heads());
  cmp("ffn", c.resolved_ffn(), config.resolved_ffn());
  cmp("context", c.context, config.context);
  cmp("tie_embeddings", c.tie_embeddings, config.tie_embeddings);
  cmp("rope_theta", c.rope_theta, config.rope_theta);
  cmp("norm_eps", c.norm_eps, config.norm_eps);
  if (!diffs.empty())
    throw BadInput(fmt::format("checkpoint {} holds another model: model.{}", file.string(),
                               fmt::join(diffs, ", model.")),
                   "use the model section the run was started with (its run_dir/recipe.yaml), or start a new "
                   "run in another train.run_dir");
}

void load_model_weights(LlamaImpl& model, const CheckpointContents& ckpt, const std::filesystem::path& file) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const torch::Tensor* t = ckpt.find("model/" + p.key());
    if (!t)
      throw BadInput(fmt::format("{}: weight '{}' is missing", file.string(), p.key()),
                     "the checkpoint is incomplete or holds another model; use a checkpoint of this model");
    if (!t->sizes().equals(p.value().sizes()))
      throw BadInput(fmt::format("{}: weight '{}' has shape {}, the model needs {}", file.string(), p.key(),
                                 shape_str(*t), shape_str(p.value())),
                     "the checkpoint holds another model shape or is inconsistent; use a checkpoint of this "
                     "model");
    p.value().copy_(*t);
  }
}

Llama model_from_checkpoint(const CheckpointContents& ckpt, const std::filesystem::path& file) {
  ModelConfig config = model_config_from_json(ckpt.meta_or_throw("model_config", file), file);
  Llama net(config);
  net->eval();
  load_model_weights(*net, ckpt, file);
  std::set<std::string> used;
  for (const auto& p : net->named_parameters()) used.insert("model/" + p.key());
  for (const auto& [name, t] : ckpt.tensors)
    if (starts_with(name, "model/") && !used.count(name))
      throw BadInput(fmt::format("{}: tensor '{}' belongs to no parameter of the model its model_config "
                                 "describes",
                                 file.string(), name.substr(6)),
                     "the checkpoint is inconsistent; use another checkpoint");
  return net;
}

}  // namespace plinth::model
