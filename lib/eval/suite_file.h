// Capability suites: multiple-choice questions in a JSONL file, one question a line:
//   {"query": "The capital of France is", "choices": ["Paris", "Rome"], "gold": 0}
// (the format of llm-foundry's in-context-learning evals). Other keys on a line are kept out of
// the way (ignored), so a file written for another tool still reads. A line holding only
// whitespace is skipped; a first line {"plinth_suite": {...}} (the first that is not blank) is a
// provenance header (what made the file: `plinth suite make` writes one) and is not a question.
// Lines may end in CRLF. No torch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace plinth::eval {

struct SuiteQuestion {
  std::string query;                 // the context the choices continue
  std::vector<std::string> choices;  // at least two
  int64_t gold = 0;                  // index of the right choice
  uint64_t line = 0;                 // 1-based line of the file, for messages
};

struct SuiteFile {
  std::filesystem::path path;
  std::vector<SuiteQuestion> questions;  // in file order; a question's index is its place here
  std::string provenance;                // the header line's "plinth_suite" object as JSON text, or ""
};

// BadInput (exit 2) naming the file, the line and the field, with a fix, for: a file that cannot
// be read, a line that is not a JSON object, no `query` (or not a string), `choices` missing, not
// a list of strings, empty or of one element, a choice that is "" (no characters for acc_norm, no
// tokens to score), `gold` missing, not an integer (1.0 and true included) or out of range, text
// that is not UTF-8, and a file with no question. `suite` names the suite in messages.
SuiteFile read_suite_file(const std::filesystem::path& path, const std::string& suite);

// The questions scored: a seeded random sample of `count` (0 or more than there are: all),
// drawn as the domains' documents are (document_sample.h), returned in sample order, so that every
// fine-tune scored with the same seed answers the same questions.
std::vector<uint64_t> suite_sample(size_t questions, uint64_t count, uint64_t seed, const std::string& suite);

// The length of `text` in Unicode code points: what Python's len() gives for a str, and so the
// length lm-evaluation-harness divides a choice's log-likelihood by for acc_norm.
uint64_t code_points(const std::string& text);

}  // namespace plinth::eval
