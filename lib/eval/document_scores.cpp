#include "eval/document_scores.h"

#include <numeric>

namespace plinth::eval {

uint64_t DocumentScores::total_tokens() const {
  return std::accumulate(tokens.begin(), tokens.end(), uint64_t{0});
}
uint64_t DocumentScores::total_bytes() const {
  return std::accumulate(bytes.begin(), bytes.end(), uint64_t{0});
}
uint64_t DocumentScores::total_words() const {
  return std::accumulate(words.begin(), words.end(), uint64_t{0});
}

}  // namespace plinth::eval
