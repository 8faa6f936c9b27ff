#include "finetune/finetune_eval.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "data/prepare.h"
#include "eval/document_sample.h"
#include "eval/forgetting_report.h"
#include "eval/report_events.h"
#include "eval/task_metrics.h"
#include "eval/word_count.h"
#include "finetune/base_scores.h"
#include "finetune/finetune_spec.h"
#include "finetune/suite_eval.h"
#include "finetune/variant_eval.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

eval::EvalRequest domain_eval_request(const Recipe& r, const tokenizer::Tokenizer& tok,
                                      const eval::EvalSpec& spec) {
  eval::EvalRequest req;
  req.spec = spec;
  req.tokenizer_hash = tok.hash();
  req.tokenizer_file = r.tokenizer.model_file();
  req.eos_id = tok.eos_id();
  req.document_start_id = tok.document_start_id();
  // Bytes and words are counted in the decoded text of the scored tokens; the tokenizer keeps
  // text exactly, so a whole document decodes to its source text (whose bytes the scorer then
  // takes from the shard). Words as word_count.h counts them: for a whole document that is
  // lm-evaluation-harness's count, except that the harness counts one more when the text starts
  // with whitespace (an indented first line) or ends with whitespace prepare did not trim (it
  // trims ASCII whitespace only). A long document scored on a span counts the span's words only;
  // the harness has no such case, it scores whole documents.
  req.measure = [&tok](const std::vector<int32_t>& text) {
    const std::string decoded = tok.decode(text);
    return eval::TextSize{decoded.size(), eval::count_words(decoded)};
  };
  std::vector<std::string> missing;
  std::error_code ec;
  for (const auto& d : r.data.domains) {
    fs::path val = data::shard_path(r.data, d.name, "val");
    if (!fs::exists(val, ec)) missing.push_back(d.name);
    req.domains.push_back({d.name, val});
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
    throw BadInput(fmt::format("no validation shard for: {}", names),
                   fmt::format("run: plinth prepare {}", r.loaded.file.string()));
  }
  // One progress line per domain; the line of a domain ends when its last token is scored.
  struct Line {
    std::unique_ptr<Progress> progress;
    std::string domain;
  };
  auto line = std::make_shared<Line>();
  req.progress = [line](const std::string& domain, uint64_t done, uint64_t total) {
    if (domain != line->domain || !line->progress) {
      line->progress = std::make_unique<Progress>(fmt::format("{:<14}", domain), total);
      line->domain = domain;
    }
    line->progress->update(done, "tokens");
    if (done >= total) {
      line->progress->finish(fmt::format("{} tokens", with_commas(total)));
      line->progress.reset();
    }
  };
  return req;
}

