// Task metrics on a tiny random model: completion loss equals a direct computation, exact match
// is 1 for the model's own greedy answers and 0 for others.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "eval/task_metrics.h"
#include "eval_test_support.h"
#include "model/generation.h"

namespace plinth::eval {
namespace {

using namespace testing;
using Catch::Matchers::Contains;

constexpr int kContext = 16;

// Mean NLL of the completion tokens, one example at a time, straight from forward().
double direct_loss(model::Llama& m, const std::vector<TaskItem>& items) {
  torch::NoGradGuard no_grad;
  double nll = 0;
  size_t count = 0;
  for (const auto& it : items) {
    size_t keep = std::min(it.prompt.size(), size_t(kContext) - it.completion.size());
    std::vector<int64_t> seq(it.prompt.end() - long(keep), it.prompt.end());
    seq.insert(seq.end(), it.completion.begin(), it.completion.end());
    auto input = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end() - 1)).unsqueeze(0);  // (1, T)
    auto logp = m->forward(input).log_softmax(-1)[0];                                           // (T, V)
    for (size_t t = keep - 1; t + 1 < seq.size(); ++t) nll -= logp[long(t)][seq[t + 1]].item<double>();
    count += it.completion.size();
  }
  return nll / double(count);
}

std::vector<int32_t> greedy(model::Llama& m, const std::vector<int32_t>& prompt, int n) {
  model::GenerateOptions o;
  o.temperature = 0;
  o.max_new_tokens = n;
  auto out = model::generate(m, std::vector<int64_t>(prompt.begin(), prompt.end()), o);
  return std::vector<int32_t>(out.begin(), out.end());
}

std::vector<std::vector<int32_t>> prompts() {
  return {{5, 9, 13}, {7, 7, 30, 41, 8}, {50}, {3, 4, 5, 6, 7, 8, 9, 10}};
}

}  // namespace

TEST_CASE("score_task: loss is the mean NLL of completion tokens", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  std::vector<TaskItem> items;
  int i = 0;
  for (const auto& p : prompts()) items.push_back({p, {int32_t(10 + i), int32_t(20 + i++), kEos}});
  items.push_back({{11, 12}, {40, 41, 42, 43, 44, kEos}});  // a longer completion than the others
  const double expected = direct_loss(m, items);
  for (int64_t rows : {1, 2, 64}) {  // padded batches give the same numbers
    TaskScore s = score_task(*m, items, kEos, 0, torch::kCPU, rows);
    CHECK(s.examples == items.size());
    CHECK(s.completion_tokens == 4 * 3 + 6);
    CHECK(std::isfinite(s.loss));
    CHECK(s.loss == Approx(expected).epsilon(1e-5));
    CHECK(s.nll == Approx(expected * double(s.completion_tokens)).epsilon(1e-5));
    CHECK(s.generated.size() == items.size());
    CHECK(s.correct.size() == items.size());
  }
}

TEST_CASE("score_task: a prompt longer than the context is cut on the left", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  std::vector<int32_t> long_prompt;
  for (int t = 0; t < 30; ++t) long_prompt.push_back(3 + (t * 7) % 50);
  std::vector<TaskItem> items = {{long_prompt, {12, 13, kEos}}};
  TaskScore s = score_task(*m, items, kEos, 0, torch::kCPU, 4);
  CHECK(s.loss == Approx(direct_loss(m, items)).epsilon(1e-5));
}

TEST_CASE("score_task: exact match of greedy answers", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  // The model's own greedy answers (2 tokens) as references, with an end id it never produced.
  std::vector<std::vector<int32_t>> answers;
  std::vector<bool> produced(kVocab, false);
  for (const auto& p : prompts()) {
    answers.push_back(greedy(m, p, 2));
    for (int32_t id : answers.back()) produced[size_t(id)] = true;
  }
  int end_id = 0;
  while (produced[size_t(end_id)]) ++end_id;

  std::vector<TaskItem> right, wrong;
  for (size_t i = 0; i < answers.size(); ++i) {
    std::vector<int32_t> c = answers[i];
    c.push_back(end_id);
    right.push_back({prompts()[i], c});
    c[0] = (c[0] + 1) % kVocab;  // another first token: never the greedy answer
    if (c[0] == end_id) c[0] = (c[0] + 1) % kVocab;
    wrong.push_back({prompts()[i], c});
  }
  // max_new_tokens 2: the answer's length, so generation stops right after it.
  TaskScore s = score_task(*m, right, end_id, 2, torch::kCPU, 8);
  CHECK(s.exact_match == 1.0);
  for (size_t i = 0; i < answers.size(); ++i) CHECK(s.generated[i] == answers[i]);
  TaskScore w = score_task(*m, wrong, end_id, 2, torch::kCPU, 8);
  CHECK(w.exact_match == 0.0);
  for (bool ok : w.correct) CHECK_FALSE(ok);
  CHECK(w.loss > s.loss);  // the model's own answers are more likely, token by token

  // Without a length limit an answer counts only when the model then says the end marker itself:
  // make the end id the model's third greedy token. (A tied tiny model mostly repeats its last
  // token; an untied one says more varied things.)
  torch::manual_seed(11);
  model::ModelConfig untied = tiny_config(kContext);
  untied.tie_embeddings = false;
  m = model::Llama(untied);
  m->eval();
  bool found = false;
  for (int32_t first = 3; first < kVocab && !found; ++first) {
    const std::vector<int32_t> p = {first, 4};
    std::vector<int32_t> g = greedy(m, p, 3);
    if (g.size() < 3 || g[0] == g[2] || g[1] == g[2]) continue;
    found = true;
    TaskScore stop = score_task(*m, {{p, {g[0], g[1], g[2]}}}, g[2], 0, torch::kCPU, 1);
    CHECK(stop.exact_match == 1.0);
    CHECK(stop.generated[0] == std::vector<int32_t>{g[0], g[1]});
    // With another end id the model runs on past the answer: no match.
    int other = (g[2] + 1) % kVocab;
    while (other == g[0] || other == g[1]) other = (other + 1) % kVocab;
    TaskScore runs_on = score_task(*m, {{p, {g[0], g[1], other}}}, other, 0, torch::kCPU, 1);
    CHECK(runs_on.exact_match == 0.0);
    CHECK(runs_on.generated[0].size() == 3);
  }
  CHECK(found);
}

