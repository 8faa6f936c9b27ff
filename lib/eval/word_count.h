// Words for word perplexity: maximal runs of non-whitespace, whitespace being what Python's
// str.isspace(), and so lm-evaluation-harness's \s, matches (ASCII and Unicode White_Space, plus
// the separators U+001C..U+001F).
//
// Not the harness's number in every case. The harness counts len(re.split(r"\s+", doc)) over the
// whole document: whitespace runs + 1, which is this count for text that neither starts nor ends
// with whitespace, one more for each end that does (an empty piece, not a word the model had to
// predict, so not counted here), and 1 for empty text (0 here). And this counts whatever text it
// is given: plinth eval passes the decoded text of the scored tokens (evaluator.h, TextMeasure),
// which is a whole document, or only the scored span of a long one, where the harness always
// scores and counts whole documents.
#pragma once

#include <cstdint>
#include <string_view>

namespace plinth::eval {

// Invalid UTF-8 bytes count as non-whitespace.
uint64_t count_words(std::string_view utf8_text);

}  // namespace plinth::eval
