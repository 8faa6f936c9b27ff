// plinth score --checkpoint C --text TEXT: how well a model predicts a text, token by token:
// the next-token negative log-likelihood of every token after the document start, in float32
// on the full logits. For a quick look at one text, and for checking plinth against another
// implementation (scripts/check-hf compares it with transformers on the same weights).
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "checkpoint_tokenizer.h"
#include "command.h"
#include "model/checkpoint_model.h"
#include "model/hf_import.h"
#include "model/token_nll.h"
#include "model/torch_runtime.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct ScoreArgs {
  std::string checkpoint;
  std::string text;
  std::string file;
  std::string tokenizer;
  bool json = false;
  int threads = 0;
};

void run_score(const ScoreArgs& a) {
  model::configure_threads(a.threads);
  if (a.text.empty() == a.file.empty())
    throw BadInput("give the text to score with exactly one of --text and --file",
                   "plinth score --checkpoint C --text 'Once upon a time'");
  const std::string text = a.file.empty() ? a.text : read_file(a.file);
  const fs::path checkpoint = a.checkpoint;
  model::Llama net{nullptr};
  std::optional<tokenizer::Tokenizer> tok;
  {
    model::CheckpointContents ckpt = model::read_model_checkpoint(checkpoint);
    tok.emplace(checkpoint_tokenizer(ckpt, checkpoint, a.tokenizer));
    net = model::model_from_checkpoint(ckpt, checkpoint);
  }
  // As a document is scored in eval: its start token, then the text; every text token is predicted.
  std::vector<int64_t> ids = {tok->document_start_id()};
  for (int32_t id : tok->encode(text)) ids.push_back(id);
  const auto n = static_cast<int64_t>(ids.size());
  if (n < 2) throw BadInput("the text is empty: nothing to score");
  if (n > net->config().context)
    throw BadInput(fmt::format("the text is {} tokens with its start token; the model's context is {}", n,
                               net->config().context),
                   "score a shorter text (plinth eval scores long documents in windows)");

  const std::vector<double> per_token = model::token_nll(*net, ids);
  double sum = 0;
  for (double v : per_token) sum += v;
  const double mean = sum / static_cast<double>(per_token.size());
  if (a.json) {
    nlohmann::json out = {{"checkpoint", checkpoint.string()},
                          {"tokens", ids},
                          {"nll", per_token},
                          {"mean_nll", mean},
                          {"bytes", text.size()}};
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("{} tokens, {:.4f} nats/token (perplexity {:.2f}), {:.4f} bits/byte\n", per_token.size(), mean,
             std::exp(mean), sum / std::log(2.0) / static_cast<double>(text.size()));
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("score", "Next-token loss of a model on one text, token by token");
  static ScoreArgs a;
  cmd->add_option("--checkpoint", a.checkpoint, "Checkpoint file (.ckpt) or Hugging Face model folder")
      ->required();
  cmd->add_option("--text", a.text, "The text to score");
  cmd->add_option("--file", a.file, "Score this file's text instead");
  cmd->add_option("--tokenizer", a.tokenizer, "Tokenizer .model (default: the checkpoint's)");
  cmd->add_flag("--json", a.json, "Print JSON: the token ids (start token first), per-token NLL, mean");
  cmd->add_option("--threads", a.threads, "Threads (default: $PLINTH_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  cmd->footer(
      "Example:\n"
      "  plinth score --checkpoint runs/quickstart/checkpoints/best.ckpt --text 'The court held that'\n"
      "  plinth score --checkpoint models/tinyllama --file page.txt --json\n"
      "The text follows the token documents start with (the EOS for plinth's tokenizers, the BOS for a\n"
      "Hugging Face model's); every token of the text is scored, in nats. The text must fit the context.");
  cmd->callback([] { run_score(a); });
}

}  // namespace plinth
