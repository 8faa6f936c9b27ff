#include "train_fixture.h"

#include <torch/torch.h>

#include "util/log.h"

namespace plinth::test {

namespace {

// Documents a tiny model learns something of within a few steps: "alpha" counts upward through
// 10 tokens by a per-document stride, "beta" repeats a per-document motif of five tokens drawn
// from 20 others. The untrained loss is about ln(64); the unigram alone gives ln(10) / ln(20).
void write_domain(const std::filesystem::path& file, int kind, int documents, uint32_t seed) {
  data::ShardWriter w(file, 2, TinyRun::kVocab, TinyRun::kTokenizerHash);
  uint32_t state = seed;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int d = 0; d < documents; ++d) {
    std::vector<int32_t> ids;
    int length = 40 + static_cast<int>(next() % 40);
    if (kind == 0) {
      int start = static_cast<int>(next() % 50), stride = 1 + static_cast<int>(next() % 3);
      for (int i = 0; i < length; ++i) ids.push_back(2 + (start + i * stride) % 10);
    } else {
      int motif[5];
      for (int& m : motif) m = 12 + static_cast<int>(next() % 20);
      for (int i = 0; i < length; ++i) ids.push_back(motif[i % 5]);
    }
    ids.push_back(1);  // EOS
    w.add_document(ids.data(), ids.size(), ids.size());
  }
  w.commit();
}

}  // namespace

TinyRun::TinyRun() {
  log::verbosity() = 0;
  const char* names[] = {"alpha", "beta"};
  for (int k = 0; k < 2; ++k) {
    auto train_file = dir / (std::string(names[k]) + "/train.bin");
    auto val_file = dir / (std::string(names[k]) + "/val.bin");
    std::filesystem::create_directories(train_file.parent_path());
    write_domain(train_file, k, 60, 11u + k);
    write_domain(val_file, k, 8, 101u + k);
    shards.push_back(data::ShardReader::open(train_file, kTokenizerHash));
    train_domains.push_back({names[k], 1.0, &shards.back()});
    shards.push_back(data::ShardReader::open(val_file, kTokenizerHash));
    val_domains.push_back({names[k], &shards.back()});
  }
  config.vocab_size = kVocab;
  config.dim = 32;
  config.layers = 2;
  config.heads = 4;
  config.kv_heads = 2;
  config.ffn = 64;
  config.context = 16;

  spec.steps = 8;
  spec.batch_size = 4;
  spec.lr = 1e-2;
  spec.min_lr = 1e-3;
  spec.warmup_steps = 2;
  spec.weight_decay = 0.1;
  spec.eval_every = 4;
  spec.eval_tokens = 128;
  spec.log_every = 1;
  spec.checkpoint_every = 4;
  spec.keep_last = 0;
  spec.threads = 2;
  spec.device = "cpu";
  spec.seed = 7;
  spec.run_dir = (dir / "run").string();
}

std::unique_ptr<train::Trainer> TinyRun::trainer(model::Llama* model_out, uint64_t tokenizer_hash) const {
  torch::manual_seed(static_cast<uint64_t>(spec.seed));
  model::Llama model(config);
  if (model_out) *model_out = model;
  data::DomainMixtureSampler sampler(train_domains, config.context + 1, static_cast<uint64_t>(spec.seed),
                                     spec.temperature);
  train::TrainerOptions options;
  options.spec = spec;
  options.tokenizer_hash = tokenizer_hash;
  options.recipe_yaml = "name: tiny\n";
  options.label = "test";
  options.after_step = after_step;
  options.evaluate =
      train::make_val_loss_evaluator(val_domains, {spec.eval_tokens, spec.batch_size, spec.autocast_bf16()});
  if (prepare) prepare(model, options);
  return std::make_unique<train::Trainer>(model, std::make_unique<train::MixtureBatches>(std::move(sampler)),
                                          std::move(options));
}

}  // namespace plinth::test
