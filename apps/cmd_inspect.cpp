// plinth inspect RECIPE: per domain, what the shards hold.
#include <fmt/format.h>

#include "command.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"

namespace plinth {

namespace {

void run_inspect(const RecipeArgs& args) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;
  // Shards are opened in full: header, size, both checksums, and the tokenizer they were
  // made with (when the recipe's tokenizer exists). A few ms per 10M tokens.
  std::error_code ec;
  uint64_t tokenizer_hash = std::filesystem::exists(r.tokenizer.model_file(), ec)
                                ? tokenizer::Tokenizer::load(r.tokenizer.model_file()).hash()
                                : 0;
  std::vector<std::string> missing;
  fmt::print("{:<14} {:>10} {:>11} {:>13} {:>11} {:>9}\n", "domain", "documents", "bytes", "tokens",
             "bytes/token", "val share");
  uint64_t docs = 0, bytes = 0, tokens = 0, val_tokens = 0;
  for (const auto& domain : r.data.domains) {
    auto m = data::read_manifest(r.data, domain.name);
    if (!m) {
      missing.push_back(domain.name);
      continue;
    }
    // The shards are the truth; the manifest adds what the corpus reader saw.
    data::ShardInfo train =
        data::ShardReader::open(data::shard_path(r.data, domain.name, "train"), tokenizer_hash).info();
    data::ShardInfo val =
        data::ShardReader::open(data::shard_path(r.data, domain.name, "val"), tokenizer_hash).info();
    uint64_t d = train.documents + val.documents, b = train.text_bytes + val.text_bytes,
             t = train.tokens + val.tokens;
    fmt::print("{:<14} {:>10} {:>11} {:>13} {:>11.2f} {:>8.1f}%\n", domain.name, with_commas(d),
               format_bytes(b), with_commas(t), t ? double(b) / t : 0.0, t ? 100.0 * val.tokens / t : 0.0);
    docs += d;
    bytes += b;
    tokens += t;
    val_tokens += val.tokens;
    const auto& rs = m->read;
    if (rs.invalid_utf8 || rs.nul_bytes || rs.binary_files_skipped || rs.bad_records_skipped || rs.capped) {
      std::vector<std::string> notes;
      if (rs.capped) notes.push_back("capped by max_bytes");
      if (rs.invalid_utf8)
        notes.push_back(fmt::format("{} invalid UTF-8 sequences replaced", rs.invalid_utf8));
      if (rs.nul_bytes) notes.push_back(fmt::format("{} NUL bytes dropped", rs.nul_bytes));
      if (rs.binary_files_skipped)
        notes.push_back(fmt::format("{} binary files skipped", rs.binary_files_skipped));
      if (rs.bad_records_skipped)
        notes.push_back(fmt::format("{} bad records skipped", rs.bad_records_skipped));
      std::string line;
      for (const auto& n : notes) line += (line.empty() ? "" : "; ") + n;
      fmt::print("  ({})\n", line);
    }
  }
  fmt::print("{:<14} {:>10} {:>11} {:>13} {:>11.2f} {:>8.1f}%\n", "total", with_commas(docs),
             format_bytes(bytes), with_commas(tokens), tokens ? double(bytes) / tokens : 0.0,
             tokens ? 100.0 * val_tokens / tokens : 0.0);
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
    throw BadInput(fmt::format("not prepared yet: {}", names),
                   fmt::format("run: plinth prepare {}", r.loaded.file.string()));
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Per domain: documents, bytes, tokens, bytes/token, val share");
  static RecipeArgs args;
  add_recipe_args(*cmd, args, "plinth inspect recipes/data/debian.yaml");
  cmd->callback([] { run_inspect(args); });
}

}  // namespace plinth
