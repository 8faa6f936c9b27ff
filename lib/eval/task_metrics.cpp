#include "eval/task_metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "data/task_data.h"
#include "model/eval_mode.h"
#include "model/generation.h"
#include "model/llama.h"
#include "model/next_token_stats.h"
#include "util/error.h"

namespace plinth::eval {

namespace {

// The tokens the loss reads of one item: data::fit_example's rule at context + 1 tokens (inputs
// are all but the last, so at most context positions), as a validation row of T = context holds.
// check_items keeps completions shorter than the context, so only the prompt's start is ever cut.
data::TokenizedExample fitted(const TaskItem& item, int64_t context) {
  return data::fit_example(data::TokenizedExample{item.prompt, item.completion},
                           static_cast<size_t>(context) + 1);
}

void check_items(const std::vector<TaskItem>& items, const model::ModelConfig& c) {
  if (items.empty())
    throw BadInput("the task has no examples to score", "check the task's test split (task: section)");
  std::vector<Problem> problems;
  auto bad = [&](size_t i, std::string message, std::string hint) {
    if (problems.size() >= 10) return;  // enough to see the pattern
    Problem p;
    p.key = fmt::format("task example {}", i);
    p.message = std::move(message);
    p.hint = std::move(hint);
    problems.push_back(std::move(p));
  };
  for (size_t i = 0; i < items.size(); ++i) {
    const TaskItem& it = items[i];
    if (it.prompt.empty())
      bad(i, "the prompt has no tokens", "render prompts with a template (task.template)");
    if (it.completion.empty()) bad(i, "the completion has no tokens", "drop examples with empty completions");
    if (static_cast<int64_t>(it.completion.size()) >= c.context)
      bad(i,
          fmt::format("the completion has {} tokens, the model's context only {}", it.completion.size(),
                      c.context),
          "shorten the task's completions or use a model with a longer context");
    for (const auto* ids : {&it.prompt, &it.completion})
      for (int32_t id : *ids)
        if (id < 0 || id >= c.vocab_size) {
          bad(i, fmt::format("token id {} is outside the model's vocabulary [0, {})", id, c.vocab_size),
              "encode the task with the tokenizer the model was trained with");
          break;
        }
  }
  if (!problems.empty()) throw BadInput(std::move(problems));
}

// Items [begin, end) as one right-padded batch of the tokens the loss reads.
struct TaskRows {
  torch::Tensor input;       // (B, T) ids, padded with id 0
  torch::Tensor completion;  // (B, T) the next id where a position predicts a completion token, else -1
  torch::Tensor prompt;      // (B, T) the same for the prompt's own tokens after its first, else -1
  std::vector<uint64_t> completion_tokens, prompt_tokens;  // per row: positions of each kind
};

TaskRows task_rows(const std::vector<TaskItem>& items, size_t begin, size_t end, int64_t context) {
  const auto rows = static_cast<int64_t>(end - begin);
  std::vector<data::TokenizedExample> fits;
  int64_t width = 1;
  for (size_t i = begin; i < end; ++i) {
    fits.push_back(fitted(items[i], context));
    width = std::max<int64_t>(width, int64_t(fits.back().prompt.size() + fits.back().completion.size()) - 1);
  }
  TaskRows out;
  out.input = torch::zeros({rows, width}, torch::kInt64);
  out.completion = torch::full({rows, width}, -1, torch::kInt64);
  out.prompt = torch::full({rows, width}, -1, torch::kInt64);
  auto in = out.input.accessor<int64_t, 2>();
  auto tc = out.completion.accessor<int64_t, 2>();
  auto tp = out.prompt.accessor<int64_t, 2>();
  for (int64_t row = 0; row < rows; ++row) {
    const data::TokenizedExample& fit = fits[size_t(row)];
    std::vector<int64_t> seq(fit.prompt.begin(), fit.prompt.end());
    seq.insert(seq.end(), fit.completion.begin(), fit.completion.end());
    for (size_t t = 0; t + 1 < seq.size(); ++t) in[row][int64_t(t)] = seq[t];
    // Position t predicts seq[t + 1]; the completion starts at seq[prompt size].
    const size_t first_completion = fit.prompt.size() - 1;
    for (size_t t = 0; t + 1 < seq.size(); ++t)
      (t < first_completion ? tp : tc)[row][int64_t(t)] = seq[t + 1];
    out.completion_tokens.push_back(fit.completion.size());
    out.prompt_tokens.push_back(first_completion);
  }
  return out;
}

// Teacher-forced NLL of the completion tokens of items [begin, end), appended per example.
void completion_nll(model::LlamaImpl& model, const std::vector<TaskItem>& items, size_t begin, size_t end,
                    const torch::Device& device, TaskScore& score) {
  const TaskRows rows = task_rows(items, begin, end, model.config().context);
  const torch::Tensor x = rows.input.to(device);  // (B, T)
  const model::ScoredStats scored = model::scored_next_token_stats(model, nullptr, x, rows.completion, false);
  const std::vector<double> nll = model::row_sums(scored, scored.stats.nll_base, x.size(0), x.size(1));
  score.example_nll.insert(score.example_nll.end(), nll.begin(), nll.end());
  score.example_tokens.insert(score.example_tokens.end(), rows.completion_tokens.begin(),
                              rows.completion_tokens.end());
}

// KL and agreement of items [begin, end) on both models, appended per example.
void pair_divergence(model::LlamaImpl& base, model::LlamaImpl& tuned, const std::vector<TaskItem>& items,
                     size_t begin, size_t end, const torch::Device& device, TaskDivergence& out) {
  const TaskRows rows = task_rows(items, begin, end, base.config().context);
  const torch::Tensor x = rows.input.to(device);  // (B, T)
  // The positions either kind scores, with the target each predicts.
  const torch::Tensor completion = rows.completion.reshape({-1});                                   // (B*T)
  const torch::Tensor targets = torch::where(rows.completion.ge(0), rows.completion, rows.prompt);  // (B, T)
  const model::ScoredStats scored = model::scored_next_token_stats(base, &tuned, x, targets, false);
  const model::NextTokenStats& stats = scored.stats;
  const auto b = static_cast<size_t>(x.size(0));
  const size_t first = out.completion_kl.size();
  out.completion_kl.resize(first + b, 0.0);
  out.completion_agree.resize(first + b, 0);
  out.prompt_kl.resize(first + b, 0.0);
  out.prompt_agree.resize(first + b, 0);
  const int64_t* at = scored.positions.data_ptr<int64_t>();
  const int64_t* comp = completion.data_ptr<int64_t>();
  const float* kl = stats.kl.data_ptr<float>();
  const uint8_t* agree = stats.agree.data_ptr<uint8_t>();
  for (int64_t i = 0, n = scored.positions.size(0); i < n; ++i) {  // float64 sums in position order
    const size_t row = first + static_cast<size_t>(at[i] / x.size(1));
    const bool is_completion = comp[at[i]] >= 0;
    (is_completion ? out.completion_kl : out.prompt_kl)[row] += kl[i];
    (is_completion ? out.completion_agree : out.prompt_agree)[row] += agree[i];
  }
  out.completion_tokens.insert(out.completion_tokens.end(), rows.completion_tokens.begin(),
                               rows.completion_tokens.end());
  out.prompt_tokens.insert(out.prompt_tokens.end(), rows.prompt_tokens.begin(), rows.prompt_tokens.end());
}

}  // namespace

std::string normalize_answer(std::string_view text) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  std::string out;
  out.reserve(text.size());
  bool gap = false;  // whitespace seen since the last kept character
  for (char c : text) {
    if (space(c)) {
      gap = true;
      continue;
    }
    if (gap && !out.empty()) out += ' ';
    gap = false;
    out += c;
  }
  return out;
}

