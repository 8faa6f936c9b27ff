#include "data/tokenizer_training.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>

#include "data/corpus_reader.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/text.h"

namespace plinth::data {

namespace {

// Appends `doc` to `out` as sentences of at most `max_bytes`, cut after newlines where
// possible and never inside a UTF-8 sequence.
void cut_sentences(const std::string& doc, size_t max_bytes, std::vector<std::string>& out) {
  size_t pos = 0;
  while (pos < doc.size()) {
    size_t end = std::min(doc.size(), pos + max_bytes);
    if (end < doc.size()) {
      size_t nl = doc.rfind('\n', end - 1);
      if (nl != std::string::npos && nl >= pos + max_bytes / 4) end = nl + 1;
      while (end > pos + 1 && (static_cast<unsigned char>(doc[end]) & 0xC0) == 0x80) --end;
    }
    out.emplace_back(doc, pos, end - pos);
    pos = end;
  }
}

// <tokenizer>.provenance.yaml: what the tokenizer was trained on and with, and the recipe that made it.
std::string provenance_yaml(const tokenizer::TokenizerSpec& spec, const TokenizerTrainingReport& report,
                            const std::string& recipe_file, uint64_t recipe_hash,
                            const std::string& recipe_yaml) {
  std::string y = "# Provenance of this tokenizer, written by `plinth tokenizer train`.\n";
  y += fmt::format("recipe: {}\nrecipe_hash: \"{}\"\ntokenizer_hash: \"{}\"\n", yaml_quote(recipe_file),
                   hex64(recipe_hash), hex64(report.tokenizer_hash));
  const auto& t = spec.train;
  y += fmt::format(
      "options:\n  type: {}\n  vocab_size: {}\n  character_coverage: {}\n  byte_fallback: {}\n"
      "  split_digits: {}\n  sample_bytes: {}\n  max_sentence_bytes: {}\n  user_defined_symbols: [",
      t.model_type, t.vocab_size, t.character_coverage, t.byte_fallback, t.split_digits, spec.sample_bytes,
      spec.max_sentence_bytes);
  for (size_t i = 0; i < t.user_defined_symbols.size(); ++i)
    y += (i ? ", " : "") + yaml_quote(t.user_defined_symbols[i]);
  y += fmt::format("]\nsampled_bytes: {}\nsentences: {}\ndomains:\n", report.sampled_bytes, report.sentences);
  for (const auto& d : report.domains)
    y += fmt::format(
        "  - name: {}\n    weight: {}\n    available_bytes: {}\n    sampled_bytes: {}\n"
        "    documents: {}\n",
        d.name, d.weight, d.available_bytes, d.sampled_bytes, d.documents);
  y += "# The merged recipe that made it:\nrecipe_snapshot:\n";
  for (const auto& line : split(recipe_yaml, '\n'))
    if (!line.empty()) y += "  " + line + "\n";
  return y;
}

}  // namespace

TokenizerTrainingReport train_tokenizer(const tokenizer::TokenizerSpec& spec, const DataSpec& data,
                                        const std::string& recipe_file, uint64_t recipe_hash,
                                        const std::string& recipe_yaml) {
  // A model folder's tokenizer (a Hugging Face model's) is the model's: never overwritten.
  const std::filesystem::path folder = std::filesystem::path(spec.model_file()).parent_path();
  std::error_code ec;
  if (!folder.empty() && (std::filesystem::exists(folder / "config.json", ec) ||
                          std::filesystem::exists(folder / "tokenizer_config.json", ec)))
    throw BadInput(
        fmt::format("{} belongs to the model folder {}: it is that model's tokenizer, not one plinth trains",
                    spec.model_file(), folder.string()),
        "skip `plinth tokenizer train` for this recipe: prepare, finetune and eval use the model's tokenizer "
        "as it "
        "is (docs/hf-interop.md)");
  auto start = std::chrono::steady_clock::now();
  TokenizerTrainingReport report;
  double total_weight = 0;
  for (const auto& d : data.domains) total_weight += d.weight;

  std::vector<std::string> sentences;
  for (const auto& domain : data.domains) {
    // One domain in memory at a time: its train documents, then a hash-chosen sample of
    // them sized to its share of sample_bytes.
    std::vector<std::string> docs;
    DomainSample sample{domain.name, domain.weight};
    read_domain(domain, [&](Document&& doc) {
      if (is_validation(doc.text, data.val_fraction, data.split_seed)) return;
      sample.available_bytes += doc.text.size();
      docs.push_back(std::move(doc.text));
    });
    double share = total_weight > 0 ? spec.sample_bytes * domain.weight / total_weight : 0;
    double keep = sample.available_bytes ? std::min(1.0, share / sample.available_bytes) : 0;
    for (const auto& doc : docs) {
      if (keep < 1.0 && hash_unit(doc, 0x70c0) >= keep) continue;
      sample.sampled_bytes += doc.size();
      ++sample.documents;
      cut_sentences(doc, static_cast<size_t>(spec.max_sentence_bytes), sentences);
    }
    log::info("  {:<14} {:>10} of {:>10} sampled ({} documents)", domain.name,
              format_bytes(sample.sampled_bytes), format_bytes(sample.available_bytes),
              with_commas(sample.documents));
    report.sampled_bytes += sample.sampled_bytes;
    report.domains.push_back(sample);
  }
  report.sentences = sentences.size();

  log::info("training a {} tokenizer, vocabulary {}, on {} ({} sentences)", spec.train.model_type,
            spec.train.vocab_size, format_bytes(report.sampled_bytes), with_commas(sentences.size()));
  size_t next = 0;
  tokenizer::Tokenizer::train(
      spec.train,
      [&](std::string& s) {
        if (next >= sentences.size()) return false;
        s = std::move(sentences[next++]);
        return true;
      },
      spec.model);
  report.tokenizer_hash = hash_file(spec.model_file());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  write_file_atomic(spec.provenance_file(),
                    provenance_yaml(spec, report, recipe_file, recipe_hash, recipe_yaml));
  return report;
}

uint64_t provenance_recipe_hash(const tokenizer::TokenizerSpec& spec) {
  std::ifstream in(spec.provenance_file());
  std::string line;
  while (std::getline(in, line)) {
    if (!starts_with(line, "recipe_hash:")) continue;
    std::string v(trim(line.substr(12)));
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    return std::strtoull(v.c_str(), nullptr, 16);
  }
  return 0;
}

}  // namespace plinth::data
