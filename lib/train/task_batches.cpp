#include "train/task_batches.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "util/error.h"
#include "util/hash.h"

namespace plinth::train {

TaskBatches::TaskBatches(std::vector<data::TokenizedExample> examples, int64_t seq_len, int64_t pad_id,
                         bool loss_on_prompt, uint64_t seed)
    : seq_len_(seq_len), pad_id_(pad_id), seed_(seed) {
  if (seq_len < 1) throw Failure(fmt::format("TaskBatches: seq_len {} must be at least 1", seq_len));
  if (pad_id < 0) throw Failure(fmt::format("TaskBatches: pad id {} must be a valid token id", pad_id));
  if (examples.empty())
    throw BadInput("no task examples to make batches from",
                   "check task.path, task.format and the split fractions");
  if (examples.size() > UINT32_MAX) throw Failure("TaskBatches: more than 2^32 examples");
  const size_t max_tokens = static_cast<size_t>(seq_len) + 1;  // x and y are each T of them
  rows_.reserve(examples.size());
  for (data::TokenizedExample& e : examples) {
    // The one rule of data::fit_example (the prompt's start goes first, the completion stays
    // whole): a validation row holds exactly the tokens test scoring reads of the same example.
    const data::TokenizedExample fit = data::fit_example(e, max_tokens);
    Row row;
    row.tokens.reserve(fit.prompt.size() + fit.completion.size());
    for (const auto* part : {&fit.prompt, &fit.completion})
      for (int32_t id : *part) row.tokens.push_back(id);
    if (row.tokens.size() < e.prompt.size() + e.completion.size()) ++truncated_;
    // Token k is the target at position k - 1; token 0 is never a target.
    row.first_scored = loss_on_prompt ? 1 : std::max<int64_t>(1, static_cast<int64_t>(fit.prompt.size()));
    e = data::TokenizedExample{};  // free as we go: a task may be large
    if (static_cast<int64_t>(row.tokens.size()) <= row.first_scored) {
      ++dropped_;  // the cut left no completion token: a row that scores nothing
      continue;
    }
    rows_.push_back(std::move(row));
  }
  if (rows_.empty())
    throw BadInput(
        fmt::format("no task example has a completion token within seq_len {} ({} of {} cut to fit "
                    "and left with nothing to score)",
                    seq_len, dropped_, examples.size()),
        "raise task.seq_len (or the model's context), or shorten the prompts");
  double scored = 0;
  for (const Row& row : rows_)
    scored += static_cast<double>(row.tokens.size()) - static_cast<double>(row.first_scored);
  mean_scored_ = scored / static_cast<double>(rows_.size());
}

size_t TaskBatches::example_of(uint64_t i) {
  const uint64_t n = rows_.size();
  const uint64_t epoch = i / n;
  if (epoch != order_epoch_) {
    // Fisher-Yates with mt19937_64 (its output is fixed by the standard, unlike
    // std::shuffle's use of it), seeded by (seed, epoch) alone.
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0u);
    Hasher h(seed_);
    h.field(epoch);
    std::mt19937_64 gen(h.digest());
    for (uint64_t k = n - 1; k > 0; --k) std::swap(order_[k], order_[gen() % (k + 1)]);
    order_epoch_ = epoch;
  }
  return order_[i % n];
}

void TaskBatches::next(int64_t rows, torch::Tensor& x, torch::Tensor& y) {
  const int64_t T = seq_len_;
  x = torch::full({rows, T}, pad_id_, torch::kInt64);  // (B, T)
  y = torch::full({rows, T}, -1, torch::kInt64);       // (B, T)
  positions_ = torch::zeros({rows, T}, torch::kBool);  // (B, T)
  note_source("task");
  int64_t* xp = x.data_ptr<int64_t>();
  int64_t* yp = y.data_ptr<int64_t>();
  bool* pp = positions_.data_ptr<bool>();
  for (int64_t b = 0; b < rows; ++b) {
    const Row& row = rows_[example_of(drawn_++)];
    const int64_t length = static_cast<int64_t>(row.tokens.size());  // <= T + 1
    int64_t* xr = xp + b * T;
    int64_t* yr = yp + b * T;
    for (int64_t t = 0; t + 1 < length; ++t) {
      xr[t] = row.tokens[t];
      pp[b * T + t] = true;
      if (t + 1 >= row.first_scored) yr[t] = row.tokens[t + 1];
    }
  }
}