namespace {

// The task's test examples scored: a seeded random sample of eval.task_examples (all when 0 or
// when the split is smaller), drawn like the domains' documents (document_sample.h), so that every
// fine-tune of the same task and seed is scored on the same examples.
std::vector<uint64_t> task_sample(const TaskSet& task, const eval::EvalSpec& spec, const std::string& name) {
  std::vector<uint64_t> order = eval::sample_order(task.test.size(), spec.seed, "task:" + name);
  if (spec.task_examples && order.size() > spec.task_examples) order.resize(spec.task_examples);
  return order;
}

// eval::answer_budget from the longest training completion (end marker included).
int64_t answer_budget(const TaskSet& task, const eval::EvalSpec& spec) {
  size_t longest = 0;
  for (const auto& e : task.train) longest = std::max(longest, e.completion.size());
  return eval::answer_budget(spec, longest);
}

eval::TaskScore score_task_on(model::LlamaImpl& m, const std::vector<eval::TaskItem>& items, int end_id,
                              int64_t max_new_tokens, const eval::TokenDecoder& decode,
                              const eval::EvalSpec& spec, const char* which) {
  const torch::Device device = m.parameters().front().device();
  Progress progress(fmt::format("task ({})", which), 0);
  eval::TaskScore s = eval::score_task(m, items, end_id, max_new_tokens, decode, device, spec.batch_size);
  progress.finish(
      fmt::format("{} examples, loss {:.3f}, exact match {:.1f}%", s.examples, s.loss, 100 * s.exact_match));
  return s;
}

// The task's examples a report scores: a fresh sample (`indices` null) or the report's own.
struct TaskExamples {
  std::vector<eval::TaskItem> items;
  std::vector<uint64_t> indices;
  int end_id = -1;
  int64_t max_new_tokens = 1;
};

TaskExamples task_examples(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok,
                           const std::vector<uint64_t>* indices) {
  // The task first: its bad input (a completion suffix that is not one token) stops the eval
  // before the domains take their time.
  TaskSet task = load_task_set(f.task, tok);
  TaskExamples ex;
  ex.max_new_tokens = answer_budget(task, f.eval);
  if (task.test.empty()) {
    log::warn("task {}: the test split is empty; the report has no task section", f.task.name);
    return ex;
  }
  ex.end_id = tok.piece_to_id(f.task.completion_suffix);
  if (ex.end_id == tok.unk_id())
    throw BadInput(
        fmt::format("task.completion_suffix '{}' is not one token of the tokenizer {}",
                    f.task.completion_suffix, f.recipe.tokenizer.model_file()),
        "use one of the tokenizer's user-defined symbols (tokenizer.user_defined_symbols), e.g. <|end|>");
  ex.indices = indices ? *indices : task_sample(task, f.eval, f.task.name);
  for (uint64_t i : ex.indices) {
    if (i >= task.test.size())
      throw BadInput(fmt::format("the report scores test example {} but the task's test split {} has {}", i,
                                 f.task.path, task.test.size()),
                     "the task file changed since the report was written: run plinth eval again");
    ex.items.push_back({task.test[i].prompt, task.test[i].completion});
  }
  return ex;
}

using Clock = std::chrono::steady_clock;

void log_cost(const char* what, double seconds, double eval_seconds) {
  log::info("{} took {} ({:.1f}x the eval of base and tuned itself, {})", what, format_duration(seconds),
            eval_seconds > 0 ? seconds / eval_seconds : 0.0, format_duration(eval_seconds));
}

}  // namespace

void run_finetune_eval(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok, const fs::path& out) {
  const fs::path dir = out.empty() ? f.run_dir : out;
  const fs::path base_ckpt = finetune::resolve_base_checkpoint(f.finetune.base);
  const fs::path tuned_ckpt = existing_tuned_checkpoint(f);
  const TaskExamples ex = task_examples(f, tok, nullptr);
  SuiteEval suites(f.eval, tok);
  if (!ex.items.empty())
    log::info("task {}: exact match of greedy answers of up to {} tokens ({})", f.task.name,
              ex.max_new_tokens,
              f.eval.max_new_tokens > 0 ? "eval.max_new_tokens" : "the longest training completion");
  const eval::TokenDecoder decode = [&tok](const std::vector<int32_t>& ids) { return tok.decode(ids); };

  // Both checkpoints are read once and held together: every window goes through both in one
  // pass (paired scores, KL, agreement), then the task and the report's variants on the same
  // loaded models.
  eval::EvalRequest req = domain_eval_request(f.recipe, tok, f.eval);
  req.checkpoint = base_ckpt;
  std::optional<eval::ForgettingReport> report;
  const auto start = Clock::now();
  req.with_models = [&](model::LlamaImpl& base, model::LlamaImpl* tuned, const eval::PairedEval* scored) {
    for (const auto& note : scored->tuned.notes) log::warn("{}", note);
    std::optional<eval::TaskResult> task_result;
    // The base's scores that do not depend on the fine-tune, kept for the next fine-tune of it
    // (made only when there is a task or a suite: it hashes the base's files).
    std::optional<BaseScores> kept;
    if (!ex.items.empty() || !suites.empty())
      kept.emplace(f.run_dir, base_ckpt, f.eval, base.parameters().front().device().str());
    if (!ex.items.empty()) {
      std::optional<eval::TaskScore> base_task = kept->task(ex.items, ex.end_id, ex.max_new_tokens);
      if (!base_task) {
        base_task = score_task_on(base, ex.items, ex.end_id, ex.max_new_tokens, decode, f.eval, "base");
        kept->keep_task(ex.items, ex.end_id, ex.max_new_tokens, *base_task);
      }
      const eval::TaskScore& task_base = *base_task;
      const eval::TaskScore task_tuned =
          score_task_on(*tuned, ex.items, ex.end_id, ex.max_new_tokens, decode, f.eval, "tuned");
      const eval::TaskDivergence moved = eval::score_task_divergence(
          base, *tuned, ex.items, base.parameters().front().device(), f.eval.batch_size);
      task_result =
          eval::make_task_result(f.task.name, ex.items, ex.indices, ex.end_id, task_base, task_tuned, decode,
                                 static_cast<size_t>(f.eval.task_samples), &moved);
    }
    eval::RunIdentity id{f.run_dir.string(), f.recipe.name, finetune::method_label(f.finetune)};
    report = eval::make_forgetting_report(id, scored->base, scored->tuned, task_result, f.gate,
                                          eval::sample_info(f.eval));
    if (!suites.empty()) {
      report->suites = suites.score(base, *tuned, &*kept);
      eval::derive(*report);
    }
    const double eval_seconds = seconds_since(start);
    const VariantInputs in{req, ex.items, ex.end_id, ex.max_new_tokens, decode};
    if (!f.eval.interpolate.empty())
      log_cost("interpolation", add_interpolation(in, base, *tuned, *report), eval_seconds);
    if (f.eval.attribute)
      log_cost("attribution", add_attribution(in, base, *tuned, *report, f.finetune.lora_on()), eval_seconds);
  };
  log::info("base {} and tuned {}: {} domains, sample seed {}", base_ckpt.string(), tuned_ckpt.string(),
            req.domains.size(), f.eval.seed);
  eval::evaluate_pair(req, tuned_ckpt);

  for (const auto& flag : report->flags) log::warn("{}", flag);
  eval::write_report(*report, dir);
  if (f.train.tensorboard) eval::write_report_events(*report, dir / "tb" / "eval");
  fmt::print("{}", eval::report_markdown(*report));
  log::info(
      "wrote {}, report.md, report.svg and report.html{}", (dir / "report.json").string(),
      f.train.tensorboard ? fmt::format(" (and TensorBoard's {})", (dir / "tb" / "eval").string()) : "");
}