TEST_CASE("score_task leaves the model in its mode", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  m->train();
  score_task(*m, {{{5, 6}, {7, kEos}}}, kEos, 0, torch::kCPU, 1);
  CHECK(m->is_training());
}

TEST_CASE("score_task: bad examples", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  CHECK_THROWS_AS(score_task(*m, {}, kEos, 0, torch::kCPU, 1), BadInput);
  CHECK_THROWS_WITH(score_task(*m, {}, kEos, 0, torch::kCPU, 1), Contains("no examples"));
  std::vector<int32_t> too_long(kContext, 5);
  std::vector<TaskItem> bad = {
      {{5}, {6, kEos}}, {{}, {6, kEos}}, {{5}, {}}, {{5}, too_long}, {{5, 99}, {6, kEos}}};
  CHECK_THROWS_AS(score_task(*m, bad, kEos, 0, torch::kCPU, 1), BadInput);
  CHECK_THROWS_WITH(
      score_task(*m, bad, kEos, 0, torch::kCPU, 1),
      Contains("task example 1: the prompt has no tokens") &&
          Contains("task example 2: the completion has no tokens") &&
          Contains("task example 3: the completion has 16 tokens, the model's context only 16") &&
          Contains("task example 4: token id 99 is outside the model's vocabulary [0, 61)"));
}

// The task figures as a report derives them (forgetting_report.h) from the per-example columns.
static void derive_task_only(TaskResult& t) {
  ForgettingReport r;
  r.task = t;
  derive(r);
  t = *r.task;
}

TEST_CASE("make_task_result: losses, exact match and decoded samples", "[eval][task]") {
  std::vector<TaskItem> items = {{{5, 6}, {7, 8, kEos}}, {{9}, {10, kEos}}, {{11}, {12, kEos}}};
  TaskScore base, tuned;
  base.example_nll = {6.0, 6.0, 6.0}, tuned.example_nll = {1.0, 2.0, 3.0};  // losses 3 and 1 per token
  base.example_tokens = tuned.example_tokens = {3, 2, 1};
  base.generated = {{1}, {1}, {1}};
  base.correct = {false, false, false};
  tuned.generated = {{7, 8}, {10}, {13}};
  tuned.correct = {true, true, false};
  auto decode = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
  };
  TaskResult r = make_task_result("arith", items, {4, 0, 9}, kEos, base, tuned, decode, 2);
  derive_task_only(r);
  CHECK(r.name == "arith");
  CHECK(r.examples == 3);
  CHECK(r.index == std::vector<uint64_t>{4, 0, 9});
  CHECK(r.base_loss == Approx(3.0));
  CHECK(r.tuned_loss == Approx(1.0));
  CHECK(r.tuned_exact_match == Approx(2.0 / 3));
  CHECK(r.gain_ci.known());
  CHECK(r.gain_ci.lo <= r.gain_pct());
  CHECK(r.gain_ci.hi >= r.gain_pct());
  CHECK(r.gain_pct() == Approx(100.0 * 2 / 3));
  CHECK(r.exact_match_gain_points() == Approx(100.0 * 2 / 3));
  REQUIRE(r.samples.size() == 2);
  CHECK(r.samples[0].prompt == "5 6");
  CHECK(r.samples[0].reference == "7 8");  // without the end marker
  CHECK(r.samples[0].base_output == "1");
  CHECK(r.samples[0].tuned_output == "7 8");
  CHECK(r.samples[0].tuned_correct);
  CHECK_FALSE(r.samples[0].base_correct);
}

}  // namespace plinth::eval
