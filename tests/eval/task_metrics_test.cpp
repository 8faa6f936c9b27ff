// Task metrics on a tiny random model: completion loss equals a direct computation, exact match
// is 1 for the model's own greedy answers and 0 for others.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "data/task_data.h"
#include "eval/task_metrics.h"
#include "eval_test_support.h"
#include "model/generation.h"
#include "model/token_nll.h"
#include "train/task_batches.h"

namespace plinth::eval {
namespace {

using namespace testing;
using Catch::Matchers::Contains;

constexpr int kContext = 16;

// Token ids as text, one word per id: exact match on ids, for tests that need nothing more.
std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

// Mean NLL of the completion tokens, one example at a time, straight from forward(), on the
// tokens data::fit_example keeps at context + 1.
double direct_loss(model::Llama& m, const std::vector<TaskItem>& items) {
  torch::NoGradGuard no_grad;
  double nll = 0;
  size_t count = 0;
  for (const auto& it : items) {
    data::TokenizedExample fit = data::fit_example({it.prompt, it.completion}, kContext + 1);
    REQUIRE(fit.completion == it.completion);
    const size_t keep = fit.prompt.size();
    std::vector<int64_t> seq(fit.prompt.begin(), fit.prompt.end());
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
    TaskScore s = score_task(*m, items, kEos, 4, ids_text, torch::kCPU, rows);
    CHECK(s.examples == items.size());
    CHECK(s.completion_tokens == 4 * 3 + 6);
    CHECK(std::isfinite(s.loss));
    CHECK(s.loss == Approx(expected).epsilon(1e-5));
    CHECK(s.nll == Approx(expected * double(s.completion_tokens)).epsilon(1e-5));
    CHECK(s.generated.size() == items.size());
    CHECK(s.correct.size() == items.size());
  }
}

TEST_CASE("score_task: a prompt longer than the context loses its start, not its first token",
          "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  std::vector<int32_t> long_prompt = {kEos};
  for (int t = 0; t < 30; ++t) long_prompt.push_back(3 + (t * 7) % 50);
  std::vector<TaskItem> items = {{long_prompt, {12, 13, kEos}}};
  TaskScore s = score_task(*m, items, kEos, 4, ids_text, torch::kCPU, 4);
  CHECK(s.loss == Approx(direct_loss(m, items)).epsilon(1e-5));
  CHECK(s.example_tokens[0] == 3);
}

TEST_CASE("validation loss and test scoring cut an over-long example to the same tokens", "[eval][task]") {
  // The fine-tune's validation loss (apps/cmd_finetune.cpp: TaskBatches rows of T tokens, then
  // masked_nll) and the report's test loss (score_task) once cut a long example differently: the
  // first cut the completion's end, the second the prompt's start. Both now use fit_example.
  model::Llama m = tiny_model(kContext);
  std::vector<int32_t> prompt = {kEos};
  for (int t = 0; t < 20; ++t) prompt.push_back(3 + (t * 11) % 50);
  const TaskItem item{prompt, {12, 13, 14, 15, kEos}};  // 21 + 5 tokens > context + 1 = 17

  train::TaskBatches val({data::TokenizedExample{item.prompt, item.completion}}, kContext, 0, false, 0);
  CHECK(val.truncated() == 1);
  torch::Tensor x, y;  // (1, T)
  val.next(1, x, y);
  // The row holds exactly fit_example's tokens: the EOS, the prompt's end, the whole completion.
  data::TokenizedExample fit = data::fit_example({item.prompt, item.completion}, kContext + 1);
  std::vector<int64_t> tokens(fit.prompt.begin(), fit.prompt.end());
  tokens.insert(tokens.end(), fit.completion.begin(), fit.completion.end());
  REQUIRE(tokens.size() == size_t(kContext) + 1);
  CHECK(tokens.front() == kEos);
  CHECK(fit.completion == item.completion);
  for (int64_t t = 0; t < kContext; ++t) {
    CHECK(x[0][t].item<int64_t>() == tokens[size_t(t)]);
    const bool scored = t + 1 >= int64_t(fit.prompt.size());
    CHECK(y[0][t].item<int64_t>() == (scored ? tokens[size_t(t) + 1] : -1));
  }

  torch::NoGradGuard no_grad;
  const auto [val_nll, val_scored] = model::masked_nll(*m, x, y);
  TaskScore test = score_task(*m, {item}, kEos, 5, ids_text, torch::kCPU, 1);
  CHECK(test.example_tokens[0] == uint64_t(val_scored));
  CHECK(test.example_nll[0] == Approx(val_nll).epsilon(1e-6));
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
  TaskScore s = score_task(*m, right, end_id, 2, ids_text, torch::kCPU, 8);
  CHECK(s.exact_match == 1.0);
  for (size_t i = 0; i < answers.size(); ++i) CHECK(s.generated[i] == answers[i]);
  TaskScore w = score_task(*m, wrong, end_id, 2, ids_text, torch::kCPU, 8);
  CHECK(w.exact_match == 0.0);
  for (bool ok : w.correct) CHECK_FALSE(ok);
  CHECK(w.loss > s.loss);  // the model's own answers are more likely, token by token

  // With room for more, an answer counts only when the model then says the end marker itself:
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
    TaskScore stop = score_task(*m, {{p, {g[0], g[1], g[2]}}}, g[2], 3, ids_text, torch::kCPU, 1);
    CHECK(stop.exact_match == 1.0);
    CHECK(stop.generated[0] == std::vector<int32_t>{g[0], g[1]});
    // With another end id the model runs on past the answer: no match.
    int other = (g[2] + 1) % kVocab;
    while (other == g[0] || other == g[1]) other = (other + 1) % kVocab;
    TaskScore runs_on = score_task(*m, {{p, {g[0], g[1], other}}}, other, 3, ids_text, torch::kCPU, 1);
    CHECK(runs_on.exact_match == 0.0);
    CHECK(runs_on.generated[0].size() == 3);
  }
  CHECK(found);
}

TEST_CASE("normalize_answer: whitespace trimmed and collapsed, nothing else", "[eval][task]") {
  CHECK(normalize_answer("  eel \t fishing\n\n") == "eel fishing");
  CHECK(normalize_answer("eel fishing") == "eel fishing");
  CHECK(normalize_answer(" \r\n\f\v ") == "");
  CHECK(normalize_answer("") == "");
  CHECK(normalize_answer("Eel") != normalize_answer("eel"));   // case counts
  CHECK(normalize_answer("eel.") != normalize_answer("eel"));  // punctuation counts
  CHECK(normalize_answer("eelfishing") != normalize_answer("eel fishing"));
}

TEST_CASE("score_task: exact match compares text, so one answer tokenized two ways counts", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  const std::vector<int32_t> p = prompts()[1];
  const std::vector<int32_t> g = greedy(m, p, 2);  // the model's answer: two tokens
  std::vector<bool> used(kVocab, false);
  for (int32_t id : g) used[size_t(id)] = true;
  int32_t end_id = 0, whole = 0;  // an end id the model does not say, and a third id
  while (used[size_t(end_id)]) ++end_id;
  used[size_t(end_id)] = true;
  while (used[size_t(whole)]) ++whole;

  // A tokenizer-like decoder: g[0] g[1] spell "do" + "g " and `whole` spells " dog" in one
  // piece, so the answer and the reference differ as ids but not as (normalised) text.
  auto decode = [&](const std::vector<int32_t>& ids) {
    std::string text;
    for (int32_t id : ids) {
      if (id == whole)
        text += " dog";
      else if (id == g[0] && g[0] != g[1])
        text += "do";
      else if (id == g[1] && g[0] != g[1])
        text += "g ";
      else if (id == g[0])
        text += "dog ";  // a model that repeats itself: "dog dog"
      else
        text += "#" + std::to_string(id);
    }
    return text;
  };
  const std::vector<int32_t> reference =
      g[0] != g[1] ? std::vector<int32_t>{whole, end_id} : std::vector<int32_t>{whole, whole, end_id};
  TaskScore s = score_task(*m, {{p, reference}}, end_id, 2, decode, torch::kCPU, 1);
  CHECK(s.generated[0] == g);
  CHECK(s.exact_match == 1.0);
  // As ids they differ: the old comparison counted this answer wrong.
  CHECK(s.generated[0] != std::vector<int32_t>(reference.begin(), reference.end() - 1));
  // Another text is still wrong.
  TaskScore other = score_task(*m, {{p, {kVocab - 1, end_id}}}, end_id, 2, decode, torch::kCPU, 1);
  CHECK(other.exact_match == 0.0);
}

TEST_CASE("score_task: the generation budget does not depend on the reference's length", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  const std::vector<int32_t> p = prompts()[0];
  const std::vector<int32_t> g = greedy(m, p, 6);
  std::vector<bool> used(kVocab, false);
  for (int32_t id : g) used[size_t(id)] = true;
  int32_t end_id = 0;  // never said: every answer runs to the budget
  while (used[size_t(end_id)]) ++end_id;
  // References of 1 and of 5 tokens: the model gets the same 4 tokens to answer either.
  std::vector<TaskItem> items = {{p, {g[0], end_id}}, {p, {g[0], g[1], g[2], g[3], g[4], end_id}}};
  TaskScore s = score_task(*m, items, end_id, 4, ids_text, torch::kCPU, 2);
  REQUIRE(s.generated.size() == 2);
  CHECK(s.generated[0].size() == 4);
  CHECK(s.generated[0] == s.generated[1]);
  CHECK(s.generated[0] == std::vector<int32_t>(g.begin(), g.begin() + 4));
  // The reference's length is no fallback: a budget must be given.
  CHECK_THROWS_AS(score_task(*m, items, end_id, 0, ids_text, torch::kCPU, 2), Failure);
}

TEST_CASE("score_task leaves the model in its mode", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  m->train();
  score_task(*m, {{{5, 6}, {7, kEos}}}, kEos, 2, ids_text, torch::kCPU, 1);
  CHECK(m->is_training());
}

TEST_CASE("score_task: bad examples", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  CHECK_THROWS_AS(score_task(*m, {}, kEos, 2, ids_text, torch::kCPU, 1), BadInput);
  CHECK_THROWS_WITH(score_task(*m, {}, kEos, 2, ids_text, torch::kCPU, 1), Contains("no examples"));
  std::vector<int32_t> too_long(kContext, 5);
  std::vector<TaskItem> bad = {
      {{5}, {6, kEos}}, {{}, {6, kEos}}, {{5}, {}}, {{5}, too_long}, {{5, 99}, {6, kEos}}};
  CHECK_THROWS_AS(score_task(*m, bad, kEos, 2, ids_text, torch::kCPU, 1), BadInput);
  CHECK_THROWS_WITH(
      score_task(*m, bad, kEos, 2, ids_text, torch::kCPU, 1),
      Contains("task example 1: the prompt has no tokens") &&
          Contains("task example 2: the completion has no tokens") &&
          Contains("task example 3: the completion has 16 tokens, the model's context only 16") &&
          Contains("task example 4: token id 99 is outside the model's vocabulary [0, 61)"));
}

// KL(base || tuned) and agreeing argmaxes summed over one example's completion positions and,
// apart, over its prompt positions, one example at a time straight from forward().
struct DirectDivergence {
  double completion_kl = 0, prompt_kl = 0;
  uint64_t completion_agree = 0, prompt_agree = 0, prompt_positions = 0;
};
DirectDivergence direct_divergence(model::Llama& base, model::Llama& tuned, const TaskItem& it) {
  torch::NoGradGuard no_grad;
  data::TokenizedExample fit = data::fit_example({it.prompt, it.completion}, kContext + 1);
  std::vector<int64_t> seq(fit.prompt.begin(), fit.prompt.end());
  seq.insert(seq.end(), fit.completion.begin(), fit.completion.end());
  auto input = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end() - 1)).unsqueeze(0);  // (1, T)
  auto pb = base->forward(input).log_softmax(-1)[0].to(torch::kFloat64);                      // (T, V)
  auto pt = tuned->forward(input).log_softmax(-1)[0].to(torch::kFloat64);
  DirectDivergence d;
  for (size_t t = 0; t + 1 < seq.size(); ++t) {
    const double kl = (pb[long(t)].exp() * (pb[long(t)] - pt[long(t)])).sum().item<double>();
    const bool agree = pb[long(t)].argmax().item<int64_t>() == pt[long(t)].argmax().item<int64_t>();
    if (t + 1 < fit.prompt.size()) {
      d.prompt_kl += kl, d.prompt_agree += agree, ++d.prompt_positions;
    } else {
      d.completion_kl += kl, d.completion_agree += agree;
    }
  }
  return d;
}

