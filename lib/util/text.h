// Small string helpers shared by every layer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plinth {

// Levenshtein distance, for did-you-mean suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// "did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// Byte counts for humans: 1536 -> "1.5 KiB".
std::string format_bytes(uint64_t bytes);

// Parses "123", "64K", "64KiB", "1.5MB", "2G" (binary multiples: K = 1024). Returns false on bad text.
bool parse_byte_size(std::string_view text, uint64_t& out);

std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char sep);

}  // namespace plinth

namespace plinth {

// A YAML double-quoted scalar: "a\nb" -> "\"a\\nb\"". Safe for any UTF-8 string.
std::string yaml_quote(std::string_view s);

// 1234567 -> "1,234,567".
std::string with_commas(uint64_t v);

// Text for one cell of a Markdown table: '|' escaped, line breaks and tabs as spaces.
std::string markdown_cell(std::string_view s);

}  // namespace plinth
