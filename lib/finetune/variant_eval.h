// Variants of a tuned model scored on its forgetting report's own documents and task examples
// (eval/report_variants.h): the interpolation between base and tuned (eval.interpolate) and the
// attribution of the forgetting to parts of the model (eval.attribute, plinth attribute). The
// base's scores are the report's; each variant costs one forward pass of one model over the
// sample (half a paired eval), plus greedy answers for the interpolation's exact match.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/evaluator.h"
#include "eval/forgetting_report.h"
#include "eval/task_metrics.h"

namespace plinth::finetune {

// What the report was scored on: its domains and sample (the request it came from) and its task
// examples in the report's order (empty: none).
struct VariantInputs {
  const eval::EvalRequest& request;
  const std::vector<eval::TaskItem>& items;
  int end_id = -1;
  int64_t max_new_tokens = 1;
  eval::TokenDecoder decode;
};

// report.interpolation: a variant per α of request.spec.interpolate; α = 0 and 1 take the
// report's base and tuned columns (no scoring), the others a blend of the two models' weights.
// Returns the seconds it took.
double add_interpolation(const VariantInputs& in, model::LlamaImpl& base, model::LlamaImpl& tuned,
                         eval::ForgettingReport& report);

// report.attribution: a variant per part of the model (model/weight_blend.h weight_parts; with
// `module_groups`, each LoRA-adaptable projection kind too), the tuned model with that part's
// weights restored to the base's; parts the fine-tune did not change are listed as unchanged.
// Task loss only (no generation). Returns the seconds it took.
double add_attribution(const VariantInputs& in, model::LlamaImpl& base, model::LlamaImpl& tuned,
                       eval::ForgettingReport& report, bool module_groups);

}  // namespace plinth::finetune
