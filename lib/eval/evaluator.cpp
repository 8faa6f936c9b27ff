#include "eval/evaluator.h"

#include <fmt/format.h>

#include "eval/domain_scorer.h"
#include "model/checkpoint_model.h"
#include "model/device.h"
#include "model/hf_import.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::eval {

namespace fs = std::filesystem;

std::string describe_shape(const model::ModelConfig& c) {
  return fmt::format("d{} L{} H{} KV{} ffn{} ctx{} V{}{}", c.dim, c.layers, c.heads, c.resolved_kv_heads(),
                     c.resolved_ffn(), c.context, c.vocab_size, c.tie_embeddings ? " tied" : "");
}

bool same_shape(const model::ModelConfig& r, const model::ModelConfig& c) {
  return (r.vocab_size == 0 || r.vocab_size == c.vocab_size) && r.dim == c.dim && r.layers == c.layers &&
         r.heads == c.heads && r.resolved_kv_heads() == c.resolved_kv_heads() &&
         r.resolved_ffn() == c.resolved_ffn() && r.context == c.context &&
         r.tie_embeddings == c.tie_embeddings && r.rope_theta == c.rope_theta && r.norm_eps == c.norm_eps;
}

fs::path recipe_run_dir(const ConfigNode& root, const std::string& recipe_name) {
  if (const ConfigNode* train = root.find("train"))
    if (const ConfigNode* dir = train->find("run_dir"))
      if (dir->is_scalar() && !dir->text().empty()) return dir->text();
  return fs::path("runs") / recipe_name;
}

namespace {

// One checkpoint read, checked and built; its report's header filled in.
model::Llama load_model(const EvalRequest& request, const fs::path& checkpoint, EvalReport& report) {
  report.checkpoint = checkpoint.string();
  report.options = request.spec;
  model::Llama net{nullptr};
  {
    // Scoped: the file may also hold optimizer state, twice the weights again.
    model::CheckpointContents ckpt = model::read_model_checkpoint(checkpoint);
    model::check_tokenizer(ckpt, checkpoint, request.tokenizer_hash, request.tokenizer_file);
    net = model::model_from_checkpoint(ckpt, checkpoint);
    report.step = model::checkpoint_step(ckpt);
    report.tokenizer_hash = model::checkpoint_tokenizer_hash(ckpt);
  }
  if (report.tokenizer_hash.empty()) report.tokenizer_hash = hex64(request.tokenizer_hash);
  report.model = net->config();
  if (request.recipe_model && !same_shape(*request.recipe_model, report.model))
    report.notes.push_back(fmt::format(
        "the checkpoint's model ({}) has another shape than the recipe's model ({}); it was evaluated with "
        "the checkpoint's own model_config",
        describe_shape(report.model), describe_shape(*request.recipe_model)));
  const torch::Device device = model::resolve_device(request.spec.device, "eval.device");
  report.options.device = device.str();
  net->to(device, model::weight_dtype(request.spec.precision));
  return net;
}

// How a model of `config` scores the request's windows.
ScoreOptions score_options(const EvalRequest& request, const model::ModelConfig& config) {
  const EvalSpec& spec = request.spec;
  ScoreOptions options;
  options.context = spec.context > 0 ? spec.context : config.context;
  options.batch_size = spec.batch_size;
  options.eos_id = request.eos_id;
  options.document_start_id = request.document_start_id;
  options.seed = spec.seed;
  options.max_tokens = spec.max_tokens;
  options.max_documents = spec.max_documents;
  options.min_documents = spec.min_documents;
  options.max_document_tokens = spec.max_document_tokens;
  options.target_ci = spec.target_ci;
  options.confidence = spec.confidence;
  options.resamples = spec.resamples;
  return options;
}

// The same, recording the context it scores at in the report of that model.
ScoreOptions score_options(const EvalRequest& request, EvalReport& report) {
  const ScoreOptions options = score_options(request, report.model);
  report.options.context = static_cast<int>(options.context);
  return options;
}

}  // namespace

