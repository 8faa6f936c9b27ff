// plinth suite make RECIPE [--out DIR]: capability probes built from the pretraining domains'
// validation documents (eval/cloze_suite.h): per domain a cloze suite whose distractors come
// from the same domain (<domain>-same) and one whose distractors come from the others
// (<domain>-other), as JSONL files any multiple-choice scorer reads (lm-evaluation-harness too),
// each with a provenance header: the recipe, the tokenizer, the shards and the options.
// A fine-tuning recipe scores them by listing them under eval.suites.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "command.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "eval/cloze_suite.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

// One domain's validation documents as text: each document's tokens decoded, without the EOS
// that ends it and without a stored document-start token.
eval::DomainDocuments validation_texts(const Recipe& r, const tokenizer::Tokenizer& tok,
                                       const std::string& domain) {
  const fs::path shard = data::shard_path(r.data, domain, "val");
  std::error_code ec;
  if (!fs::exists(shard, ec))
    throw BadInput(fmt::format("no validation shard for domain '{}' ({})", domain, shard.string()),
                   fmt::format("run: plinth prepare {}", r.loaded.file.string()));
  data::ShardReader reader = data::ShardReader::open(shard, tok.hash());
  eval::DomainDocuments out{domain, {}};
  std::vector<int64_t> ids;
  std::vector<int32_t> text;
  for (uint64_t d = 0; d < reader.info().documents; ++d) {
    auto [first, last] = reader.document_range(d);
    ids.resize(last - first);
    if (!ids.empty()) reader.read(first, ids.size(), ids.data());
    size_t begin = 0, end = ids.size();
    if (end > begin && ids[end - 1] == tok.eos_id()) --end;
    if (end > begin && tok.document_start_id() != tok.eos_id() && ids[begin] == tok.document_start_id())
      ++begin;
    text.assign(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                ids.begin() + static_cast<std::ptrdiff_t>(end));
    out.documents.push_back(tok.decode(text));
  }
  return out;
}

void run_suite_make(const RecipeArgs& args, const std::string& out_arg) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;
  eval::ClozeOptions options;
  {
    Diagnostics diag;
    ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
    ConfigSection suites = root.child("suites");
    ConfigSection cloze = suites.child("cloze");
    eval::bind(cloze, options);
    suites.finish();
    diag.throw_if_any();
  }
  const auto tok = load_recipe_tokenizer(r);
  std::vector<eval::DomainDocuments> domains;
  nlohmann::ordered_json shards = nlohmann::ordered_json::object();
  for (const auto& d : r.data.domains) {
    domains.push_back(validation_texts(r, tok, d.name));
    const fs::path shard = data::shard_path(r.data, d.name, "val");
    shards[d.name] = {{"path", shard.string()}, {"documents", domains.back().documents.size()}};
  }
  // Beside the shards folder they come from (data.shards = data/shards: data/suites), not in it,
  // where a domain could bear the name.
  const fs::path dir = out_arg.empty() ? fs::path(r.data.shards).parent_path() / "suites" : fs::path(out_arg);
  fs::create_directories(dir);
  // The cloze suites are read by acc_mutual_info (suite_result.h): on a small base the choice's own
  // likelihood outweighs what the query adds, and plain acc stays near chance (docs/forgetting.md).
  nlohmann::ordered_json provenance = {{"made_by", "plinth suite make"},
                                       {"metric", "acc_mutual_info"},
                                       {"recipe", r.loaded.file.string()},
                                       {"tokenizer", r.tokenizer.model_file()},
                                       {"tokenizer_hash", hex64(tok.hash())},
                                       {"validation_shards", shards},
                                       {"options",
                                        {{"questions", options.questions},
                                         {"choices", options.choices},
                                         {"query_chars", options.query_chars},
                                         {"min_answer_chars", options.min_answer_chars},
                                         {"max_answer_chars", options.max_answer_chars},
                                         {"seed", options.seed},
                                         {"cut", options.cut == eval::ClozeCutAt::kWord ? "word" : "line"}}}};
  size_t written = 0;
  for (const eval::MadeSuite& suite : eval::make_cloze_suites(domains, options)) {
    if (suite.questions.empty()) {
      log::warn(
          "suite {}: no question could be cut from the validation documents of '{}' ({} cuts tried); "
          "not written (lower suites.cloze.min_answer_chars, or give the domain more validation text)",
          suite.name, suite.domain, suite.candidates_seen);
      continue;
    }
    const fs::path file = dir / (suite.name + ".jsonl");
    write_file_atomic(file, eval::suite_jsonl(suite, provenance.dump()));
    ++written;
    log::info("{:<24} {} questions, {} choices each{}", file.string(), suite.questions.size(),
              options.choices,
              suite.questions.size() < options.questions
                  ? fmt::format(" (fewer than {}: the documents gave no more)", options.questions)
                  : "");
  }
  log::info("wrote {} suites into {}; score them with a fine-tuning recipe's eval.suites", written,
            dir.string());
}

}  // namespace

void add_suite_command(CLI::App& app) {
  auto* suite = app.add_subcommand("suite", "Capability suites: multiple-choice probes for plinth eval");
  suite->require_subcommand(1);
  auto* make = suite->add_subcommand(
      "make", "Cloze suites from every domain's validation documents (<domain>-same, <domain>-other)");
  static RecipeArgs args;
  static std::string out;
  add_recipe_args(*make, args,
                  "plinth suite make recipes/pretrain/quickstart.yaml suites.cloze.questions=100");
  make->add_option("--out", out,
                   "Folder for the suite files (default: suites/ beside the data.shards folder)");
  make->footer(
      "Recipe keys (suites.cloze): questions (200), choices (4), query_chars (300), min_answer_chars (20),\n"
      "max_answer_chars (120), seed (0), cut (word). A question is a passage of a validation document that\n"
      "ends inside a line or sentence, at a word boundary (cut: word), or at its end (cut: line); the gold\n"
      "choice is the rest of that line or sentence (the next one); the distractors are such texts of about\n"
      "the same length from other documents of the same domain (-same) or of the other domains (-other).\n"
      "List the files under eval.suites of a fine-tuning recipe to score them;\n"
      "their header names acc_mutual_info as the metric the report leads with and the gate reads.");
  make->callback([] { run_suite_make(args, out); });
}

}  // namespace plinth
