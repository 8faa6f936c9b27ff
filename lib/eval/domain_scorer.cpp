#include "eval/domain_scorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "eval/bootstrap.h"
#include "eval/document_sample.h"
#include "model/autocast_guard.h"
#include "model/eval_mode.h"
#include "model/next_token_stats.h"
#include "util/error.h"

namespace plinth::eval {

namespace {

// A window placed in a chunk's token buffer.
struct PlacedWindow {
  size_t document = 0;  // index into the chunk's documents
  uint64_t begin = 0;   // index into the buffer of the first input token
  int64_t length = 0;
  int64_t scored = 0;
};

// A sampled document and the windows of it that are scored.
struct PlannedDocument {
  uint64_t index = 0;
  std::vector<RollingWindow> windows;
  uint64_t tokens = 0;  // scored tokens
};

void check_options(model::LlamaImpl& m, const data::ShardReader& shard, const ScoreOptions& options) {
  const int64_t model_context = m.config().context;
  if (options.context < 1 || options.context > model_context)
    throw BadInput(
        fmt::format("eval context {} is outside 1..{} (the model's context)", options.context, model_context),
        "set eval.context to at most the model's context, or 0 for the model's own");
  if (options.batch_size < 1) throw BadInput("eval.batch_size must be at least 1");
  if (options.eos_id < 0 || options.eos_id >= m.config().vocab_size)
    throw BadInput(fmt::format("the EOS id {} is outside the model's vocabulary of {}", options.eos_id,
                               m.config().vocab_size),
                   "documents are scored from the EOS before them: use a tokenizer with an EOS piece");
  if (options.document_start_id >= m.config().vocab_size)
    throw BadInput(fmt::format("the document start id {} is outside the model's vocabulary of {}",
                               options.document_start_id, m.config().vocab_size),
                   "evaluate with the tokenizer the checkpoint was trained with");
  if (shard.info().vocab_size > static_cast<uint32_t>(m.config().vocab_size))
    throw BadInput(fmt::format("{}: token ids up to {} do not fit the model's vocabulary of {}",
                               shard.path().string(), shard.info().vocab_size - 1, m.config().vocab_size),
                   "evaluate with the shards of the tokenizer the checkpoint was trained with");
}

int64_t document_start(const ScoreOptions& o) {
  return o.document_start_id >= 0 ? o.document_start_id : o.eos_id;
}

// Where document d's text is in the shard: its range without the trailing EOS (the next
// document's context, not a scored token) and without a stored start token.
std::pair<uint64_t, uint64_t> text_range(const data::ShardReader& shard, uint64_t d, const ScoreOptions& o) {
  auto [first, last] = shard.document_range(d);
  int64_t token = 0;
  if (last > first) {
    shard.read(last - 1, 1, &token);
    if (token == o.eos_id) --last;
  }
  const int64_t start = document_start(o);
  if (start != o.eos_id && last > first) {
    shard.read(first, 1, &token);
    if (token == start) ++first;
  }
  return {first, last};
}

// The sample: documents in sample order, their windows, until the ceiling.
std::vector<PlannedDocument> plan(const data::ShardReader& shard, const std::string& name,
                                  const ScoreOptions& o) {
  const uint64_t cap =
      effective_document_cap(o.max_document_tokens, o.max_tokens, o.min_documents, o.context);
  std::vector<PlannedDocument> planned;
  uint64_t tokens = 0;
  for (uint64_t d : sample_order(shard.info().documents, o.seed, name)) {
    if (o.max_documents && planned.size() >= o.max_documents) break;
    if (o.max_tokens && tokens >= o.max_tokens) break;
    auto [first, last] = text_range(shard, d, o);
    const uint64_t n = last - first;
    PlannedDocument p;
    p.index = d;
    p.windows = sampled_windows(n, o.context, cap, o.seed, name, d);
    for (const auto& w : p.windows) p.tokens += static_cast<uint64_t>(w.scored);
    tokens += p.tokens;
    planned.push_back(std::move(p));
  }
  return planned;
}

// Per-window sums of one batch, written into `out` at the windows' places.
struct WindowSums {
  std::vector<double> base_nll, tuned_nll, kl;
  std::vector<uint64_t> agree;
};

void score_batch(model::LlamaImpl& base, model::LlamaImpl* tuned, const std::vector<int64_t>& buffer,
                 const std::vector<PlacedWindow>& windows, const std::vector<size_t>& order, size_t start,
                 size_t end, const ScoreOptions& o, const torch::Device& device, WindowSums& out) {
  const auto rows = static_cast<int64_t>(end - start);
  const int64_t cols = windows[order[start]].length;  // the longest in this batch
  // Padding is any valid id; positions after a window's end are never scored.
  torch::Tensor idx = torch::full({rows, cols}, o.eos_id, torch::kInt64);         // (B, T)
  torch::Tensor targets = torch::full({rows, cols}, int64_t{-1}, torch::kInt64);  // (B, T)
  auto idx_a = idx.accessor<int64_t, 2>();
  auto tgt_a = targets.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    const PlacedWindow& w = windows[order[start + static_cast<size_t>(r)]];
    for (int64_t t = 0; t < w.length; ++t) idx_a[r][t] = buffer[w.begin + static_cast<uint64_t>(t)];
    for (int64_t t = w.length - w.scored; t < w.length; ++t)
      tgt_a[r][t] = buffer[w.begin + static_cast<uint64_t>(t) + 1];
  }
  const model::ScoredStats scored =
      model::scored_next_token_stats(base, tuned, idx.to(device), targets, o.bf16);
  const model::NextTokenStats& stats = scored.stats;
  // Per window, float64 sums of its positions in order: the same whatever the batch holds.
  const int64_t* at = scored.positions.data_ptr<int64_t>();
  const float* nb = stats.nll_base.data_ptr<float>();
  const float* nt = tuned ? stats.nll_tuned.data_ptr<float>() : nullptr;
  const float* kl = tuned ? stats.kl.data_ptr<float>() : nullptr;
  const uint8_t* ag = tuned ? stats.agree.data_ptr<uint8_t>() : nullptr;
  for (int64_t i = 0, n = scored.positions.size(0); i < n; ++i) {
    const size_t w = order[start + static_cast<size_t>(at[i] / cols)];
    out.base_nll[w] += nb[i];
    if (tuned) {
      out.tuned_nll[w] += nt[i];
      out.kl[w] += kl[i];
      out.agree[w] += ag[i];
    }
  }
}

// Appends planned document p to `buffer` as its windows read it, [start, t0, ...] (start: the EOS,
// or the stored BOS), and its text alone to `text` (replaced); returns where it begins in buffer.
uint64_t append_document(const data::ShardReader& shard, const PlannedDocument& p, const ScoreOptions& o,
                         std::vector<int64_t>& buffer, std::vector<int64_t>& text) {
  auto [first, last] = text_range(shard, p.index, o);
  text.resize(last - first);
  shard.read(first, text.size(), text.data());
  const uint64_t at = buffer.size();
  buffer.push_back(document_start(o));
  buffer.insert(buffer.end(), text.begin(), text.end());
  return at;
}

// Scores planned documents [begin, end) and appends them to `docs`.
void score_chunk(model::LlamaImpl& base, model::LlamaImpl* tuned, const data::ShardReader& shard,
                 const std::vector<PlannedDocument>& planned, size_t begin, size_t end, const ScoreOptions& o,
                 const TextMeasure& measure, const torch::Device& device, DocumentScores& docs) {
  // Each document as the windows read it, back to back (append_document), and the windows placed in it.
  std::vector<int64_t> buffer, text;
  std::vector<PlacedWindow> windows;
  std::vector<int32_t> scored_text;
  const size_t first_doc = docs.size();
  for (size_t i = begin; i < end; ++i) {
    const PlannedDocument& p = planned[i];
    const uint64_t at = append_document(shard, p, o, buffer, text);
    for (const auto& w : p.windows) windows.push_back({i - begin, at + w.input_begin, w.length, w.scored});
    // The scored tokens t[from, to): in s = [start, t...] coordinates a window predicts
    // s[input_begin + length - scored + 1 ...] = t[input_begin + length - scored ...].
    const uint64_t from =
        p.windows.empty() ? 0
                          : p.windows.front().input_begin +
                                static_cast<uint64_t>(p.windows.front().length - p.windows.front().scored);
    const uint64_t to = from + p.tokens;
    docs.index.push_back(p.index);
    docs.first_token.push_back(from);
    docs.tokens.push_back(p.tokens);
    const bool whole = from == 0 && to == text.size();
    TextSize size;
    if (measure || !whole)
      scored_text.assign(text.begin() + static_cast<std::ptrdiff_t>(from),
                         text.begin() + static_cast<std::ptrdiff_t>(to));
    if (measure) size = measure(scored_text);
    // A whole document's bytes are the shard's own count of its source text; a span's are
    // measured in its decoded text (or, with nothing to decode, its share of the document's).
    if (whole)
      size.bytes = shard.document_bytes(p.index);
    else if (!measure)
      size.bytes = text.empty() ? 0 : shard.document_bytes(p.index) * p.tokens / text.size();
    docs.bytes.push_back(size.bytes);
    docs.words.push_back(size.words);
  }

  // Longest windows first, so a batch pads little; ties keep document order.
  std::vector<size_t> order(windows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return windows[a].length > windows[b].length; });
  WindowSums sums;
  sums.base_nll.assign(windows.size(), 0.0);
  if (tuned) {
    sums.tuned_nll.assign(windows.size(), 0.0);
    sums.kl.assign(windows.size(), 0.0);
    sums.agree.assign(windows.size(), 0);
  }
  const auto batch = static_cast<size_t>(o.batch_size);
  for (size_t start = 0; start < order.size(); start += batch)
    score_batch(base, tuned, buffer, windows, order, start, std::min(order.size(), start + batch), o, device,
                sums);