void run_attribution(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok) {
  const fs::path base_ckpt = finetune::resolve_base_checkpoint(f.finetune.base);
  const fs::path tuned_ckpt = existing_tuned_checkpoint(f);
  eval::ForgettingReport report = eval::load_report(f.run_dir);
  const fs::path report_file = eval::report_path(f.run_dir);
  std::error_code ec;
  if (fs::last_write_time(tuned_ckpt, ec) > fs::last_write_time(report_file, ec))
    throw BadInput(fmt::format("{} is newer than {}: the report describes an earlier fine-tune",
                               tuned_ckpt.string(), report_file.string()),
                   fmt::format("run plinth eval {} first", f.recipe.loaded.file.string()));
  if (!report.has_intervals())
    throw BadInput(
        fmt::format("{} has no per-document scores (schema {})", report_file.string(), report.schema),
        fmt::format("run plinth eval {} again", f.recipe.loaded.file.string()));
  // The report's own task examples, so that the lost gain is paired with its task figures.
  const std::vector<uint64_t> indices = report.task ? report.task->index : std::vector<uint64_t>{};
  const TaskExamples ex =
      report.task && report.task->has_examples() ? task_examples(f, tok, &indices) : TaskExamples{};
  const eval::TokenDecoder decode = [&tok](const std::vector<int32_t>& ids) { return tok.decode(ids); };
  eval::EvalRequest req = domain_eval_request(f.recipe, tok, f.eval);
  req.checkpoint = base_ckpt;
  const VariantInputs in{req, ex.items, ex.end_id, ex.max_new_tokens, decode};
  log::info("attribution of {} against {}: the report's {} domains and {} task examples", tuned_ckpt.string(),
            base_ckpt.string(), report.domains.size(), ex.items.size());
  eval::with_loaded_pair(req, tuned_ckpt, [&](model::LlamaImpl& base, model::LlamaImpl& tuned) {
    add_attribution(in, base, tuned, report, f.finetune.lora_on());
  });
  eval::write_report(report, f.run_dir);
  fmt::print("{}", eval::variants_markdown(report));
  log::info("wrote {} (attribution), report.md, report.html and attribution.svg", report_file.string());
}

}  // namespace plinth::finetune
