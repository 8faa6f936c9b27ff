// `plinth prepare`: every domain tokenized into <shards>/<domain>/{train,val}.bin, with a
// manifest.json recording what went in. A domain whose inputs (file contents, source
// options, tokenizer, split) are unchanged is not redone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus_reader.h"
#include "data/data_spec.h"
#include "tokenizer/tokenizer.h"

namespace plinth::data {

struct SplitStats {
  uint64_t documents = 0;
  uint64_t bytes = 0;   // UTF-8 bytes of the documents' text
  uint64_t tokens = 0;  // including one EOS per document
};

struct DomainShards {
  std::string name;
  SplitStats train, val;
  ReadStats read;  // what the corpus reader saw: files, invalid UTF-8, NUL bytes, skips, caps
  uint64_t fingerprint = 0;
  uint64_t tokenizer_hash = 0;
  bool reused = false;  // inputs unchanged: the existing shards were kept
  double seconds = 0;
};

struct PrepareOptions {
  bool force = false;             // redo every domain even when its inputs are unchanged
  std::vector<std::string> only;  // domain names to prepare; empty = all
};

std::filesystem::path domain_dir(const DataSpec& data, const std::string& domain);
std::filesystem::path shard_path(const DataSpec& data, const std::string& domain, const std::string& split);

// Token width the recipe asks for, checked against the vocabulary. Throws BadInput when
// uint16 is asked for and the vocabulary is larger than 65536.
uint32_t resolve_token_width(const DataSpec& data, int vocab_size);

std::vector<DomainShards> prepare_shards(const DataSpec& data, const tokenizer::Tokenizer& tok,
                                         const PrepareOptions& options = {});

// What a previous prepare recorded for a domain; nullopt when it has not been prepared.
std::optional<DomainShards> read_manifest(const DataSpec& data, const std::string& domain);

// One hash of what every domain's shards were made from (the manifests' fingerprints: file
// contents, source options, tokenizer, split), recorded in checkpoints so that `plinth run`
// notices a run made from other data. A domain not prepared yet counts as "missing".
uint64_t shards_fingerprint(const DataSpec& data);

}  // namespace plinth::data
