// `plinth eval`: a checkpoint scored on every domain's validation shard, with the
// lm-evaluation-harness definitions (rolling_windows.h): per domain the summed NLL of every
// text token of the sampled documents (a span of a long one; document_sample.h), hence loss
// (nats/token), token perplexity, bits per UTF-8 byte and word perplexity (words as
// word_count.h counts them, not always the harness's count). No torch in this header, so apps/
// include it cheaply.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_report.h"
#include "eval/eval_spec.h"
#include "model/model_config.h"
#include "util/config_node.h"

namespace plinth::model {
class LlamaImpl;
}

namespace plinth::eval {

struct PairedEval;

// The UTF-8 bytes and whitespace-separated words of some text tokens (a document without its
// EOS, or the scored span of a long one). They live in the text, not the shard, and eval may not
// use the tokenizer itself (layering): the caller decodes (apps/ with lib/tokenizer) and counts
// with count_words (word_count.h). Without one, words are 0 and a span's bytes are its share of
// the document's.
struct TextSize {
  uint64_t bytes = 0, words = 0;
};
using TextMeasure = std::function<TextSize(const std::vector<int32_t>& text_tokens)>;
// Called during a domain: scored tokens so far and the domain's total.
using ScoreProgress = std::function<void(const std::string& domain, uint64_t done, uint64_t total)>;

struct DomainShard {
  std::string name;
  std::filesystem::path val_shard;
};

struct EvalRequest {
  std::filesystem::path checkpoint;
  std::vector<DomainShard> domains;
  EvalSpec spec;
  uint64_t tokenizer_hash = 0;  // the recipe's tokenizer: checkpoint and shards must match it
  std::string tokenizer_file;   // where it came from, for messages
  int eos_id = 0;               // the id that ends every document in the shards
  int document_start_id = -1;   // the id before a document's first (-1: the EOS); ScoreOptions
  TextMeasure measure;          // empty: words 0, word perplexity null
  // The recipe's `model:` shape, when it has one: a checkpoint of another shape is still
  // evaluated with its own model_config, and a note in the report says so.
  std::optional<model::ModelConfig> recipe_model;
  ScoreProgress progress;
  // Called once with the loaded model(s), on their device, after the domains: lets a caller
  // score more on the same weights without reading and building the checkpoints again. `tuned`
  // and `scored` (the domains' scores so far) are null for evaluate_checkpoint.
  std::function<void(model::LlamaImpl& base, model::LlamaImpl* tuned, const PairedEval* scored)> with_models;
};

// Throws BadInput (exit 2) for a checkpoint or shard made with another tokenizer (naming both
// hashes), a missing or corrupt file, ids beyond the model's vocabulary, eval.context larger than
// the model's, or a device that is not there.
EvalReport evaluate_checkpoint(const EvalRequest& request);

// Base (request.checkpoint) and tuned scored on the same sampled documents and windows in one
// pass per batch (domain_scorer.h): each report's domains carry the paired document columns
// (DomainScore::docs, with tuned_nll, kl and agree), `base` holding the base's sums and `tuned`
// the tuned model's. Both models are in memory at once. Same BadInput as evaluate_checkpoint,
// for either file, and for a tuned checkpoint of another shape of vocabulary.
struct PairedEval {
  EvalReport base, tuned;
};
PairedEval evaluate_pair(const EvalRequest& request, const std::filesystem::path& tuned_checkpoint);

// One window of the plan, as a peer needs it to do the same work (`plinth bench eval`): its
// input tokens followed by the token after them (length + 1 ids; position p predicts ids[p + 1]),
// and how many of its last positions are scored.
struct WindowTokens {
  std::vector<int64_t> ids;
  int64_t scored = 0;
};

// What evaluate_pair scores once both models are loaded: every domain of the request, base and
// tuned on the same windows, in the request's order (`plinth bench eval` times it).
std::vector<DocumentScores> score_pair(const EvalRequest& request, model::LlamaImpl& base,
                                       model::LlamaImpl& tuned);

// The windows score_pair scores on `domain` for a model of `config`, when no domain stops early
// (eval.target_ci 0): what `plinth bench eval` gives its Python peer.
std::vector<WindowTokens> pair_windows(const EvalRequest& request, const DomainShard& domain,
                                       const model::ModelConfig& config);

// Reads, checks and builds both checkpoints as evaluate_pair does (same BadInput), scores
// nothing, and calls `use` with them on the request's device: `plinth attribute` scoring variants
// against a report already written.
void with_loaded_pair(const EvalRequest& request, const std::filesystem::path& tuned_checkpoint,
                      const std::function<void(model::LlamaImpl& base, model::LlamaImpl& tuned)>& use);

// Another model's summed NLL per document on exactly the documents and windows of `like` (one
// domain of a paired eval: its sample, which may have stopped early), in like's order: what a
// variant of the tuned model (finetune/variant_eval.h) is compared with the base on. One forward
// pass per window; no progress line. BadInput when the sample cannot be drawn again (a report
// made with other eval: settings or shards than the request's).
std::vector<double> rescore_documents(const EvalRequest& request, model::LlamaImpl& model,
                                      const DomainShard& domain, const DocumentScores& like);

// Where a recipe's run writes: `train.run_dir`, default runs/<recipe name>.
std::filesystem::path recipe_run_dir(const ConfigNode& recipe_root, const std::string& recipe_name);

// "d256 L4 H4 KV4 ffn768 ctx256 V8192 tied": the shape in one line, for notes and logs.
std::string describe_shape(const model::ModelConfig& config);
// False when the two describe models of another shape (vocab_size 0 in `recipe` = any).
bool same_shape(const model::ModelConfig& recipe, const model::ModelConfig& checkpoint);

}  // namespace plinth::eval