EvalReport evaluate_checkpoint(const EvalRequest& request) {
  EvalReport report;
  model::Llama net = load_model(request, request.checkpoint, report);
  const ScoreOptions options = score_options(request, report);
  for (const auto& domain : request.domains) {
    data::ShardReader shard = data::ShardReader::open(domain.val_shard, request.tokenizer_hash);
    report.domains.push_back(
        score_domain(net, shard, domain.name, options, request.measure, request.progress));
  }
  if (request.with_models) request.with_models(*net, nullptr, nullptr);
  return report;
}

PairedEval evaluate_pair(const EvalRequest& request, const fs::path& tuned_checkpoint) {
  PairedEval out;
  model::Llama base = load_model(request, request.checkpoint, out.base);
  model::Llama tuned = load_model(request, tuned_checkpoint, out.tuned);
  if (!same_shape(base->config(), tuned->config()))
    out.tuned.notes.push_back(fmt::format("the tuned model ({}) has another shape than the base ({})",
                                          describe_shape(tuned->config()), describe_shape(base->config())));
  score_options(request, out.base);
  score_options(request, out.tuned);
  std::vector<DocumentScores> scored = score_pair(request, *base, *tuned);
  for (size_t d = 0; d < scored.size(); ++d) {
    const std::string& name = request.domains[d].name;
    const std::vector<double> tuned_nll = scored[d].tuned_nll;
    out.base.domains.push_back(domain_score(name, scored[d], scored[d].base_nll));
    out.tuned.domains.push_back(domain_score(name, std::move(scored[d]), tuned_nll));
  }
  if (request.with_models) request.with_models(*base, tuned.get(), &out);
  return out;
}

std::vector<DocumentScores> score_pair(const EvalRequest& request, model::LlamaImpl& base,
                                       model::LlamaImpl& tuned) {
  const ScoreOptions options = score_options(request, base.config());
  std::vector<DocumentScores> out;
  for (const auto& domain : request.domains) {
    data::ShardReader shard = data::ShardReader::open(domain.val_shard, request.tokenizer_hash);
    out.push_back(
        score_documents(base, &tuned, shard, domain.name, options, request.measure, request.progress));
  }
  return out;
}

std::vector<WindowTokens> pair_windows(const EvalRequest& request, const DomainShard& domain,
                                       const model::ModelConfig& config) {
  ScoreOptions options = score_options(request, config);
  options.target_ci = 0;
  data::ShardReader shard = data::ShardReader::open(domain.val_shard, request.tokenizer_hash);
  return planned_window_tokens(shard, domain.name, options);
}

void with_loaded_pair(const EvalRequest& request, const fs::path& tuned_checkpoint,
                      const std::function<void(model::LlamaImpl& base, model::LlamaImpl& tuned)>& use) {
  EvalReport base_header, tuned_header;
  model::Llama base = load_model(request, request.checkpoint, base_header);
  model::Llama tuned = load_model(request, tuned_checkpoint, tuned_header);
  use(*base, *tuned);
}

std::vector<double> rescore_documents(const EvalRequest& request, model::LlamaImpl& model,
                                      const DomainShard& domain, const DocumentScores& like) {
  ScoreOptions options = score_options(request, model.config());
  // The paired sample is the first like.size() documents of the sample order (a larger sample
  // holds every smaller one, document_sample.h), cut at a chunk boundary: asked for exactly that
  // many, with no stopping rule, the plan is the same documents and windows.
  options.max_documents = like.size();
  options.target_ci = 0;
  data::ShardReader shard = data::ShardReader::open(domain.val_shard, request.tokenizer_hash);
  DocumentScores docs = score_documents(model, nullptr, shard, domain.name, options);
  if (docs.index != like.index || docs.first_token != like.first_token || docs.tokens != like.tokens)
    throw BadInput(
        fmt::format("domain '{}': the report's documents are not the sample the recipe's eval: section "
                    "draws from {} now",
                    domain.name, domain.val_shard.string()),
        "the eval: settings or the shards changed since the report was written: run plinth eval again");
  return docs.base_nll;
}

}  // namespace plinth::eval
