// What a fine-tune's evaluation computes of its base alone: the task's answers and loss
// (eval::TaskScore) and each capability suite's log-likelihoods. Every fine-tune of one base
// scores the same base on the same inputs, so the first evaluation keeps these and the others
// read them back: the quickstart's second and third evaluations, and every point of a sweep,
// skip the base's greedy decoding and its half of the suites. (The domains' scores are not kept:
// KL and top-1 agreement need both models' logits at once, and the pair runs in one pass.)
//
// Where: <run_dir>/../.base-scores/<key>.json, beside the runs of the same base. The key hashes
// everything the scores depend on: the base's bytes, the inputs' tokens and the settings that
// change how they are computed (context, batch, eval.precision, device, this file's format). An
// entry that cannot be read is scored again and rewritten; deleting the folder only costs time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_spec.h"
#include "eval/suite_requests.h"
#include "eval/task_metrics.h"

namespace plinth::finetune {

class BaseScores {
 public:
  // base: the base checkpoint (a file, or a model folder: every file in it is hashed); device:
  // where the evaluation runs ("cpu", "cuda:0").
  BaseScores(const std::filesystem::path& run_dir, const std::filesystem::path& base,
             const eval::EvalSpec& spec, const std::string& device);

  // The task: keyed by its items, end id and answer budget.
  std::optional<eval::TaskScore> task(const std::vector<eval::TaskItem>& items, int end_id,
                                      int64_t max_new_tokens) const;
  void keep_task(const std::vector<eval::TaskItem>& items, int end_id, int64_t max_new_tokens,
                 const eval::TaskScore& score) const;

  // A suite: keyed by its requests' tokens and max_length. suite() fills s.result's base_ll and
  // base_ll_unconditional and returns true when they were kept.
  bool suite(eval::SuiteRequests& s, int64_t max_length) const;
  void keep_suite(const eval::SuiteRequests& s, int64_t max_length) const;

 private:
  std::filesystem::path entry(uint64_t inputs) const;
  std::filesystem::path dir_;
  uint64_t identity_ = 0;  // the base and the settings
};

}  // namespace plinth::finetune