ReplayBatches::ReplayBatches(std::unique_ptr<TaskBatches> task, std::unique_ptr<BatchSource> replay,
                             double fraction)
    : task_(std::move(task)), replay_(std::move(replay)), fraction_(fraction) {
  if (!task_ || !replay_) throw Failure("ReplayBatches: needs a task source and a replay source");
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw Failure(fmt::format("ReplayBatches: replay fraction {} is outside [0, 1)", fraction));
}

int64_t ReplayBatches::replay_targets(int64_t task_targets) const {
  return std::llround(fraction_ / (1.0 - fraction_) * static_cast<double>(task_targets));
}

int64_t ReplayBatches::replay_rows(int64_t rows) const {
  if (fraction_ <= 0.0 || rows <= 1) return 0;
  // R rows of T targets hold what (rows - R) average task rows need, a targets each:
  // R * T >= a * (rows - R)  <=>  R >= a * rows / (T + a); 25% headroom for batches whose task
  // rows score more than the average.
  const double a = fraction_ / (1.0 - fraction_) * task_->mean_scored_targets();
  const double T = static_cast<double>(task_->seq_len());
  const auto r = static_cast<int64_t>(std::ceil(1.25 * a * static_cast<double>(rows) / (T + a)));
  return std::clamp<int64_t>(r, 1, rows - 1);
}

void ReplayBatches::next(int64_t rows, torch::Tensor& x, torch::Tensor& y) {
  const int64_t replayed = replay_rows(rows);
  torch::Tensor xt, yt;
  task_->next(rows - replayed, xt, yt);  // (B - R, T)
  adopt_sources(*task_);
  last_replayed_ = 0;
  if (replayed == 0) {
    task_positions_ = task_->last_task_positions();
    replay_positions_ = torch::zeros_like(task_positions_);
    x = std::move(xt);
    y = std::move(yt);
    return;
  }
  torch::Tensor xr, yr;
  replay_->next(replayed, xr, yr);  // (R, T)
  adopt_sources(*replay_);
  if (xr.size(1) != xt.size(1))
    throw Failure(
        fmt::format("ReplayBatches: task rows have {} tokens but replay rows {}", xt.size(1), xr.size(1)));
  const int64_t T = xr.size(1);
  const int64_t task_targets = (yt >= 0).sum().item<int64_t>();
  const int64_t wanted = std::min(replay_targets(task_targets), replayed * T);
  // Row r keeps its last `keep` targets: wanted / R each, one more for the first wanted % R rows.
  yr = yr.contiguous();
  int64_t* yp = yr.data_ptr<int64_t>();
  for (int64_t r = 0; r < replayed; ++r) {
    const int64_t keep = wanted / replayed + (r < wanted % replayed ? 1 : 0);
    for (int64_t t = 0; t < T - keep; ++t) yp[r * T + t] = -1;
  }
  last_replayed_ = (yr >= 0).sum().item<int64_t>();  // == wanted for pretraining windows
  x = torch::cat({xt, xr}, 0);                       // (B, T)
  y = torch::cat({yt, yr}, 0);                       // (B, T)
  const torch::Tensor task_rows = task_->last_task_positions(),
                      none = torch::zeros({replayed, T}, torch::kBool);
  task_positions_ = torch::cat({task_rows, none}, 0);  // (B, T)
  replay_positions_ = torch::cat({torch::zeros_like(task_rows), torch::ones({replayed, T}, torch::kBool)}, 0);
}

uint64_t ReplayBatches::cursor() const {
  const uint64_t task = task_->cursor(), replay = replay_->cursor();
  if (task > UINT32_MAX || replay > UINT32_MAX)
    throw Failure(fmt::format("ReplayBatches: cursors {} (task) and {} (replay) do not fit in 32 bits each",
                              task, replay));
  return task << 32 | replay;
}

void ReplayBatches::restore(uint64_t cursor) {
  task_->restore(cursor >> 32);
  replay_->restore(cursor & UINT32_MAX);
}

}  // namespace plinth::train