  // Per document, its windows' sums in window order.
  const size_t n = end - begin;
  docs.base_nll.resize(first_doc + n, 0.0);
  if (tuned) {
    docs.tuned_nll.resize(first_doc + n, 0.0);
    docs.kl.resize(first_doc + n, 0.0);
    docs.agree.resize(first_doc + n, 0);
  }
  for (size_t w = 0; w < windows.size(); ++w) {
    const size_t d = first_doc + windows[w].document;
    docs.base_nll[d] += sums.base_nll[w];
    if (tuned) {
      docs.tuned_nll[d] += sums.tuned_nll[w];
      docs.kl[d] += sums.kl[w];
      docs.agree[d] += sums.agree[w];
    }
  }
}

}  // namespace

double forgetting_half_width(const DocumentScores& docs, double confidence, int resamples, uint64_t seed) {
  if (!docs.paired || docs.size() == 0) return std::numeric_limits<double>::quiet_NaN();
  Resamples r(docs.size(), resamples, seed);
  return percentile_interval(r.change_pct(docs.tuned_nll, docs.base_nll), confidence).half_width();
}

DocumentScores score_documents(model::LlamaImpl& base, model::LlamaImpl* tuned,
                               const data::ShardReader& shard, const std::string& name,
                               const ScoreOptions& options, const TextMeasure& measure,
                               const ScoreProgress& progress) {
  check_options(base, shard, options);
  if (tuned) {
    check_options(*tuned, shard, options);
    if (tuned->config().vocab_size != base.config().vocab_size)
      throw BadInput(fmt::format("the tuned model's vocabulary ({}) differs from the base's ({})",
                                 tuned->config().vocab_size, base.config().vocab_size),
                     "compare a fine-tune with the base it was tuned from");
  }
  const std::vector<PlannedDocument> planned = plan(shard, name, options);
  uint64_t planned_tokens = 0;
  for (const auto& p : planned) planned_tokens += p.tokens;

  torch::NoGradGuard no_grad;
  model::EvalModeGuard base_mode(&base), tuned_mode(tuned);
  const torch::Device device = base.parameters().front().device();
  DocumentScores docs;
  docs.paired = tuned != nullptr;
  // Chunks of about four batches of full windows: the stopping rule is checked between chunks,
  // whose boundaries depend only on the sample, never on the scores.
  const uint64_t chunk_tokens = static_cast<uint64_t>(options.batch_size * options.context) * 4;
  const uint64_t stop_seed = bootstrap_seed(options.seed, "domain:" + name);
  uint64_t done = 0;
  size_t next = 0;
  if (progress && planned_tokens > 0) progress(name, 0, planned_tokens);  // the line's clock starts here
  while (next < planned.size()) {
    size_t end = next;
    uint64_t chunk = 0;
    while (end < planned.size() && (end == next || chunk < chunk_tokens)) chunk += planned[end++].tokens;
    score_chunk(base, tuned, shard, planned, next, end, options, measure, device, docs);
    next = end;
    done += chunk;
    if (progress) progress(name, done, planned_tokens);
    if (tuned && options.target_ci > 0 && docs.size() >= options.min_documents &&
        forgetting_half_width(docs, options.confidence, options.resamples, stop_seed) <=
            100.0 * options.target_ci)
      break;
  }
  if (progress && done < planned_tokens) progress(name, done, done);  // stopped early: the line ends here
  return docs;
}

