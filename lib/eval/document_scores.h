// Per-document scores of a domain's sample: the columns the report's numbers and their
// intervals are computed from (bootstrap.h), kept in report.json so that any reader can redo
// them. One entry per scored document, in sample order (document_sample.h). No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plinth::eval {

struct DocumentScores {
  std::vector<uint64_t> index;        // the document's index in the validation shard
  std::vector<uint64_t> first_token;  // its first scored text token (0 unless a span of a long one)
  std::vector<uint64_t> tokens;       // scored text tokens
  std::vector<uint64_t> bytes;        // UTF-8 bytes of their text
  std::vector<uint64_t> words;        // whitespace-separated words of their text (0 when not counted)
  std::vector<double> base_nll;       // summed next-token NLL of the (first or only) model, nats
  // Only when two models were scored on the same windows (base and tuned):
  std::vector<double> tuned_nll;  // summed NLL of the tuned model, nats
  std::vector<double> kl;         // summed KL(base || tuned) of the next-token distributions, nats
  std::vector<uint64_t> agree;    // positions where both models' most likely next token is the same

  bool paired = false;  // two models were scored: tuned_nll, kl and agree are filled

  size_t size() const { return index.size(); }
  // Totals over every document.
  uint64_t total_tokens() const;
  uint64_t total_bytes() const;
  uint64_t total_words() const;
};

}  // namespace plinth::eval
