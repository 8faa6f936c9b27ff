#include "eval/suite_scorer.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "model/eval_mode.h"
#include "model/next_token_stats.h"

namespace plinth::eval {

namespace {

// One request as the model reads it: input ids and, per input position, the id it predicts
// when that position is scored (-1 when not).
struct SuiteRow {
  std::vector<int64_t> input, target;
};

// The harness's cut: seq = context + continuation, its last max_length + 1 tokens, read as
// seq[:-1]; the continuation's tokens are the targets of the last positions.
SuiteRow suite_row(const ChoiceTokens& t, int64_t max_length) {
  std::vector<int64_t> seq(t.context.begin(), t.context.end());
  seq.insert(seq.end(), t.continuation.begin(), t.continuation.end());
  const auto keep = static_cast<size_t>(max_length) + 1;
  if (seq.size() > keep) seq.erase(seq.begin(), seq.end() - static_cast<std::ptrdiff_t>(keep));
  SuiteRow row;
  row.input.assign(seq.begin(), seq.end() - 1);
  row.target.assign(row.input.size(), -1);
  const size_t scored = t.continuation.size();  // <= max_length (prepare_suite refuses longer)
  for (size_t i = row.input.size() - scored; i < row.input.size(); ++i) row.target[i] = seq[i + 1];
  return row;
}

}  // namespace

void score_suite(model::LlamaImpl& base, model::LlamaImpl* tuned, SuiteRequests& s, int64_t max_length,
                 int64_t batch_size, bool bf16, const SuiteProgress& progress) {
  // Every (question, choice) request in one list; its log-likelihoods land back by position.
  // The unconditional requests (acc_mutual_info) follow, in the same list: they are short, and
  // sorting by length batches them together.
  struct Where {
    size_t question, choice;
    bool unconditional;
  };
  std::vector<SuiteRow> rows;
  std::vector<Where> where;
  for (bool alone : {false, true}) {
    const auto& requests = alone ? s.unconditional : s.choices;
    for (size_t q = 0; q < requests.size(); ++q)
      for (size_t c = 0; c < requests[q].size(); ++c) {
        rows.push_back(suite_row(requests[q][c], max_length));
        where.push_back({q, c, alone});
      }
  }
  // Longest first, so a batch pads little; ties keep file order (a fixed order: the same sums
  // on every run).
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rows[a].input.size() > rows[b].input.size(); });

  auto resize = [&](std::vector<std::vector<double>>& ll) {
    ll.assign(s.choices.size(), {});
    for (size_t q = 0; q < s.choices.size(); ++q) ll[q].assign(s.choices[q].size(), 0.0);
  };
  resize(s.result.base_ll);
  if (tuned) resize(s.result.tuned_ll);
  s.result.base_ll_unconditional.clear();
  s.result.tuned_ll_unconditional.clear();
  if (!s.unconditional.empty()) {
    resize(s.result.base_ll_unconditional);
    if (tuned) resize(s.result.tuned_ll_unconditional);
  }

  torch::NoGradGuard no_grad;
  model::EvalModeGuard base_mode(&base), tuned_mode(tuned);
  const torch::Device device = base.parameters().front().device();
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, batch_size));
  if (progress) progress(0, rows.size());
  for (size_t start = 0; start < order.size(); start += batch) {
    const size_t end = std::min(order.size(), start + batch);
    const auto b = static_cast<int64_t>(end - start);
    const auto t = static_cast<int64_t>(rows[order[start]].input.size());  // the longest of the batch
    // Padding: any valid id (the first input's); its positions are never scored.
    torch::Tensor x = torch::full({b, t}, rows[order[start]].input.front(), torch::kInt64);  // (B, T)
    torch::Tensor y = torch::full({b, t}, int64_t{-1}, torch::kInt64);                       // (B, T)
    auto xa = x.accessor<int64_t, 2>();
    auto ya = y.accessor<int64_t, 2>();
    for (int64_t r = 0; r < b; ++r) {
      const SuiteRow& row = rows[order[start + static_cast<size_t>(r)]];
      for (size_t i = 0; i < row.input.size(); ++i) {
        xa[r][static_cast<int64_t>(i)] = row.input[i];
        ya[r][static_cast<int64_t>(i)] = row.target[i];
      }
    }
    // Only the continuations' positions go through the head (their log-softmax over the whole
    // vocabulary in float32, as the harness's), and both models in one pass over each row.
    const model::ScoredStats scored = model::scored_next_token_stats(base, tuned, x.to(device), y, bf16);
    const std::vector<double> nll_b = model::row_sums(scored, scored.stats.nll_base, b, t);
    const std::vector<double> nll_t =
        tuned ? model::row_sums(scored, scored.stats.nll_tuned, b, t) : std::vector<double>();
    for (int64_t r = 0; r < b; ++r) {
      const Where& w = where[order[start + static_cast<size_t>(r)]];
      auto& base_ll = w.unconditional ? s.result.base_ll_unconditional : s.result.base_ll;
      auto& tuned_ll = w.unconditional ? s.result.tuned_ll_unconditional : s.result.tuned_ll;
      base_ll[w.question][w.choice] = -nll_b[static_cast<size_t>(r)];
      if (tuned) tuned_ll[w.question][w.choice] = -nll_t[static_cast<size_t>(r)];
    }
    if (progress) progress(end, rows.size());
  }
}

}  // namespace plinth::eval
