// What `plinth eval` measures per domain, and how it is written: <run_dir>/eval.json
// (versioned schema, below) and a Markdown table (eval.md and stdout). No torch here.
//
// eval.json, schema 1:
//   {"schema": 1, "checkpoint": path, "step": n, "tokenizer_hash": "16 hex digits",
//    "model": {ModelConfig}, "options": {context, batch_size, precision, device, max_tokens,
//    max_documents, seed, min_documents, max_document_tokens},
//    "domains": [{"name", "documents", "document_indices": [n] (val shard indices, sample order),
//                 "first_tokens": [n] (first scored token of each; > 0 for a span), "tokens", "bytes",
//                 "words", "nll", "loss", "perplexity", "bits_per_byte", "word_perplexity"}],
//    "mean": {"domains", "documents", "tokens", "bytes", "words", "loss", "perplexity",
//             "bits_per_byte", "word_perplexity"}}
// A metric with nothing to divide by (no tokens, no words counted) is null.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/document_scores.h"
#include "eval/eval_spec.h"
#include "model/model_config.h"

namespace plinth::eval {

inline constexpr int kEvalSchemaVersion = 1;

// One domain's validation set scored by loglikelihood_rolling (rolling_windows.h).
struct DomainScore {
  std::string name;
  uint64_t documents = 0;
  uint64_t tokens = 0;  // scored text tokens (the EOS after each document is context, not scored)
  uint64_t bytes = 0;   // UTF-8 bytes of those documents' text
  uint64_t words = 0;   // whitespace-separated words (word_count.h); 0 when not counted
  double nll = 0;       // summed negative log-likelihood, nats
  DocumentScores docs;  // per scored document, in sample order (eval.json keeps their indices)

  double loss() const;             // nats per token
  double perplexity() const;       // exp(loss)
  double bits_per_byte() const;    // nll / bytes / ln 2
  double word_perplexity() const;  // exp(nll / words); NaN without words
};

// Macro average: every domain weighs the same, whatever its size. loss and bits_per_byte
// are arithmetic means; perplexity = exp(mean loss) and word_perplexity the geometric mean of
// the domains' word perplexities (so both stay on the scale of their per-domain values).
// Counts are totals.
struct MeanScore {
  size_t domains = 0;
  uint64_t documents = 0, tokens = 0, bytes = 0, words = 0;
  double loss = 0, perplexity = 0, bits_per_byte = 0, word_perplexity = 0;  // NaN when undefined
};
MeanScore mean_score(const std::vector<DomainScore>& domains);

struct EvalReport {
  std::string checkpoint;  // the file scored
  int64_t step = -1;       // training step it holds; -1 when unknown
  std::string tokenizer_hash;
  model::ModelConfig model;  // the checkpoint's own shape
  EvalSpec options;          // as run: context resolved, device resolved
  std::vector<DomainScore> domains;
  std::vector<std::string> notes;  // things the user should know (e.g. the model shape differs)
};

std::string eval_json(const EvalReport& report);  // pretty-printed, ends with a newline
std::string eval_markdown(const EvalReport& report);
// <dir>/eval.json and <dir>/eval.md, each written atomically.
void write_eval_report(const EvalReport& report, const std::filesystem::path& dir);

}  // namespace plinth::eval
