#include "data/prepare.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/shard.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"
#include "util/threads.h"

namespace plinth::data {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kManifestVersion = 1;

struct FileStamp {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t hash = 0;
};

// Content hashes of a domain's files. A file whose size and mtime match the previous
// manifest keeps its recorded hash (git's index does the same); any other file is read.
std::vector<FileStamp> stamp_files(const DomainSpec& domain, const json* previous) {
  std::vector<FileStamp> out;
  for (const auto& source : domain.sources) {
    for (const fs::path& p : list_source_files(source)) {
      struct stat st {};
      FileStamp f{p.string()};
      if (::stat(p.c_str(), &st) == 0) {
        f.size = static_cast<uint64_t>(st.st_size);
        f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      }
      bool known = false;
      if (previous && previous->contains("files"))
        for (const auto& old : (*previous)["files"])
          if (old.is_object() && old.value("path", "") == f.path && old.value("size", 0ull) == f.size &&
              old.value("mtime_ns", 0ll) == f.mtime_ns) {
            const auto recorded = parse_hex64(old.value("hash", std::string()));
            if (!recorded) break;  // a damaged entry: hash the file
            f.hash = *recorded;
            known = true;
            break;
          }
      if (!known) f.hash = hash_file(p);
      out.push_back(std::move(f));
    }
  }
  return out;
}

// Everything that decides a domain's shards' bytes.
uint64_t fingerprint(const DataSpec& data, const DomainSpec& d, const std::vector<FileStamp>& files,
                     uint64_t tokenizer_hash, uint32_t width) {
  Hasher h;
  h.field(static_cast<uint64_t>(kManifestVersion)).field(d.name).field(d.max_bytes);
  for (const auto& s : d.sources) {
    h.field(s.path).field(s.format).field(s.field).field(static_cast<uint64_t>(s.column));
    h.field(static_cast<uint64_t>(s.documents)).field(s.separator).field(s.max_bytes);
    h.field(s.on_binary).field(s.on_bad_record);
    for (const auto& g : s.include) h.field("+" + g);
    for (const auto& g : s.exclude) h.field("-" + g);
  }
  for (const auto& f : files) h.field(f.path).field(f.hash);
  h.field(fmt::format("{:.17g}", data.val_fraction)).field(data.split_seed);
  h.field(tokenizer_hash).field(static_cast<uint64_t>(width));
  return h.digest();
}

json split_json(const SplitStats& s) {
  return {{"documents", s.documents}, {"bytes", s.bytes}, {"tokens", s.tokens}};
}

SplitStats split_from(const json& j) {
  return {j.value("documents", 0ull), j.value("bytes", 0ull), j.value("tokens", 0ull)};
}

// A manifest's record of a domain; nullopt for another version or a missing hash. Throws
// json::exception for values of the wrong type.
std::optional<DomainShards> manifest_from(const json& m, const std::string& domain) {
  if (!m.is_object() || m.value("version", 0) != kManifestVersion) return std::nullopt;
  DomainShards d;
  d.name = domain;
  d.train = split_from(m.at("train"));
  d.val = split_from(m.at("val"));
  const auto fingerprint = parse_hex64(m.value("fingerprint", std::string()));
  const auto tokenizer_hash = parse_hex64(m.value("tokenizer_hash", std::string()));
  if (!fingerprint || !tokenizer_hash) return std::nullopt;
  d.fingerprint = *fingerprint;
  d.tokenizer_hash = *tokenizer_hash;
  const json& r = m.at("read");
  d.read.files = r.value("files", 0ull);
  d.read.documents = r.value("documents", 0ull);
  d.read.bytes = r.value("bytes", 0ull);
  d.read.invalid_utf8 = r.value("invalid_utf8", 0ull);
  d.read.nul_bytes = r.value("nul_bytes", 0ull);
  d.read.binary_files_skipped = r.value("binary_files_skipped", 0ull);
  d.read.bad_records_skipped = r.value("bad_records_skipped", 0ull);
  d.read.empty_documents = r.value("empty_documents", 0ull);
  d.read.capped = r.value("capped", false);
  return d;
}

json read_json(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return json();
  try {
    return json::parse(read_file(p));
  } catch (const json::exception&) {
    return json();  // a damaged manifest only means the domain is prepared again
  }
}

// Encodes documents on `threads` threads; output order = input order. Work is handed out
// in units of at most ~64 KiB (long documents cut after a newline, exact for tokenizers that
// segment there), taken dynamically, so one 2 MB licence file does not idle the other cores.
void encode_batch(const tokenizer::Tokenizer& tok, const std::vector<Document>& docs,
                  std::vector<std::vector<int32_t>>& ids, int threads) {
  constexpr size_t kUnitBytes = 64 << 10;
  struct Unit {
    size_t doc;
    std::string_view text;
  };
  std::vector<Unit> units;
  for (size_t d = 0; d < docs.size(); ++d) {
    std::string_view text = docs[d].text;
    while (tok.segments_at_newlines() && text.size() > 2 * kUnitBytes) {
      size_t nl = text.find('\n', kUnitBytes);
      if (nl == std::string_view::npos) break;
      units.push_back({d, text.substr(0, nl + 1)});
      text.remove_prefix(nl + 1);
    }
    units.push_back({d, text});
  }
  std::vector<std::vector<int32_t>> unit_ids(units.size());
  parallel_for(units.size(), threads, [&](size_t i) { tok.encode(units[i].text, unit_ids[i]); });

  ids.assign(docs.size(), {});
  for (size_t i = 0; i < units.size(); ++i) {
    auto& out = ids[units[i].doc];
    if (out.empty())
      out.swap(unit_ids[i]);
    else
      out.insert(out.end(), unit_ids[i].begin(), unit_ids[i].end());
  }
  // [t..., EOS] per document; [BOS, t..., EOS] where the tokenizer's documents start with their own
  // token (tokenizer/document_convention.h).
  for (auto& out : ids) {
    if (tok.stores_document_start()) out.insert(out.begin(), tok.document_start_id());
    out.push_back(tok.eos_id());
  }
}

}  // namespace

