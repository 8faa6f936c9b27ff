// Words for word perplexity: maximal runs of non-whitespace, whitespace as Python's
// str.isspace() (ASCII and Unicode White_Space, plus the separators U+001C..U+001F), since
// lm-evaluation-harness splits on Python's \s. Unlike its len(re.split(r"\s+", doc)), leading
// or trailing whitespace does not count an extra empty word: most files end with a newline,
// and an empty field is not a word the model had to predict.
#pragma once

#include <cstdint>
#include <string_view>

namespace plinth::eval {

// Invalid UTF-8 bytes count as non-whitespace.
uint64_t count_words(std::string_view utf8_text);

}  // namespace plinth::eval