TaskScore score_task_loss(model::LlamaImpl& model, const std::vector<TaskItem>& items, c10::Device device,
                          int64_t batch_rows) {
  check_items(items, model.config());
  model::EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  TaskScore score;
  score.examples = items.size();
  const auto step = static_cast<size_t>(std::max<int64_t>(1, batch_rows));
  for (size_t begin = 0; begin < items.size(); begin += step)
    completion_nll(model, items, begin, std::min(items.size(), begin + step), device, score);
  for (size_t i = 0; i < items.size(); ++i) {
    score.nll += score.example_nll[i];
    score.completion_tokens += score.example_tokens[i];
  }
  score.loss = score.nll / double(score.completion_tokens);
  return score;
}

TaskDivergence score_task_divergence(model::LlamaImpl& base, model::LlamaImpl& tuned,
                                     const std::vector<TaskItem>& items, c10::Device device,
                                     int64_t batch_rows) {
  if (base.config().vocab_size != tuned.config().vocab_size)
    throw Failure(fmt::format("score_task_divergence: vocabularies of {} and {} tokens",
                              base.config().vocab_size, tuned.config().vocab_size));
  check_items(items, base.config());
  check_items(items, tuned.config());
  model::EvalModeGuard base_mode(base), tuned_mode(tuned);
  torch::NoGradGuard no_grad;
  TaskDivergence out;
  const auto step = static_cast<size_t>(std::max<int64_t>(1, batch_rows));
  for (size_t begin = 0; begin < items.size(); begin += step)
    pair_divergence(base, tuned, items, begin, std::min(items.size(), begin + step), device, out);
  return out;
}

