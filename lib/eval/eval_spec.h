// The recipe's `eval:` section: how `plinth eval` samples and scores each domain's validation
// shard, and, for a fine-tune, the task's test split. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/config_section.h"
#include "util/precision.h"

namespace plinth::eval {

// Bootstrap replicates a recipe may ask for; a report.json that records more was not written by
// plinth eval and is refused (each replicate costs memory per scored document).
inline constexpr int kMaxResamples = 100000;

// A capability suite (suite_file.h): multiple-choice questions scored on base and tuned.
struct SuiteSpec {
  std::string name;             // unique among the recipe's suites; the report's label
  std::string path;             // the JSONL file (relative paths: from the working directory)
  std::string delimiter = " ";  // between the query and each choice, as the harness's target_delimiter
  std::string metric;           // the headline (suite_result.h); "" = the file header's, else acc
  Location where;               // the recipe's entry, for messages
};

struct EvalSpec {
  // The sample (document_sample.h): seeded random whole documents, long ones cut to a random
  // span of whole windows.
  uint64_t seed = 0;                 // sampling seed: the same seed scores the same documents
  uint64_t max_tokens = 65536;       // ceiling of scored tokens per domain; 0 = every document
  uint64_t min_documents = 30;       // sizes the per-document cap so that this many fit the ceiling
  uint64_t max_document_tokens = 0;  // per-document cap (whole windows); 0 = sized by min_documents
  uint64_t max_documents = 0;        // documents per domain; 0 = no limit
  // Fine-tune reports: scoring a domain stops early (after min_documents) once the half-width
  // of the 95% interval of its relative forgetting is at most target_ci (0.01 = 1 point);
  // 0 = always score up to the ceiling.
  double target_ci = 0.01;
  double confidence = 0.95;        // of every interval in the report (the gate may ask another)
  int resamples = 1000;            // bootstrap replicates, at most kMaxResamples
  int batch_size = 8;              // windows per forward pass (memory: batch x context x vocab floats)
  int context = 0;                 // window length in tokens; 0 = the model's context
  std::string device = "auto";     // auto (CUDA when present) | cpu | cuda | cuda:N
  Precision precision = Precision::fp32;  // fp32 | bf16 (the weights cast to bf16; util/precision.h)
  // Fine-tuned runs: a seeded random sample of the task's test split is scored on base and
  // tuned (loss and exact match of greedy generations).
  uint64_t task_examples = 200;  // test examples scored; 0 = all
  int task_samples = 8;          // example generations kept in the report
  // Greedy tokens per answer for exact match (the end marker included), the same for every
  // example; 0 = enough for the longest completion of the task's TRAINING split. Never the
  // reference's own length: that would tell the model when to stop.
  int64_t max_new_tokens = 0;
  // Fine-tune reports only (report_variants.h). interpolate: the α of each blend
  // (1 − α)·base + α·tuned scored on the report's documents and examples, ascending, 0 and 1
  // always among them (they cost nothing: the base's and the tuned model's own scores); empty =
  // no interpolation. attribute: the tuned model scored with each part restored to the base.
  std::vector<double> interpolate;
  bool attribute = false;
  // Fine-tune reports: capability suites scored on base and tuned (suite_result.h), each on a
  // seeded random sample of suite_questions questions (0 = all), drawn like the documents.
  std::vector<SuiteSpec> suites;
  uint64_t suite_questions = 0;
};

// An absent section keeps the defaults. target_ci and confidence are fractions in (0, 1) or
// percentages ("1%", "95%"); target_ci may also be 0 (no early stop).
void bind(ConfigSection& s, EvalSpec& spec);

// Greedy tokens per answer for exact match: spec.max_new_tokens, or (0) the longest completion
// of the task's training split in tokens, end marker included: enough for any answer the
// fine-tune was taught, the same for every test example, blind to the test references.
int64_t answer_budget(const EvalSpec& spec, size_t longest_training_completion);

// A fraction in (0, 1) given as "0.95", "95%" or "1%". False for anything else.
bool parse_fraction(const std::string& text, double& out);

// Reads s[key] with parse_fraction (zero_allowed: also "0" / "0%"); otherwise records a problem
// on the key whose hint is "write e.g. <example>".
void read_fraction(ConfigSection& s, const char* key, double& out, bool zero_allowed, const char* example);

}  // namespace plinth::eval