fs::path domain_dir(const DataSpec& data, const std::string& domain) {
  return fs::path(data.shards) / domain;
}

fs::path shard_path(const DataSpec& data, const std::string& domain, const std::string& split) {
  return domain_dir(data, domain) / (split + ".bin");
}

uint32_t resolve_token_width(const DataSpec& data, int vocab_size) {
  if (data.token_type == "uint32") return 4;
  if (data.token_type == "uint16") {
    if (vocab_size > 65536)
      throw BadInput(fmt::format("data.token_type is uint16, but the tokenizer's vocabulary of {} "
                                 "does not fit in 16 bits",
                                 vocab_size),
                     "set data.token_type: auto (or uint32)");
    return 2;
  }
  return token_width_for(static_cast<uint32_t>(vocab_size));
}

std::optional<DomainShards> read_manifest(const DataSpec& data, const std::string& domain) {
  json m = read_json(domain_dir(data, domain) / "manifest.json");
  // A value of the wrong type (a damaged manifest) throws json::type_error: as if not prepared.
  try {
    return manifest_from(m, domain);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

uint64_t shards_fingerprint(const DataSpec& data) {
  Hasher h;
  for (const DomainSpec& d : data.domains) {
    h.field(d.name);
    const auto m = read_manifest(data, d.name);
    if (m)
      h.field(m->fingerprint);
    else
      h.field("missing");
  }
  return h.digest();
}

namespace {

// The domain's manifest as the last prepare wrote it, or null: a manifest with values of the
// wrong type counts as none (the domain is redone).
json previous_manifest(const fs::path& dir, const std::string& domain) {
  json previous = read_json(dir / "manifest.json");
  try {
    if (previous.is_object()) (void)manifest_from(previous, domain), (void)previous.value("fingerprint", "");
  } catch (const json::exception&) {
    previous = json();
  }
  return previous;
}

// The domain's shards as they are, when its inputs have the fingerprint `fp` the manifest records
// and both shards read with the tokens it counts; nothing when they must be made again.
std::optional<DomainShards> reusable_shards(const DataSpec& data, const DomainSpec& domain,
                                            const tokenizer::Tokenizer& tok, const json& previous,
                                            uint64_t fp) {
  if (!previous.is_object() || previous.value("fingerprint", std::string()) != hex64(fp)) return std::nullopt;
  try {
    ShardInfo train = ShardReader::read_info(shard_path(data, domain.name, "train"));
    ShardInfo val = ShardReader::read_info(shard_path(data, domain.name, "val"));
    auto m = read_manifest(data, domain.name);
    if (m && train.tokens == m->train.tokens && val.tokens == m->val.tokens &&
        train.tokenizer_hash == tok.hash() && val.tokenizer_hash == tok.hash()) {
      m->reused = true;
      return m;
    }
  } catch (const BadInput&) {
    // A missing or damaged shard: rebuild it.
  }
  return std::nullopt;
}

// Reads the domain's documents and encodes them into `train` and `val` (each document to one
// split, by its hash), counting into `out`.
void encode_domain(const DataSpec& data, const DomainSpec& domain, const tokenizer::Tokenizer& tok,
                   int threads, ShardWriter& train, ShardWriter& val, Progress& progress, DomainShards& out) {
  // Reading (this thread) overlaps with encoding the previous batch (the pool).
  constexpr size_t kBatchBytes = 4 << 20;
  std::vector<Document> batch;
  size_t batch_bytes = 0;
  uint64_t bytes_done = 0;
  // The vectors the pending encode works on are declared before its future: when reading
  // throws while a batch is encoding, the future (declared last, destroyed first) waits for
  // the encode before the vectors go.
  std::vector<Document> pending_docs;
  std::vector<std::vector<int32_t>> pending_ids;
  std::future<void> pending;
  auto drain = [&] {
    if (!pending.valid()) return;
    pending.get();
    for (size_t i = 0; i < pending_docs.size(); ++i) {
      const Document& d = pending_docs[i];
      bool is_val = is_validation(d.text, data.val_fraction, data.split_seed);
      SplitStats& s = is_val ? out.val : out.train;
      (is_val ? val : train).add_document(pending_ids[i].data(), pending_ids[i].size(), d.text.size());
      ++s.documents;
      s.bytes += d.text.size();
      s.tokens += pending_ids[i].size();
      bytes_done += d.text.size();
    }
    progress.update(bytes_done, fmt::format("{} tokens", with_commas(out.train.tokens + out.val.tokens)));
  };
  auto submit = [&] {
    drain();
    pending_docs.swap(batch);
    batch.clear();
    batch_bytes = 0;
    pending = std::async(std::launch::async, [&] { encode_batch(tok, pending_docs, pending_ids, threads); });
  };
  out.read = read_domain(domain, [&](Document&& doc) {
    batch_bytes += doc.text.size();
    batch.push_back(std::move(doc));
    if (batch_bytes >= kBatchBytes) submit();
  });
  if (!batch.empty()) submit();
  drain();
}

json manifest_json(const DomainSpec& domain, uint64_t fp, const tokenizer::Tokenizer& tok, uint32_t width,
                   const DomainShards& out, const std::vector<FileStamp>& files) {
  json files_json = json::array();
  for (const auto& f : files)
    files_json.push_back(
        {{"path", f.path}, {"size", f.size}, {"mtime_ns", f.mtime_ns}, {"hash", hex64(f.hash)}});
  const ReadStats& r = out.read;
  return {
      {"version", kManifestVersion},
      {"domain", domain.name},
      {"fingerprint", hex64(fp)},
      {"tokenizer_hash", hex64(tok.hash())},
      {"token_width", width},
      {"train", split_json(out.train)},
      {"val", split_json(out.val)},
      {"read",
       {{"files", r.files},
        {"documents", r.documents},
        {"bytes", r.bytes},
        {"invalid_utf8", r.invalid_utf8},
        {"nul_bytes", r.nul_bytes},
        {"binary_files_skipped", r.binary_files_skipped},
        {"bad_records_skipped", r.bad_records_skipped},
        {"empty_documents", r.empty_documents},
        {"capped", r.capped}}},
      {"files", files_json},
  };
}

}  // namespace

std::vector<DomainShards> prepare_shards(const DataSpec& data, const tokenizer::Tokenizer& tok,
                                         const PrepareOptions& options) {
  const uint32_t width = resolve_token_width(data, tok.vocab_size());
  const int threads = resolve_threads(data.threads);
  std::vector<DomainShards> results;

  for (const DomainSpec& domain : data.domains) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), domain.name) == options.only.end())
      continue;
    auto start = std::chrono::steady_clock::now();
    fs::path dir = domain_dir(data, domain.name);
    json previous = previous_manifest(dir, domain.name);
    std::vector<FileStamp> files = stamp_files(domain, previous.is_object() ? &previous : nullptr);
    uint64_t fp = fingerprint(data, domain, files, tok.hash(), width);

    if (!options.force)
      if (auto kept = reusable_shards(data, domain, tok, previous, fp)) {
        log::info("{:<14} unchanged, shards kept", domain.name);
        results.push_back(*kept);
        continue;
      }

    DomainShards out;
    out.name = domain.name;
    out.fingerprint = fp;
    out.tokenizer_hash = tok.hash();
    ShardWriter train(shard_path(data, domain.name, "train"), width, static_cast<uint32_t>(tok.vocab_size()),
                      tok.hash());
    ShardWriter val(shard_path(data, domain.name, "val"), width, static_cast<uint32_t>(tok.vocab_size()),
                    tok.hash());
    uint64_t domain_total = 0;
    for (const auto& f : files) domain_total += f.size;
    if (domain.max_bytes) domain_total = std::min(domain_total, domain.max_bytes);
    Progress progress(fmt::format("{:<14}", domain.name), domain_total, Progress::Unit::Bytes);

    encode_domain(data, domain, tok, threads, train, val, progress, out);

    if (out.val.documents == 0)
      throw BadInput(fmt::format("domain '{}' has no validation documents: its {} documents all fell "
                                 "in the train split",
                                 domain.name, out.train.documents),
                     "raise data.val_fraction, or give the domain more (smaller) documents", domain.where);
    train.commit();
    val.commit();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const ReadStats& r = out.read;
    // The manifest goes last: a run killed before this point leaves the domain to be redone.
    write_file_atomic(dir / "manifest.json", manifest_json(domain, fp, tok, width, out, files).dump(1));
    uint64_t tokens = out.train.tokens + out.val.tokens;
    progress.finish(fmt::format("{} docs, {} -> {} tokens ({:.2f} bytes/token){}", with_commas(r.documents),
                                format_bytes(r.bytes), with_commas(tokens),
                                tokens ? double(r.bytes) / tokens : 0.0, r.capped ? ", capped" : ""));
    if (r.invalid_utf8 || r.nul_bytes)
      log::warn("{}: {} invalid UTF-8 sequences replaced by U+FFFD, {} NUL bytes dropped", domain.name,
                r.invalid_utf8, r.nul_bytes);
    if (r.binary_files_skipped || r.bad_records_skipped)
      log::warn("{}: skipped {} binary files and {} bad records", domain.name, r.binary_files_skipped,
                r.bad_records_skipped);
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace plinth::data