TaskScore score_task(model::LlamaImpl& model, const std::vector<TaskItem>& items, int end_id,
                     int64_t max_new_tokens, const TokenDecoder& decode, c10::Device device,
                     int64_t batch_rows) {
  if (max_new_tokens < 1)
    throw Failure(fmt::format("score_task: max_new_tokens {} must be at least 1", max_new_tokens));
  if (!decode) throw Failure("score_task: exact match needs a decode function");
  const model::ModelConfig& c = model.config();
  TaskScore score = score_task_loss(model, items, device, batch_rows);
  model::EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;

  // generate() takes the holder; every LlamaImpl lives in one (TORCH_MODULE), so this shares it.
  model::Llama holder(std::dynamic_pointer_cast<model::LlamaImpl>(model.shared_from_this()));
  uint64_t correct = 0;
  const auto budget = static_cast<size_t>(std::min<int64_t>(max_new_tokens, c.context));
  for (const TaskItem& it : items) {
    // The prompt's start gives way to the budget, never to the reference's own length.
    std::vector<int32_t> kept = data::fit_prompt(it.prompt, budget, static_cast<size_t>(c.context));
    std::vector<int64_t> prompt(kept.begin(), kept.end());
    model::GenerateOptions options;
    options.temperature = 0;  // greedy
    options.max_new_tokens = static_cast<int>(budget);
    auto out = model::generate(holder, prompt, options,
                               [end_id](const std::vector<int64_t>& g) { return g.back() == end_id; });
    std::vector<int32_t> answer;
    for (int64_t id : out) {
      if (id == end_id) break;
      answer.push_back(static_cast<int32_t>(id));
    }
    std::vector<int32_t> reference = it.completion;
    if (!reference.empty() && reference.back() == end_id) reference.pop_back();
    const bool ok = normalize_answer(decode(answer)) == normalize_answer(decode(reference));
    correct += ok;
    score.generated.push_back(std::move(answer));
    score.correct.push_back(ok);
  }
  score.exact_match = double(correct) / double(items.size());
  return score;
}

TaskResult make_task_result(const std::string& name, const std::vector<TaskItem>& items,
                            const std::vector<uint64_t>& indices, int end_id, const TaskScore& base,
                            const TaskScore& tuned, const TokenDecoder& decode, size_t max_samples,
                            const TaskDivergence* divergence) {
  TaskResult r;
  r.name = name;
  r.examples = items.size();
  r.base_loss = base.loss;
  r.tuned_loss = tuned.loss;
  r.base_exact_match = base.exact_match;
  r.tuned_exact_match = tuned.exact_match;
  if (indices.size() != items.size() || base.example_nll.size() != items.size() ||
      tuned.example_nll.size() != items.size())
    throw Failure("make_task_result: the scores do not hold one entry per item");
  r.index = indices;
  r.tokens = base.example_tokens;
  r.base_nll = base.example_nll;
  r.tuned_nll = tuned.example_nll;
  r.base_correct = base.correct;
  r.tuned_correct = tuned.correct;
  if (divergence) {
    if (divergence->completion_kl.size() != items.size() ||
        divergence->completion_tokens != base.example_tokens)
      throw Failure(
          "make_task_result: the divergence does not hold one entry per item, on the scored tokens");
    r.kl = divergence->completion_kl;
    r.agree = divergence->completion_agree;
    r.prompt_tokens = divergence->prompt_tokens;
    r.prompt_kl = divergence->prompt_kl;
    r.prompt_agree = divergence->prompt_agree;
  }
  const size_t n = std::min({max_samples, items.size(), base.generated.size(), tuned.generated.size()});
  for (size_t i = 0; i < n; ++i) {
    std::vector<int32_t> reference = items[i].completion;
    if (!reference.empty() && reference.back() == end_id) reference.pop_back();
    TaskSample s;
    s.prompt = decode(items[i].prompt);
    s.reference = decode(reference);
    s.base_output = decode(base.generated[i]);
    s.tuned_output = decode(tuned.generated[i]);
    s.base_correct = base.correct[i];
    s.tuned_correct = tuned.correct[i];
    r.samples.push_back(std::move(s));
  }
  return r;
}

}  // namespace plinth::eval
