// `plinth eval` of a fine-tuning recipe: base and tuned scored on the same documents and windows
// of every pretraining domain, and on the task's test split; the forgetting report
// (eval/forgetting_report.h) written into the run directory. Also what `plinth eval` of any
// checkpoint of a recipe scores (domain_eval_request).
#pragma once

#include "eval/evaluator.h"
#include "finetune/finetune_recipe.h"

namespace plinth::finetune {

// What `plinth eval` scores for any checkpoint of this recipe's tokenizer: every domain's val
// shard with the recipe's eval: options (BadInput naming missing shards), words counted in the
// decoded text, a progress line per domain. `checkpoint` is left for the caller.
eval::EvalRequest domain_eval_request(const Recipe& r, const tokenizer::Tokenizer& tok,
                                      const eval::EvalSpec& spec);

// `plinth eval` of a fine-tuned run: base and tuned on every domain and on the task's test
// split -> <out>/report.json, report.md, report.svg (eval/forgetting_report.h); `out` empty:
// the run directory. With eval.interpolate / eval.attribute the report gains those variants
// (variant_eval.h).
void run_finetune_eval(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok,
                       const std::filesystem::path& out = {});

// `plinth attribute`: the attribution added to the run's report.json (and report.md,
// attribution.svg), scored on the report's own documents and task examples against its base
// scores. BadInput when the run has no report, or a tuned.ckpt newer than it.
void run_attribution(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok);

}  // namespace plinth::finetune
