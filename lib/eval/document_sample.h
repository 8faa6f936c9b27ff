// Which validation documents a domain is scored on, and which part of a long one: a seeded
// random sample, the same for every model scored with the same seed (so base, tuned and a later
// baseline are paired document by document). No torch here.
//
// Order: every document of the shard gets the key hash(seed, domain, index); documents are taken
// in increasing key order. The order depends only on the seed, the domain's name and the number
// of documents, so a sample of n documents is always the first n of the same order: a larger
// sample contains every smaller one drawn with the same seed.
//
// Long documents: a document with more text tokens than `max_tokens_per_document` is scored on a
// span of whole rolling windows (rolling_windows.h) rather than on all of them, so that one book
// does not eat a domain's budget. The span is k = max(1, max_tokens_per_document / context)
// consecutive windows starting at window hash(seed, domain, index, "span") mod (windows - k + 1).
// Its first window is the document's first when the start is 0; a later window predicts its
// tokens from the token just before it, as rolling windows always do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/rolling_windows.h"

namespace plinth::eval {

// The shard's document indices in sampling order (a permutation of 0..documents-1).
std::vector<uint64_t> sample_order(uint64_t documents, uint64_t seed, const std::string& domain);

// The windows of document `index` (of `tokens` text tokens) that are scored. 0 for
// max_tokens_per_document = every window.
std::vector<RollingWindow> sampled_windows(uint64_t tokens, int64_t context, uint64_t max_tokens_per_document,
                                           uint64_t seed, const std::string& domain, uint64_t index);

// The per-document cap in effect: max_tokens_per_document, lowered so that min_documents whole
// caps fit in max_tokens (both 0 = no limit), and never below one window (context tokens).
uint64_t effective_document_cap(uint64_t max_tokens_per_document, uint64_t max_tokens, uint64_t min_documents,
                                int64_t context);

}  // namespace plinth::eval

namespace plinth::eval {

// The seed of the bootstrap over a set of units ("domain:<name>", "task"), from the sample's seed:
// every reader of a report draws the same replicates.
uint64_t bootstrap_seed(uint64_t sample_seed, const std::string& units);

}  // namespace plinth::eval
