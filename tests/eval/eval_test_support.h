// Tiny models, shards and checkpoints for the eval tests.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/shard.h"
#include "model/checkpoint_file.h"
#include "model/llama.h"
#include "util/hash.h"

namespace plinth::eval::testing {

inline constexpr int kVocab = 61;  // odd, so ln V is not a round number
inline constexpr int kEos = 2;

inline model::ModelConfig tiny_config(int context = 8) {
  model::ModelConfig c;
  c.vocab_size = kVocab;
  c.dim = 16;
  c.layers = 2;
  c.heads = 2;
  c.ffn = 32;
  c.context = context;
  return c;
}

inline model::Llama tiny_model(int context = 8, uint64_t seed = 7) {
  torch::manual_seed(seed);
  model::Llama m(tiny_config(context));
  m->eval();
  return m;
}

// Every weight 0: the embeddings and the final norm give 0, so every logit is 0 and the
// next-token distribution is uniform over the vocabulary.
inline model::Llama uniform_model(int context = 8) {
  model::Llama m = tiny_model(context);
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.zero_();
  return m;
}

struct Doc {
  std::vector<int32_t> text;  // without the EOS
  uint64_t bytes;
};

// Deterministic pseudo-random text ids in [3, kVocab) (0..2 are reserved like sentencepiece's).
inline Doc make_doc(size_t tokens, uint64_t seed, uint64_t bytes = 0) {
  Doc d{{}, bytes ? bytes : tokens * 3 + 1};
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < tokens; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    d.text.push_back(static_cast<int32_t>(3 + (x >> 33) % (kVocab - 3)));
  }
  return d;
}

inline void write_shard(const std::filesystem::path& path, const std::vector<Doc>& docs,
                        uint64_t tokenizer_hash = 0x1234) {
  data::ShardWriter w(path, data::token_width_for(kVocab), kVocab, tokenizer_hash);
  for (const auto& d : docs) {
    std::vector<int32_t> ids = d.text;
    ids.push_back(kEos);  // as prepare does: every document ends with the EOS id
    w.add_document(ids.data(), ids.size(), d.bytes);
  }
  w.commit();
}

// write_shard, then the shard opened for reading.
inline data::ShardReader written_shard(const std::filesystem::path& path, const std::vector<Doc>& docs) {
  write_shard(path, docs);
  return data::ShardReader::open(path);
}

inline void write_model_checkpoint(const std::filesystem::path& path, model::Llama& m,
                                   uint64_t tokenizer_hash = 0x1234, int64_t step = 100) {
  model::CheckpointContents c;
  c.meta["model_config"] = model::model_config_json(m->config());
  c.meta["tokenizer_hash"] = hex64(tokenizer_hash);
  c.meta["step"] = std::to_string(step);
  for (const auto& p : m->named_parameters())
    c.tensors.emplace_back("model/" + p.key(), p.value().detach().to(torch::kCPU).contiguous());
  model::write_checkpoint(path, c);
}

}  // namespace plinth::eval::testing
