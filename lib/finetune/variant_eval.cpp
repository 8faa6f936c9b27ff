#include "finetune/variant_eval.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>

#include "model/llama.h"
#include "model/weight_blend.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth::finetune {

namespace {

using Clock = std::chrono::steady_clock;

// `m` scored on every domain's report documents and, when there are task examples, on their
// completions (with greedy answers when `generate`).
eval::ReportVariant score_variant(const VariantInputs& in, model::LlamaImpl& m,
                                  const eval::ForgettingReport& r, std::string label, bool generate) {
  eval::ReportVariant v;
  v.label = std::move(label);
  Progress progress(fmt::format("{:<14}", v.label), r.domains.size() + (in.items.empty() ? 0 : 1));
  size_t done = 0;
  for (size_t i = 0; i < r.domains.size(); ++i) {
    const eval::DomainForgetting& d = r.domains[i];
    const eval::DomainShard* shard = nullptr;
    for (const auto& s : in.request.domains)
      if (s.name == d.name) shard = &s;
    if (!shard) throw Failure(fmt::format("score_variant: the request has no domain '{}'", d.name));
    v.domain_nll[d.name] = eval::rescore_documents(in.request, m, *shard, d.docs);
    progress.update(++done, d.name);
  }
  if (!in.items.empty()) {
    const torch::Device device = m.parameters().front().device();
    const eval::TaskScore s = generate
                                  ? eval::score_task(m, in.items, in.end_id, in.max_new_tokens, in.decode,
                                                     device, in.request.spec.batch_size)
                                  : eval::score_task_loss(m, in.items, device, in.request.spec.batch_size);
    v.task_nll = s.example_nll;
    v.task_correct = s.correct;
    progress.update(++done, "task");
  }
  progress.finish("scored");
  return v;
}

bool has_task_columns(const eval::ForgettingReport& r, const VariantInputs& in) {
  return r.task && r.task->has_examples() && r.task->index.size() == in.items.size();
}

}  // namespace

double add_interpolation(const VariantInputs& in, model::LlamaImpl& base, model::LlamaImpl& tuned,
                         eval::ForgettingReport& r) {
  r.interpolation.clear();
  const auto start = Clock::now();
  model::Llama blended{nullptr};
  int scored = 0;
  for (double alpha : in.request.spec.interpolate) {
    eval::ReportVariant v;
    const std::string label = fmt::format("α={:g}", alpha);
    if (alpha == 0 || alpha == 1) {
      // The ends are the report's own models: their columns, bit for bit.
      v.label = label;
      for (const auto& d : r.domains) v.domain_nll[d.name] = alpha == 0 ? d.docs.base_nll : d.docs.tuned_nll;
      if (has_task_columns(r, in)) {
        v.task_nll = alpha == 0 ? r.task->base_nll : r.task->tuned_nll;
        v.task_correct = alpha == 0 ? r.task->base_correct : r.task->tuned_correct;
      }
    } else {
      if (!blended) blended = model::model_like(tuned);
      model::blend_weights(*blended, base, tuned, alpha);
      v = score_variant(in, *blended, r, label, /*generate=*/true);
      ++scored;
    }
    v.alpha = alpha;
    r.interpolation.push_back(std::move(v));
  }
  eval::derive(r);
  const double took = seconds_since(start);
  log::info("interpolation: {} blends scored in {}", scored, format_duration(took));
  return took;
}

double add_attribution(const VariantInputs& in, model::LlamaImpl& base, model::LlamaImpl& tuned,
                       eval::ForgettingReport& r, bool module_groups) {
  r.attribution.clear();
  const auto start = Clock::now();
  const std::vector<model::WeightPart> parts = model::weight_parts(base, tuned, module_groups);
  model::Llama restored{nullptr};
  int scored = 0;
  for (const auto& part : parts) {
    eval::ReportVariant v;
    if (!part.changed) {
      v.label = part.name;
      v.unchanged = true;
    } else {
      if (!restored) restored = model::model_like(tuned);
      model::restore_parts(*restored, base, tuned, {&part});
      v = score_variant(in, *restored, r, part.name, /*generate=*/false);
      ++scored;
    }
    r.attribution.push_back(std::move(v));
  }
  eval::derive(r);
  const double took = seconds_since(start);
  log::info("attribution: {} of {} parts changed by the fine-tune, scored in {}", scored, parts.size(),
            format_duration(took));
  return took;
}

}  // namespace plinth::finetune
