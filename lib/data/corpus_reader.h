// Reads the documents of a domain from its sources: files, directories and globs; plain,
// gzip or dictzip (.gz, .dz) text; JSONL fields and TSV columns; document rules; byte caps.
// Text is made valid UTF-8 on the way in: NUL bytes are dropped and each invalid sequence
// becomes U+FFFD, both counted, so bad bytes are reported and never crash a tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/corpus_spec.h"

namespace plinth::data {

struct Document {
  std::string text;    // valid UTF-8, never empty
  std::string origin;  // "path" or "path:line" where the document starts, for messages
};

struct ReadStats {
  uint64_t files = 0;
  uint64_t documents = 0;
  uint64_t bytes = 0;                 // UTF-8 bytes of the documents delivered
  uint64_t invalid_utf8 = 0;          // invalid sequences replaced by U+FFFD
  uint64_t nul_bytes = 0;             // NUL bytes dropped
  uint64_t binary_files_skipped = 0;  // on_binary: skip
  uint64_t bad_records_skipped = 0;   // on_bad_record: skip
  uint64_t empty_documents = 0;       // whitespace-only documents dropped
  bool capped = false;                // a max_bytes cap stopped reading early

  void merge(const ReadStats& other);
};

// True when `pattern` matches: a pattern without '/' is matched against the file name,
// one with '/' against the path relative to the source root; '*' and '?' do not cross
// '/', '**' matches any number of directories.
bool glob_match(const std::string& pattern, const std::string& path);

// Every file a source names, sorted by path, after include/exclude. A directory is walked
// recursively; a path with *, ? or [ is a glob, walked from its longest literal prefix. Only
// regular files (and links to them) are listed; directory links are not entered, so a walk
// cannot loop, and a file reached under two names (fortune's x.u8 -> x) is listed once, under
// the first. Throws BadInput (naming spec.where) when the path does not exist or nothing
// matches.
std::vector<std::filesystem::path> list_source_files(const SourceSpec& spec);

// Calls `sink` for each document of the domain, in a stable order (sources in recipe order,
// files sorted), until the caps are reached; a document that would cross a cap is cut at
// the cap on a UTF-8 boundary. Throws BadInput: a binary file with on_binary: error (file
// named, hint to exclude it), a bad record with on_bad_record: error (file:line), or a
// domain that yields no document at all.
using DocumentSink = std::function<void(Document&&)>;
ReadStats read_domain(const DomainSpec& domain, const DocumentSink& sink);

// One source alone, with `budget` bytes left (0 = unlimited); used by read_domain.
ReadStats read_source(const SourceSpec& source, uint64_t budget, const DocumentSink& sink);

// Makes `text` valid UTF-8 in place; returns the number of invalid sequences replaced and
// adds the NUL bytes dropped to `nul_bytes`.
uint64_t sanitize_utf8(std::string& text, uint64_t& nul_bytes);

}  // namespace plinth::data
