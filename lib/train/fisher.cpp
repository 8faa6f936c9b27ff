#include "train/fisher.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <vector>

#include "model/checkpoint_file.h"
#include "model/torch_runtime.h"
#include "train/model_loss.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kKind = "plinth-fisher";
constexpr const char* kPrefix = "fisher/";
// Files of another estimator (an older plinth squared whole-batch gradients) are refused, so the
// fine-tune estimates the Fisher again.
constexpr const char* kEstimator =
    "empirical Fisher: mean over sequences of the squared gradient of the sequence's mean token loss";

bool is_adapter(const std::string& name) {
  return name.find("lora_") != std::string::npos;
}

uint64_t parse_hex(const std::string& text, const char* key, const fs::path& file) {
  if (const auto v = parse_hex64(text)) return *v;
  throw BadInput(fmt::format("Fisher file {}: '{}' is not a hex number ({})", file.string(), key, text),
                 "plinth finetune estimates it again and replaces the file");
}

int64_t parse_count(const std::string& text, const char* key, const fs::path& file) {
  if (const auto v = model::parse_meta_int(text); v && *v >= 0) return *v;
  throw BadInput(fmt::format("Fisher file {}: '{}' is not a count ({})", file.string(), key, text),
                 "plinth finetune estimates it again and replaces the file");
}

}  // namespace

FisherDiagonal estimate_fisher(model::LlamaImpl& model, BatchSource& source, int64_t sequences,
                               torch::Device device) {
  if (sequences < 1)
    throw BadInput(fmt::format("a Fisher estimate needs at least one sequence (got {})", sequences),
                   "set finetune.ewc.fisher_sequences to 1 or more");
  model.to(device);
  std::vector<std::pair<std::string, torch::Tensor>> params;  // the estimated ones
  for (const auto& item : model.named_parameters())
    if (!is_adapter(item.key())) params.emplace_back(item.key(), item.value());

  // Frozen parameters need gradients here; the guard gives them back their state, and the model
  // its mode, however this function ends.
  struct Restore {
    model::LlamaImpl& model;
    bool was_training;
    std::vector<torch::Tensor> frozen;
    ~Restore() {
      for (auto& p : frozen) p.requires_grad_(false);
      model.train(was_training);
    }
  } restore{model, model.is_training(), {}};
  for (auto& [name, p] : params)
    if (!p.requires_grad()) {
      p.requires_grad_(true);
      restore.frozen.push_back(p);
    }
  model.eval();
  torch::AutoGradMode grad_on(true);
  std::vector<torch::Tensor> sums;  // float32, each its parameter's shape
  for (const auto& [name, p] : params) {
    sums.push_back(torch::zeros(p.sizes(), p.options().dtype(torch::kFloat32)));
    p.mutable_grad() = torch::Tensor();
  }
  int64_t done = 0, empty = 0;
  while (done < sequences) {
    torch::Tensor x, y;  // (1, T) each: one example
    source.next(1, x, y);
    if ((y >= 0).sum().item<int64_t>() == 0) {
      if (++empty > 16 * sequences)
        throw BadInput(
            "the base's pretraining shards give no sequence with a target to estimate the Fisher on",
            "check the shards (plinth inspect), or set finetune.ewc.lambda: 0");
      continue;
    }
    x = x.to(device);
    y = y.to(device);
    torch::Tensor loss = model_loss(model, x, y, false);  // mean over T, float32
    const double value = loss.item<double>();
    if (!std::isfinite(value))
      throw BadInput(
          fmt::format("the base's loss on its pretraining data is {} in Fisher sequence {}", value, done + 1),
          "the base checkpoint is broken (diverged?); use another base checkpoint");
    loss.backward();
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor& g = params[i].second.mutable_grad();
      if (g.defined()) sums[i].add_(g.detach().to(torch::kFloat32).square());
      g = torch::Tensor();
    }
    ++done;
  }

  FisherDiagonal f;
  for (size_t i = 0; i < params.size(); ++i) f.values.emplace(params[i].first, sums[i].div_(sequences));
  f.sequences = sequences;
  f.base_weights_hash = weights_hash(model);
  return f;
}

uint64_t weights_hash(const model::LlamaImpl& model) {
  Hasher h;
  for (const auto& item : model.named_parameters()) {
    if (is_adapter(item.key())) continue;
    torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    h.field(item.key());
    h.field(static_cast<uint64_t>(t.numel()));
    h.update(t.data_ptr(), static_cast<size_t>(t.numel()) * sizeof(float));
  }
  return h.digest();
}

