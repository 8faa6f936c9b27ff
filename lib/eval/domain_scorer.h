// Scoring one domain's validation shard with models already in memory: the core of
// evaluate_checkpoint and evaluate_pair (evaluator.h), exposed for tests and for callers holding
// a model. Includes torch.
//
// The documents are a seeded random sample (document_sample.h), taken in sample order until the
// token ceiling; long documents are scored on a span of whole windows. With two models (base and
// tuned) every window goes through both in the same pass, which also gives the KL divergence
// and the top-1 agreement of their next-token distributions; scoring then stops early, at a
// document-chunk boundary, once the bootstrap interval of the domain's relative forgetting is as
// narrow as options.target_ci asks (after at least min_documents).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard.h"
#include "eval/document_scores.h"
#include "eval/evaluator.h"
#include "model/llama.h"

namespace plinth::eval {

struct ScoreOptions {
  int64_t context = 0;     // window length, 1..model context
  int64_t batch_size = 8;  // windows per forward pass
  int64_t eos_id = 0;      // ends every document; its trailing copy is context, not scored
  // The token before a document's first (tokenizer/document_convention.h): -1 or eos_id for
  // plinth's rule (the EOS before it); another id (a Llama BOS) heads each document in the shard.
  int64_t document_start_id = -1;
  // The forward passes under bf16 autocast (matmuls in bf16, log-softmax and sums in float32):
  // the select: panel scores in the training's precision, where float32 would cost several
  // times a bf16 step on CPUs with AMX. plinth eval keeps float32.
  bool bf16 = false;
  uint64_t seed = 0;           // the sample's seed
  uint64_t max_tokens = 0;     // ceiling of scored tokens; documents are taken until it is reached; 0 = none
  uint64_t max_documents = 0;  // 0 = all
  uint64_t min_documents = 0;  // sizes the per-document cap (effective_document_cap)
  uint64_t max_document_tokens = 0;  // per-document cap; 0 = whole documents (unless min_documents sizes one)
  // Two models only: stop once the half-width of the relative forgetting's interval (a
  // fraction: 0.01 = one percentage point) is at most this; 0 = score up to the ceiling.
  double target_ci = 0;
  double confidence = 0.95;
  int resamples = 1000;
};

// Every scored document's columns (document_scores.h); `tuned` null scores `base` alone.
// Runs on the models' device under NoGradGuard, in eval mode (restored afterwards). Windows are
// sorted by length and batched with right padding; the causal mask keeps padding from reaching
// the scored positions, and each window's sums are taken in float64 in a fixed order, so results
// do not depend on the batch size beyond float rounding inside the kernels.
DocumentScores score_documents(model::LlamaImpl& base, model::LlamaImpl* tuned,
                               const data::ShardReader& shard, const std::string& name,
                               const ScoreOptions& options, const TextMeasure& measure = {},
                               const ScoreProgress& progress = {});

// Every window score_documents scores on `shard` with `options` when it does not stop early, in
// the order of the sampled documents.
std::vector<WindowTokens> planned_window_tokens(const data::ShardReader& shard, const std::string& name,
                                                const ScoreOptions& options);

// A domain's totals from its document columns, with the NLL summed from `nll` (docs.base_nll, or
// docs.tuned_nll for the tuned side of a pair); the columns are kept in DomainScore::docs.
DomainScore domain_score(const std::string& name, DocumentScores docs, const std::vector<double>& nll);

// One model, summed into a DomainScore (which keeps the document columns too).
DomainScore score_domain(model::Llama& model, const data::ShardReader& shard, const std::string& name,
                         const ScoreOptions& options, const TextMeasure& measure = {},
                         const ScoreProgress& progress = {});

// Half-width, in percentage points, of the interval of 100 * (sum tuned / sum base - 1) over
// the documents (the stopping rule's figure; also used by tests).
double forgetting_half_width(const DocumentScores& docs, double confidence, int resamples, uint64_t seed);

}  // namespace plinth::eval