TEST_CASE("score_task_divergence: KL and agreement over completions and prompts, as computed directly",
          "[eval][task]") {
  model::Llama base = tiny_model(kContext, 7), tuned = tiny_model(kContext, 8);
  std::vector<TaskItem> items;
  int i = 0;
  for (const auto& p : prompts()) items.push_back({p, {int32_t(10 + i), int32_t(20 + i++), kEos}});
  std::vector<int32_t> long_prompt = {kEos};  // cut from its start, as the loss cuts it
  for (int t = 0; t < 30; ++t) long_prompt.push_back(3 + (t * 7) % 50);
  items.push_back({long_prompt, {12, 13, kEos}});
  const TaskScore loss = score_task_loss(*base, items, torch::kCPU, 2);
  for (int64_t rows : {1, 2, 64}) {  // padded batches give the same numbers
    const TaskDivergence d = score_task_divergence(*base, *tuned, items, torch::kCPU, rows);
    REQUIRE(d.completion_kl.size() == items.size());
    CHECK(d.completion_tokens == loss.example_tokens);  // the same tokens as the task loss
    for (size_t k = 0; k < items.size(); ++k) {
      INFO("example " << k << ", " << rows << " rows a batch");
      const DirectDivergence x = direct_divergence(base, tuned, items[k]);
      CHECK(d.completion_kl[k] == Approx(x.completion_kl).epsilon(1e-4));
      CHECK(d.prompt_kl[k] == Approx(x.prompt_kl).epsilon(1e-4));
      CHECK(d.completion_kl[k] > 0);
      CHECK(d.completion_agree[k] == x.completion_agree);
      CHECK(d.prompt_agree[k] == x.prompt_agree);
      CHECK(d.prompt_tokens[k] == x.prompt_positions);
    }
    CHECK(d.prompt_tokens[0] == 2);                 // prompt {5, 9, 13}: 9 and 13 predicted
    CHECK(d.prompt_tokens.back() == kContext - 3);  // 16 positions, 3 of them the completion's
  }
}

TEST_CASE("score_task_divergence: a model against itself moved nowhere", "[eval][task]") {
  model::Llama m = tiny_model(kContext);
  m->train();
  std::vector<TaskItem> items = {{{5, 6, 7}, {8, 9, kEos}}, {{11}, {12, kEos}}};
  const TaskDivergence d = score_task_divergence(*m, *m, items, torch::kCPU, 2);
  CHECK(m->is_training());  // its mode restored
  for (size_t k = 0; k < items.size(); ++k) {
    CHECK(d.completion_kl[k] == 0.0);
    CHECK(d.prompt_kl[k] == 0.0);
    CHECK(d.completion_agree[k] == d.completion_tokens[k]);
    CHECK(d.prompt_agree[k] == d.prompt_tokens[k]);
  }
  CHECK(d.prompt_tokens == std::vector<uint64_t>{2, 0});
  CHECK_THROWS_AS(score_task_divergence(*m, *m, {}, torch::kCPU, 1), BadInput);
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