void write_fisher(const fs::path& file, const FisherDiagonal& fisher) {
  model::CheckpointContents c;
  c.meta["kind"] = kKind;
  c.meta["base_checkpoint"] = fisher.base_checkpoint;
  c.meta["base_weights_hash"] = hex64(fisher.base_weights_hash);
  c.meta["tokenizer_hash"] = hex64(fisher.tokenizer_hash);
  c.meta["sequences"] = std::to_string(fisher.sequences);
  c.meta["data"] = fisher.data;
  c.meta["estimator"] = kEstimator;
  c.meta["torch_version"] = model::torch_version();
  for (const auto& [name, v] : fisher.values)
    c.tensors.emplace_back(kPrefix + name, v.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  if (!file.parent_path().empty()) fs::create_directories(file.parent_path());
  model::write_checkpoint(file, c);
}

FisherDiagonal read_fisher(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec))
    throw BadInput(
        fmt::format("EWC needs a Fisher diagonal of the base, and {} does not exist", file.string()),
        fmt::format("plinth finetune estimates it on the base's pretraining training shards when "
                    "finetune.ewc.lambda > 0 and the file is missing (it writes {}), or set "
                    "finetune.ewc.lambda: 0 to fine-tune without EWC",
                    file.string()));
  model::CheckpointContents c = model::read_checkpoint(file);
  auto kind = c.meta.find("kind");
  if (kind == c.meta.end() || kind->second != kKind)
    throw BadInput(fmt::format("{} is not a Fisher file (kind '{}', expected '{}')", file.string(),
                               kind == c.meta.end() ? "" : kind->second, kKind),
                   "plinth finetune estimates the Fisher again and replaces the file");
  auto estimator = c.meta.find("estimator");
  if (estimator == c.meta.end() || estimator->second != kEstimator)
    throw BadInput(fmt::format("Fisher file {} was estimated by another rule ('{}'; this plinth uses '{}')",
                               file.string(), estimator == c.meta.end() ? "" : estimator->second, kEstimator),
                   "plinth finetune estimates it again and replaces the file");
  FisherDiagonal f;
  f.base_checkpoint = c.meta_or_throw("base_checkpoint", file);
  f.base_weights_hash = parse_hex(c.meta_or_throw("base_weights_hash", file), "base_weights_hash", file);
  f.tokenizer_hash = parse_hex(c.meta_or_throw("tokenizer_hash", file), "tokenizer_hash", file);
  f.sequences = parse_count(c.meta_or_throw("sequences", file), "sequences", file);
  f.data = c.meta_or_throw("data", file);
  const std::string prefix = kPrefix;
  for (auto& [name, t] : c.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) f.values.emplace(name.substr(prefix.size()), t);
  if (f.values.empty())
    throw BadInput(fmt::format("Fisher file {} holds no values", file.string()),
                   "plinth finetune estimates it again and replaces the file");
  return f;
}

void check_fisher_fits(const FisherDiagonal& fisher, const fs::path& file, const model::LlamaImpl& base_model,
                       uint64_t tokenizer_hash) {
  const std::string hint =
      fmt::format("it was estimated for another base ({}): plinth finetune estimates it again for this one",
                  fisher.base_checkpoint.empty() ? "unknown" : fisher.base_checkpoint);
  if (tokenizer_hash != 0 && fisher.tokenizer_hash != 0 && tokenizer_hash != fisher.tokenizer_hash)
    throw BadInput(fmt::format("Fisher file {} was made with another tokenizer (hash {}; the base has {})",
                               file.string(), hex64(fisher.tokenizer_hash), hex64(tokenizer_hash)),
                   hint);
  std::vector<std::string> diffs;
  const auto params = base_model.named_parameters();
  for (const auto& [name, v] : fisher.values) {
    const torch::Tensor* p = params.find(name);
    if (!p)
      diffs.push_back(fmt::format("{} (not in the model)", name));
    else if (p->sizes() != v.sizes())
      diffs.push_back(fmt::format("{} [{}] vs [{}] in the model", name, fmt::join(v.sizes(), ", "),
                                  fmt::join(p->sizes(), ", ")));
  }
  if (!diffs.empty())
    throw BadInput(
        fmt::format("Fisher file {} does not fit the model: {}", file.string(), fmt::join(diffs, ", ")),
        hint);
  if (fisher.base_weights_hash != 0 && fisher.base_weights_hash != weights_hash(base_model))
    throw BadInput(
        fmt::format("Fisher file {} was estimated for other weights than the base's (weights hash {}, "
                    "the base has {})",
                    file.string(), hex64(fisher.base_weights_hash), hex64(weights_hash(base_model))),
        hint);
}

fs::path fisher_path(const fs::path& run_dir) {
  return run_dir / "fisher.ckpt";
}

}  // namespace plinth::train
