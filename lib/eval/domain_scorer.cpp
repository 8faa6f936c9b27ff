#include "eval/domain_scorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "eval/rolling_windows.h"
#include "util/error.h"

namespace plinth::eval {

namespace {

// A window placed in the domain's token buffer.
struct PlacedWindow {
  uint64_t begin = 0;  // index into the buffer of the first input token
  int64_t length = 0;
  int64_t scored = 0;
};

}  // namespace

DomainScore score_domain(model::Llama& model, const data::ShardReader& shard, const std::string& name,
                         const ScoreOptions& options, const WordCounter& count_words,
                         const ScoreProgress& progress) {
  const int64_t model_context = model->config().context;
  if (options.context < 1 || options.context > model_context)
    throw BadInput(
        fmt::format("eval context {} is outside 1..{} (the model's context)", options.context, model_context),
        "set eval.context to at most the model's context, or 0 for the model's own");
  if (options.batch_size < 1) throw BadInput("eval.batch_size must be at least 1");
  if (options.eos_id < 0 || options.eos_id >= model->config().vocab_size)
    throw BadInput(fmt::format("the EOS id {} is outside the model's vocabulary of {}", options.eos_id,
                               model->config().vocab_size),
                   "documents are scored from the EOS before them: use a tokenizer with an EOS piece");
  if (shard.info().vocab_size > static_cast<uint32_t>(model->config().vocab_size))
    throw BadInput(
        fmt::format("{}: token ids up to {} do not fit the model's vocabulary of {}", shard.path().string(),
                    shard.info().vocab_size - 1, model->config().vocab_size),
        "evaluate with the shards of the tokenizer the checkpoint was trained with");

  DomainScore score;
  score.name = name;
  // Every selected document as [EOS, text tokens...], back to back.
  std::vector<int64_t> buffer;
  std::vector<PlacedWindow> windows;
  std::vector<int64_t> doc_tokens;
  std::vector<int32_t> text32;
  for (uint64_t d = 0; d < shard.info().documents; ++d) {
    if (options.max_documents && score.documents >= options.max_documents) break;
    if (options.max_tokens && score.tokens >= options.max_tokens) break;
    auto [first, last] = shard.document_range(d);
    doc_tokens.resize(last - first);
    shard.read(first, doc_tokens.size(), doc_tokens.data());
    if (!doc_tokens.empty() && doc_tokens.back() == options.eos_id) doc_tokens.pop_back();
    const uint64_t begin = buffer.size();
    buffer.push_back(options.eos_id);
    buffer.insert(buffer.end(), doc_tokens.begin(), doc_tokens.end());
    for (const auto& w : rolling_windows(doc_tokens.size(), options.context))
      windows.push_back({begin + w.input_begin, w.length, w.scored});
    ++score.documents;
    score.tokens += doc_tokens.size();
    score.bytes += shard.document_bytes(d);
    if (count_words) {
      text32.assign(doc_tokens.begin(), doc_tokens.end());
      score.words += count_words(text32);
    }
  }

  // Longest windows first, so a batch pads little; ties keep document order.
  std::vector<size_t> order(windows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return windows[a].length > windows[b].length; });

  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device device = model->parameters().front().device();
  std::vector<double> window_nll(windows.size(), 0.0);
  uint64_t done = 0;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(options.batch_size)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(options.batch_size));
    const int64_t rows = static_cast<int64_t>(end - start);
    const int64_t cols = windows[order[start]].length;  // the longest in this batch
    // Padding is any valid id; positions after a window's end are never scored.
    torch::Tensor idx = torch::full({rows, cols}, options.eos_id, torch::kInt64);   // (B, T)
    torch::Tensor targets = torch::full({rows, cols}, int64_t{-1}, torch::kInt64);  // (B, T)
    auto idx_a = idx.accessor<int64_t, 2>();
    auto tgt_a = targets.accessor<int64_t, 2>();
    for (int64_t r = 0; r < rows; ++r) {
      const PlacedWindow& w = windows[order[start + static_cast<size_t>(r)]];
      for (int64_t t = 0; t < w.length; ++t) idx_a[r][t] = buffer[w.begin + static_cast<uint64_t>(t)];
      for (int64_t t = w.length - w.scored; t < w.length; ++t)
        tgt_a[r][t] = buffer[w.begin + static_cast<uint64_t>(t) + 1];
      done += static_cast<uint64_t>(w.scored);
    }
    idx = idx.to(device);
    targets = targets.to(device);
    torch::Tensor logits = model->forward(idx);  // (B, T, V) float32
    torch::Tensor mask = targets.ge(0);          // (B, T)
    torch::Tensor picked = logits.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1);  // (B, T)
    torch::Tensor nll = torch::logsumexp(logits, -1) - picked;                                 // (B, T)
    torch::Tensor row_nll =
        nll.to(torch::kFloat64).masked_fill(mask.logical_not(), 0.0).sum(1).to(torch::kCPU);  // (B)
    auto row_a = row_nll.accessor<double, 1>();
    for (int64_t r = 0; r < rows; ++r) window_nll[order[start + static_cast<size_t>(r)]] = row_a[r];
    if (progress) progress(name, done, score.tokens);
  }
  if (was_training) model->train();
  for (double v : window_nll) score.nll += v;
  return score;
}

}  // namespace plinth::eval
