// What a recipe says about a text domain and where its text comes from (recipe `data.domains`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/config_section.h"
#include "util/error.h"

namespace plinth::data {

// How a source's text is cut into documents.
enum class DocumentRule {
  File,       // one document per file (code, licenses)
  BlankLine,  // paragraphs separated by one or more blank lines
  Separator,  // a line matching `separator` ends a document and is dropped (fortune files: ^%$)
  Start,      // a line matching `separator` begins a new document and is kept (dictionary headwords)
  Line,       // every non-empty line is a document
};

struct SourceSpec {
  std::string path;             // a file, a directory (walked recursively) or a glob (*, ?, **)
  std::string format = "auto";  // auto | text | jsonl | tsv (auto: .jsonl/.tsv by extension, else text)
  std::string field = "text";   // jsonl: the string field holding a document
  int column = 0;               // tsv: 0-based column holding a document
  DocumentRule documents = DocumentRule::File;
  std::string separator;             // regex (util/regex.h), for Separator and Start
  std::vector<std::string> include;  // a file must match one (if any given); see glob_match
  std::vector<std::string> exclude;  // a file matching one is skipped
  uint64_t max_bytes = 0;            // cap on this source's document bytes; 0 = none
  std::string on_binary = "error";   // error | skip: a file that is not text
  std::string on_bad_record =
      "error";  // error | skip: a JSONL line that is not JSON / lacks the field, a TSV row lacking the column
  Location where;  // the recipe node, for messages
};

struct DomainSpec {
  std::string name;     // [a-z0-9_-]+, unique; names the shards and report rows
  double weight = 1.0;  // sampling weight in the pretraining mixture and tokenizer training
  std::vector<SourceSpec> sources;
  uint64_t max_bytes = 0;  // cap on the domain's document bytes; 0 = none
  Location where;
};

// Bind one source / domain mapping. Records every problem in the section's diagnostics:
// unknown keys, bad choices, a separator regex that does not compile or is missing for
// Separator/Start, a path that does not exist, a glob that matches no file.
void bind(ConfigSection& s, SourceSpec& spec);
void bind(ConfigSection& s, DomainSpec& spec);

}  // namespace plinth::data