std::vector<WindowTokens> planned_window_tokens(const data::ShardReader& shard, const std::string& name,
                                                const ScoreOptions& options) {
  std::vector<WindowTokens> out;
  std::vector<int64_t> document, text;  // as score_chunk lays them out
  for (const PlannedDocument& p : plan(shard, name, options)) {
    document.clear();
    append_document(shard, p, options, document, text);
    for (const auto& w : p.windows) {
      const auto begin = document.begin() + static_cast<std::ptrdiff_t>(w.input_begin);
      out.push_back({std::vector<int64_t>(begin, begin + w.length + 1), w.scored});
    }
  }
  return out;
}

DomainScore domain_score(const std::string& name, DocumentScores docs, const std::vector<double>& nll) {
  DomainScore score;
  score.name = name;
  score.documents = docs.size();
  score.tokens = docs.total_tokens();
  score.bytes = docs.total_bytes();
  score.words = docs.total_words();
  for (double v : nll) score.nll += v;
  score.docs = std::move(docs);
  return score;
}

DomainScore score_domain(model::Llama& model, const data::ShardReader& shard, const std::string& name,
                         const ScoreOptions& options, const TextMeasure& measure,
                         const ScoreProgress& progress) {
  DocumentScores docs = score_documents(*model, nullptr, shard, name, options, measure, progress);
  const std::vector<double> nll = docs.base_nll;
  return domain_score(name, std::move(docs), nll);
}

}  // namespace plinth::eval
