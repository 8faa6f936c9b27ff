#include "eval/suite_scorer.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "model/eval_mode.h"
#include "model/next_token_stats.h"

namespace plinth::eval {

namespace {

// One row of a batch as the model reads it (model::PackedLayout): a question's context once, then
// each choice's continuation after it, so the context is computed once for all its choices; or
// one request alone, as the harness reads it, when it had to be cut from the left.
struct PackedRow {
  struct Scored {
    int64_t at;      // the input position whose prediction is scored
    int64_t target;  // the token it should predict
    size_t request;  // the request whose log-likelihood it adds to
  };
  std::vector<int64_t> input, position, segment;
  std::vector<Scored> scored;  // per request in continuation order
  size_t requests = 0;         // how many requests the row scores
};

// The harness's cut: seq = context + continuation, its last max_length + 1 tokens, read as
// seq[:-1]; the continuation's tokens are the targets of the last positions.
PackedRow single_row(const ChoiceTokens& t, size_t request, int64_t max_length) {
  std::vector<int64_t> seq(t.context.begin(), t.context.end());
  seq.insert(seq.end(), t.continuation.begin(), t.continuation.end());
  const auto keep = static_cast<size_t>(max_length) + 1;
  if (seq.size() > keep) seq.erase(seq.begin(), seq.end() - static_cast<std::ptrdiff_t>(keep));
  PackedRow row;
  row.input.assign(seq.begin(), seq.end() - 1);
  row.position.resize(row.input.size());
  std::iota(row.position.begin(), row.position.end(), int64_t{0});
  row.segment.assign(row.input.size(), 0);
  const size_t scored = t.continuation.size();  // <= max_length (prepare_suite refuses longer)
  for (size_t i = row.input.size() - scored; i < row.input.size(); ++i)
    row.scored.push_back({static_cast<int64_t>(i), seq[i + 1], request});
  row.requests = 1;
  return row;
}

// A question's requests (first_request, first_request + 1, ...): one packed row when they share
// their context and none is cut, else one row each. The prefix's last position predicts every
// continuation's first token; continuation k's tokens but its last follow as segment k + 1, at
// the positions they have after the context.
void add_question(const std::vector<ChoiceTokens>& requests, size_t first_request, int64_t max_length,
                  std::vector<PackedRow>& rows) {
  const std::vector<int32_t>& context = requests.front().context;
  const bool packable =
      !context.empty() && std::all_of(requests.begin(), requests.end(), [&](const ChoiceTokens& r) {
        return r.context == context && !r.continuation.empty() &&
               r.context.size() + r.continuation.size() <= static_cast<size_t>(max_length) + 1;
      });
  if (!packable || requests.size() == 1) {
    for (size_t c = 0; c < requests.size(); ++c)
      rows.push_back(single_row(requests[c], first_request + c, max_length));
    return;
  }
  PackedRow row;
  row.requests = requests.size();
  row.input.assign(context.begin(), context.end());
  row.position.resize(context.size());
  std::iota(row.position.begin(), row.position.end(), int64_t{0});
  row.segment.assign(context.size(), 0);
  const auto last_of_context = static_cast<int64_t>(context.size()) - 1;
  for (size_t c = 0; c < requests.size(); ++c) {
    const std::vector<int32_t>& cont = requests[c].continuation;
    row.scored.push_back({last_of_context, cont.front(), first_request + c});
    for (size_t j = 0; j + 1 < cont.size(); ++j) {
      row.scored.push_back({static_cast<int64_t>(row.input.size()), cont[j + 1], first_request + c});
      row.input.push_back(cont[j]);
      row.position.push_back(static_cast<int64_t>(context.size() + j));
      row.segment.push_back(static_cast<int64_t>(c) + 1);
    }
  }
  rows.push_back(std::move(row));
}

// The result's log-likelihood tables sized to the suite's questions and choices (the tuned
// model's only with one, the unconditional ones only for acc_mutual_info), all zero.
void size_result(SuiteRequests& s, bool tuned) {
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
}

// Rows order[start, end) of `rows` as one batch: ids, positions and segments (B, T) padded to the
// first (longest) row, and the flat positions (r * T + column) the head scores, with their targets
// and requests.
struct PackedBatch {
  torch::Tensor x;  // (B, T) int64
  model::PackedLayout layout;
  std::vector<int64_t> at, target;
  std::vector<size_t> request;
};
PackedBatch pack_batch(const std::vector<PackedRow>& rows, const std::vector<size_t>& order, size_t start,
                       size_t end) {
  const auto b = static_cast<int64_t>(end - start);
  const auto t = static_cast<int64_t>(rows[order[start]].input.size());  // the longest of the batch
  PackedBatch out;
  // Padding: any valid id (the first input's) in a segment of its own (-1), after the row's
  // tokens: no real token attends to it, and its positions are never scored.
  out.x = torch::full({b, t}, rows[order[start]].input.front(), torch::kInt64);  // (B, T)
  out.layout = model::PackedLayout{torch::zeros({b, t}, torch::kInt64),
                                   torch::full({b, t}, int64_t{-1}, torch::kInt64)};
  auto xa = out.x.accessor<int64_t, 2>();
  auto pa = out.layout.positions.accessor<int64_t, 2>();
  auto sa = out.layout.segments.accessor<int64_t, 2>();
  for (int64_t r = 0; r < b; ++r) {
    const PackedRow& row = rows[order[start + static_cast<size_t>(r)]];
    for (size_t i = 0; i < row.input.size(); ++i) {
      const auto col = static_cast<int64_t>(i);
      xa[r][col] = row.input[i];
      pa[r][col] = row.position[i];
      sa[r][col] = row.segment[i];
    }
    for (const PackedRow::Scored& e : row.scored) {
      out.at.push_back(r * t + e.at);
      out.target.push_back(e.target);
      out.request.push_back(e.request);
    }
  }
  return out;
}

}  // namespace

void score_suite(model::LlamaImpl& base, model::LlamaImpl* tuned, SuiteRequests& s, int64_t max_length,
                 int64_t batch_size, bool bf16, const SuiteProgress& progress) {
  // Every (question, choice) request in one list; its log-likelihoods land back by position.
  // The unconditional requests (acc_mutual_info) follow, in the same list: their rows are short,
  // and sorting by length batches them together.
  struct Where {
    size_t question, choice;
    bool unconditional;
  };
  std::vector<PackedRow> rows;
  std::vector<Where> where;
  for (bool alone : {false, true}) {
    const auto& requests = alone ? s.unconditional : s.choices;
    for (size_t q = 0; q < requests.size(); ++q) {
      if (requests[q].empty()) continue;
      add_question(requests[q], where.size(), max_length, rows);
      for (size_t c = 0; c < requests[q].size(); ++c) where.push_back({q, c, alone});
    }
  }
  // Longest first, so a batch pads little; ties keep file order (a fixed order: the same sums
  // on every run).
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rows[a].input.size() > rows[b].input.size(); });

  size_result(s, tuned != nullptr);
  // Per request, float64 sums of its tokens' float32 NLLs in continuation order.
  std::vector<double> nll_base(where.size(), 0.0), nll_tuned(where.size(), 0.0);

  torch::NoGradGuard no_grad;
  model::EvalModeGuard base_mode(&base), tuned_mode(tuned);
  const torch::Device device = base.parameters().front().device();
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, batch_size));
  uint64_t done = 0;
  if (progress) progress(0, where.size());
  for (size_t start = 0; start < order.size(); start += batch) {
    const size_t end = std::min(order.size(), start + batch);
    const PackedBatch pb = pack_batch(rows, order, start, end);
    // Only the continuations' positions go through the head (their log-softmax over the whole
    // vocabulary in float32, as the harness's), and both models in one pass over each row.
    const model::NextTokenStats stats = model::packed_next_token_stats(
        base, tuned, pb.x.to(device), pb.layout, torch::tensor(pb.at, torch::kInt64),
        torch::tensor(pb.target, torch::kInt64), bf16);
    const float* nb = stats.nll_base.data_ptr<float>();
    const float* nt = tuned ? stats.nll_tuned.data_ptr<float>() : nullptr;
    for (size_t i = 0; i < pb.request.size(); ++i) {
      nll_base[pb.request[i]] += nb[i];
      if (nt) nll_tuned[pb.request[i]] += nt[i];
    }
    for (size_t i = start; i < end; ++i) done += rows[order[i]].requests;
    if (progress) progress(done, where.size());
  }
  for (size_t i = 0; i < where.size(); ++i) {
    const Where& w = where[i];
    auto& base_ll = w.unconditional ? s.result.base_ll_unconditional : s.result.base_ll;
    auto& tuned_ll = w.unconditional ? s.result.tuned_ll_unconditional : s.result.tuned_ll;
    base_ll[w.question][w.choice] = -nll_base[i];
    if (tuned) tuned_ll[w.question][w.choice] = -nll_tuned[i];
  }
}

}  // namespace plinth::eval
