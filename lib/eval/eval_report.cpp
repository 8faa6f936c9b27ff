#include "eval/eval_report.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "eval/json_numbers.h"
#include "model/checkpoint_file.h"
#include "util/atomic_file.h"
#include "util/nan.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

// Perplexities of an untrained model on a domain with few words run to 1e100 and beyond:
// past a million, scientific notation keeps the table readable.
std::string cell(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  return std::fabs(v) >= 1e6 ? fmt::format("{:.3e}", v) : fmt::format("{:.{}f}", v, decimals);
}

}  // namespace

double DomainScore::loss() const {
  return tokens ? nll / double(tokens) : kNaN;
}
double DomainScore::perplexity() const {
  return std::exp(loss());
}
double DomainScore::bits_per_byte() const {
  return bytes ? nll / double(bytes) / std::log(2.0) : kNaN;
}
double DomainScore::word_perplexity() const {
  return words ? std::exp(nll / double(words)) : kNaN;
}

MeanScore mean_score(const std::vector<DomainScore>& domains) {
  MeanScore m;
  double loss = 0, bpb = 0, log_wppl = 0;
  size_t scored = 0, with_bytes = 0, with_words = 0;
  for (const auto& d : domains) {
    ++m.domains;
    m.documents += d.documents;
    m.tokens += d.tokens;
    m.bytes += d.bytes;
    m.words += d.words;
    if (d.tokens) loss += d.loss(), ++scored;
    if (d.bytes) bpb += d.bits_per_byte(), ++with_bytes;
    if (d.words) log_wppl += d.nll / double(d.words), ++with_words;
  }
  // A domain without words (counter absent) leaves word perplexity undefined for the mean,
  // rather than averaging over a different set of domains than the other columns.
  m.loss = scored ? loss / double(scored) : kNaN;
  m.perplexity = std::exp(m.loss);
  m.bits_per_byte = with_bytes ? bpb / double(with_bytes) : kNaN;
  m.word_perplexity = with_words && with_words == scored ? std::exp(log_wppl / double(with_words)) : kNaN;
  return m;
}

std::string eval_json(const EvalReport& report) {
  nlohmann::json j;
  j["schema"] = kEvalSchemaVersion;
  j["checkpoint"] = report.checkpoint;
  j["step"] = report.step;
  j["tokenizer_hash"] = report.tokenizer_hash;
  j["model"] = nlohmann::json::parse(model::model_config_json(report.model));
  const EvalSpec& o = report.options;
  j["options"] = {{"context", o.context},
                  {"batch_size", o.batch_size},
                  {"precision", precision_name(o.precision)},
                  {"device", o.device},
                  {"max_tokens", o.max_tokens},
                  {"max_documents", o.max_documents},
                  {"seed", o.seed},
                  {"min_documents", o.min_documents},
                  {"max_document_tokens", o.max_document_tokens}};
  nlohmann::json domains = nlohmann::json::array();
  for (const auto& d : report.domains)
    domains.push_back({{"name", d.name},
                       {"documents", d.documents},
                       {"document_indices", d.docs.index},
                       {"first_tokens", d.docs.first_token},
                       {"tokens", d.tokens},
                       {"bytes", d.bytes},
                       {"words", d.words},
                       {"nll", d.nll},
                       {"loss", number_or_null(d.loss())},
                       {"perplexity", number_or_null(d.perplexity())},
                       {"bits_per_byte", number_or_null(d.bits_per_byte())},
                       {"word_perplexity", number_or_null(d.word_perplexity())}});
  j["domains"] = std::move(domains);
  MeanScore m = mean_score(report.domains);
  j["mean"] = {{"domains", m.domains},
               {"documents", m.documents},
               {"tokens", m.tokens},
               {"bytes", m.bytes},
               {"words", m.words},
               {"loss", number_or_null(m.loss)},
               {"perplexity", number_or_null(m.perplexity)},
               {"bits_per_byte", number_or_null(m.bits_per_byte)},
               {"word_perplexity", number_or_null(m.word_perplexity)}};
  if (!report.notes.empty()) j["notes"] = report.notes;
  return j.dump(2) + "\n";
}

std::string eval_markdown(const EvalReport& report) {
  std::string out = fmt::format("Checkpoint `{}`", report.checkpoint);
  if (report.step >= 0) out += fmt::format(", step {}", report.step);
  out +=
      fmt::format(" ({}, context {}).\n\n", precision_name(report.options.precision), report.options.context);
  out +=
      "| domain | documents | tokens | bytes | words | loss | perplexity | bits/byte | word perplexity |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& name, uint64_t docs, uint64_t tokens, uint64_t bytes, uint64_t words,
                 double loss, double ppl, double bpb, double wppl) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", name, with_commas(docs),
                       with_commas(tokens), with_commas(bytes), words ? with_commas(words) : "n/a",
                       cell(loss, 4), cell(ppl, 2), cell(bpb, 4), cell(wppl, 2));
  };
  for (const auto& d : report.domains)
    row(d.name, d.documents, d.tokens, d.bytes, d.words, d.loss(), d.perplexity(), d.bits_per_byte(),
        d.word_perplexity());
  MeanScore m = mean_score(report.domains);
  row("**mean**", m.documents, m.tokens, m.bytes, m.words, m.loss, m.perplexity, m.bits_per_byte,
      m.word_perplexity);
  out +=
      "\nloss: nats/token; bits/byte: total NLL / UTF-8 bytes / ln 2; mean: domains weighted equally "
      "(counts are totals).\n";
  for (const auto& n : report.notes) out += "\nNote: " + n + "\n";
  return out;
}

void write_eval_report(const EvalReport& report, const std::filesystem::path& dir) {
  write_file_atomic(dir / "eval.json", eval_json(report));
  write_file_atomic(dir / "eval.md", eval_markdown(report));
}

}  // namespace plinth::eval
