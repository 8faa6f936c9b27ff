#include "eval/document_sample.h"

#include <algorithm>
#include <numeric>

#include "util/hash.h"

namespace plinth::eval {

namespace {

uint64_t document_key(uint64_t seed, const std::string& domain, uint64_t index, std::string_view purpose) {
  Hasher h(seed);
  h.field(domain).field(index).field(purpose);
  return h.digest();
}

}  // namespace

std::vector<uint64_t> sample_order(uint64_t documents, uint64_t seed, const std::string& domain) {
  std::vector<std::pair<uint64_t, uint64_t>> keyed(documents);  // (key, index)
  for (uint64_t i = 0; i < documents; ++i) keyed[i] = {document_key(seed, domain, i, "order"), i};
  std::sort(keyed.begin(), keyed.end());  // ties (never seen) fall back to the index
  std::vector<uint64_t> order(documents);
  for (uint64_t i = 0; i < documents; ++i) order[i] = keyed[i].second;
  return order;
}

std::vector<RollingWindow> sampled_windows(uint64_t tokens, int64_t context, uint64_t max_tokens_per_document,
                                           uint64_t seed, const std::string& domain, uint64_t index) {
  std::vector<RollingWindow> all = rolling_windows(tokens, context);
  if (max_tokens_per_document == 0 || tokens <= max_tokens_per_document) return all;
  const size_t k = std::max<size_t>(1, max_tokens_per_document / static_cast<uint64_t>(context));
  if (k >= all.size()) return all;
  const size_t starts = all.size() - k + 1;
  const size_t start = document_key(seed, domain, index, "span") % starts;
  return {all.begin() + static_cast<std::ptrdiff_t>(start),
          all.begin() + static_cast<std::ptrdiff_t>(start + k)};
}

uint64_t effective_document_cap(uint64_t max_tokens_per_document, uint64_t max_tokens, uint64_t min_documents,
                                int64_t context) {
  uint64_t cap = max_tokens_per_document;
  if (max_tokens && min_documents) {
    const uint64_t share = max_tokens / min_documents;
    cap = cap ? std::min(cap, share) : share;
  }
  if (cap == 0) return 0;
  return std::max<uint64_t>(cap, static_cast<uint64_t>(context));
}

}  // namespace plinth::eval

namespace plinth::eval {

uint64_t bootstrap_seed(uint64_t sample_seed, const std::string& units) {
  Hasher h(sample_seed);
  h.field(units).field("bootstrap");
  return h.digest();
}

}  // namespace plinth::eval
