#include "data/corpus_reader.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/utf8.h"
#include "util/regex.h"
#include "util/text.h"

namespace plinth::data {

namespace fs = std::filesystem;

void ReadStats::merge(const ReadStats& o) {
  files += o.files;
  documents += o.documents;
  bytes += o.bytes;
  invalid_utf8 += o.invalid_utf8;
  nul_bytes += o.nul_bytes;
  binary_files_skipped += o.binary_files_skipped;
  bad_records_skipped += o.bad_records_skipped;
  empty_documents += o.empty_documents;
  capped = capped || o.capped;
}

namespace {

constexpr size_t kChunkBytes = size_t(1) << 20;
constexpr size_t kSniffBytes = size_t(64) << 10;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_space);
}

size_t trimmed_end(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && is_space(s[n - 1])) --n;
  return n;
}

// Leading blank lines and trailing whitespace carry nothing; the first line's indentation
// does (code, dictionary definitions).
void trim_document(std::string& text) {
  text.resize(trimmed_end(text));
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n')
      start = i + 1;
    else if (!is_space(text[i]))
      break;
  }
  text.erase(0, start);
}

void normalise_newlines(std::string& text) {
  if (text.find('\r') == std::string::npos) return;
  size_t w = 0;
  for (size_t r = 0; r < text.size(); ++r) {
    if (text[r] == '\r' && r + 1 < text.size() && text[r + 1] == '\n') continue;
    text[w++] = text[r];
  }
  text.resize(w);
}

// Decides whether a line is a document boundary for the separator and start rules. A regex
// search is a call into RE2 for every line of a corpus, so an anchored literal ("^%$",
// "^---") is compared directly.
class LineMatcher {
 public:
  explicit LineMatcher(const std::string& pattern) {
    if (literal_anchored(pattern)) return;
    regex_.emplace(pattern);
    kind_ = Kind::Regex;
  }

  bool operator()(std::string_view line) const {
    switch (kind_) {
      case Kind::Exact:
        return line == literal_;
      case Kind::Prefix:
        return starts_with(line, literal_);
      case Kind::Regex:
        break;
    }
    return regex_->search(line);
  }

 private:
  bool literal_anchored(const std::string& p) {
    if (p.empty() || p[0] != '^') return false;
    std::string lit;
    for (size_t i = 1; i < p.size(); ++i) {
      char c = p[i];
      if (c == '$' && i + 1 == p.size()) {
        kind_ = Kind::Exact;
        literal_ = lit;
        return true;
      }
      if (c == '\\') {
        // "\%" or "\." is the character itself; "\s", "\d" and the like are classes.
        if (i + 1 >= p.size() || std::isalnum(static_cast<unsigned char>(p[i + 1]))) return false;
        lit += p[++i];
        continue;
      }
      if (std::strchr(".[]{}()*+?|^$", c)) return false;
      lit += c;
    }
    kind_ = Kind::Prefix;
    literal_ = lit;
    return true;
  }

  enum class Kind { Exact, Prefix, Regex } kind_ = Kind::Regex;
  std::string literal_;
  std::optional<Regex> regex_;
};

enum class Format { Text, Jsonl, Tsv };

Format format_of(const SourceSpec& spec, const fs::path& file) {
  if (spec.format == "text") return Format::Text;
  if (spec.format == "jsonl") return Format::Jsonl;
  if (spec.format == "tsv") return Format::Tsv;
  std::string name = file.filename().string();
  for (const char* z : {".gz", ".dz"})
    if (ends_with(name, z)) name.resize(name.size() - 3);
  if (ends_with(name, ".jsonl")) return Format::Jsonl;
  if (ends_with(name, ".tsv")) return Format::Tsv;
  return Format::Text;
}

class GzFile {
 public:
  explicit GzFile(const fs::path& p) : f_(gzopen(p.c_str(), "rb")) {
    if (f_) gzbuffer(f_, 256 * 1024);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  gzFile get() const { return f_; }

 private:
  gzFile f_;
};

// Turns the lines of one source's files into documents, enforcing the byte budget.
class SourceReader {
 public:
  SourceReader(const SourceSpec& spec, uint64_t budget, const DocumentSink& sink)
      : spec_(spec), sink_(sink), limited_(budget > 0), remaining_(budget) {
    if (spec.documents == DocumentRule::Separator || spec.documents == DocumentRule::Start) {
      if (spec.separator.empty())
        throw BadInput("the separator and start rules need a 'separator' regex",
                       "add separator: '^%$' (or the pattern that marks documents)", spec.where);
      try {
        matcher_.emplace(spec.separator);
      } catch (const RegexError& e) {
        throw BadInput(invalid_regex("separator", spec.separator, e), kRegexSyntaxHint, spec.where);
      }
    }
  }

  bool done() const { return done_; }
  const ReadStats& stats() const { return stats_; }

  void read_file(const fs::path& file) {
    GzFile gz(file);
    if (!gz.get())
      throw BadInput(fmt::format("cannot open '{}': {}", file.string(), std::strerror(errno)),
                     "check the file's permissions or exclude it", spec_.where);
    file_ = &file;
    format_ = format_of(spec_, file);
    line_no_ = 0;
    start_line_ = 0;
    // An empty file is an empty document under the file rule, and counted as one.
    open_ = spec_.documents == DocumentRule::File && format_ == Format::Text;
    doc_.clear();
    content_end_ = 0;

    std::string pending;  // read but not yet cut into lines
    bool eof = false;
    while (!eof && pending.size() < kSniffBytes) eof = read_chunk(gz, pending);
    ByteSample sample = inspect_bytes(std::string_view(pending).substr(0, kSniffBytes));
    if (looks_binary(sample)) {
      if (spec_.on_binary == "skip") {
        ++stats_.binary_files_skipped;
        return;
      }
      std::string ext = file.extension().string();
      throw BadInput(fmt::format("'{}' is not text: {} NUL and {} non-UTF-8 bytes in its first {}",
                                 file.string(), sample.nul, sample.invalid_bytes, format_bytes(sample.bytes)),
                     fmt::format("exclude it (exclude: ['{}']) or set on_binary: skip",
                                 ext.empty() ? file.filename().string() : "*" + ext),
                     spec_.where);
    }
    ++stats_.files;

    std::string tail;
    while (!done_) {
      // Only whole lines are sanitized: a line ends in an ASCII '\n', so a chunk boundary
      // never splits a UTF-8 sequence.
      size_t last_nl = pending.rfind('\n');
      if (last_nl != std::string::npos) {
        tail.assign(pending, last_nl + 1, std::string::npos);
        pending.resize(last_nl + 1);
        feed_block(pending);
        pending.swap(tail);
      }
      if (eof || done_) break;
      eof = read_chunk(gz, pending);
    }
    if (!done_ && !pending.empty()) feed_block(pending);
    if (!done_) finish_document();
  }

 private:
  // Appends up to kChunkBytes decompressed bytes; true at the end of the file.
  bool read_chunk(const GzFile& gz, std::string& buf) {
    size_t old = buf.size();
    buf.resize(old + kChunkBytes);
    int n = gzread(gz.get(), buf.data() + old, static_cast<unsigned>(kChunkBytes));
    int code = Z_OK;
    const char* what = n < static_cast<int>(kChunkBytes) ? gzerror(gz.get(), &code) : "";
    // A truncated gzip stream ends like a complete one, except for Z_BUF_ERROR.
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      throw BadInput(
          fmt::format("cannot read '{}': {}", file_->string(), code == Z_ERRNO ? std::strerror(errno) : what),
          "the file may be truncated or corrupt; replace or exclude it", spec_.where);
    }
    buf.resize(old + static_cast<size_t>(n));
    return n == 0;
  }

  void feed_block(std::string& block) {
    stats_.invalid_utf8 += sanitize_utf8(block, stats_.nul_bytes);
    std::string_view rest(block);
    while (!rest.empty() && !done_) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      ++line_no_;
      switch (format_) {
        case Format::Text:
          text_line(line);
          break;
        case Format::Jsonl:
          jsonl_line(line);
          break;
        case Format::Tsv:
          tsv_line(line);
          break;
      }
    }
  }

  void text_line(std::string_view line) {
    switch (spec_.documents) {
      case DocumentRule::File:
        append(line);
        break;
      case DocumentRule::BlankLine:
        if (is_blank(line))
          finish_document();
        else
          append(line);
        break;
      case DocumentRule::Separator:
        if ((*matcher_)(line))
          finish_document();
        else
          append(line);
        break;
      case DocumentRule::Start:
        if ((*matcher_)(line)) finish_document();
        append(line);
        break;
      case DocumentRule::Line:
        if (line.empty()) break;
        append(line);
        finish_document();
        break;
    }
  }

  void append(std::string_view line) {
    if (!open_) {
      open_ = true;
      start_line_ = line_no_;
    }
    if (doc_.empty() && is_blank(line)) return;  // leading blank lines are trimmed anyway
    doc_.append(line.data(), line.size());
    size_t end = trimmed_end(doc_);
    if (end > content_end_) content_end_ = end;
    doc_ += '\n';
    // A document longer than what the budget leaves is cut now, so a cap stops reading a
    // large file early instead of after it was read whole.
    if (limited_ && content_end_ > remaining_) finish_document();
  }

  void finish_document() {
    if (!open_) return;
    open_ = false;
    std::string text;
    text.swap(doc_);
    text.resize(content_end_);
    content_end_ = 0;
    std::string origin = spec_.documents == DocumentRule::File && format_ == Format::Text
                             ? file_->string()
                             : fmt::format("{}:{}", file_->string(), start_line_);
    deliver(std::move(text), std::move(origin));
  }

  void deliver(std::string text, std::string origin) {
    if (text.empty()) {
      ++stats_.empty_documents;
      return;
    }
    if (limited_ && text.size() > remaining_) {
      stats_.capped = true;
      done_ = true;
      text.resize(utf8_floor(text, static_cast<size_t>(remaining_)));
      text.resize(trimmed_end(text));
      if (text.empty()) return;
    }
    ++stats_.documents;
    stats_.bytes += text.size();
    if (limited_) remaining_ -= text.size();
    sink_(Document{std::move(text), std::move(origin)});
  }

  void bad_record(std::string message) {
    if (spec_.on_bad_record == "skip") {
      ++stats_.bad_records_skipped;
      return;
    }
    throw BadInput(std::move(message), "fix or remove the record, or set on_bad_record: skip",
                   Location{file_->string(), static_cast<int>(line_no_), 0});
  }

  void record(std::string text) {
    normalise_newlines(text);
    trim_document(text);
    deliver(std::move(text), fmt::format("{}:{}", file_->string(), line_no_));
  }

  void jsonl_line(std::string_view line) {
    if (is_blank(line)) return;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::exception& e) {
      // Not only parse_error: a number too large for a double ("1e999") is an out_of_range.
      std::string why = e.what();
      size_t bracket = why.find("] ");  // drop nlohmann's "[json.exception.parse_error.101]"
      if (bracket != std::string::npos) why.erase(0, bracket + 2);
      return bad_record(fmt::format("not a JSON record: {}", why));
    }
    if (!j.is_object()) return bad_record(fmt::format("expected a JSON object, got {}", j.type_name()));
    auto it = j.find(spec_.field);
    if (it == j.end()) return bad_record(fmt::format("the record has no field '{}'", spec_.field));
    if (!it->is_string())
      return bad_record(fmt::format("field '{}' is {}, not a string", spec_.field, it->type_name()));
    std::string text = it->get<std::string>();
    // "\u0000" decodes to a NUL byte.
    stats_.invalid_utf8 += sanitize_utf8(text, stats_.nul_bytes);
    record(std::move(text));
  }

  void tsv_line(std::string_view line) {
    if (line.empty()) return;
    size_t start = 0;
    for (int c = 0; c < spec_.column; ++c) {
      size_t tab = line.find('\t', start);
      if (tab == std::string_view::npos)
        return bad_record(
            fmt::format("the row has {} column(s); column {} (0-based) is missing", c + 1, spec_.column));
      start = tab + 1;
    }
    size_t tab = line.find('\t', start);
    record(std::string(line.substr(start, tab == std::string_view::npos ? tab : tab - start)));
  }

  const SourceSpec& spec_;
  const DocumentSink& sink_;
  std::optional<LineMatcher> matcher_;
  bool limited_;
  uint64_t remaining_;
  bool done_ = false;
  ReadStats stats_;

  const fs::path* file_ = nullptr;
  Format format_ = Format::Text;
  uint64_t line_no_ = 0;
  uint64_t start_line_ = 0;  // where the open document began
  bool open_ = false;        // a document has begun (it may still be blank)
  std::string doc_;
  size_t content_end_ = 0;  // doc_ up to here is the document; the rest is trailing space
};

}  // namespace

ReadStats read_source(const SourceSpec& source, uint64_t budget, const DocumentSink& sink) {
  if (source.max_bytes && (budget == 0 || source.max_bytes < budget)) budget = source.max_bytes;
  SourceReader reader(source, budget, sink);
  for (const fs::path& file : list_source_files(source)) {
    if (reader.done()) break;
    reader.read_file(file);
  }
  return reader.stats();
}

ReadStats read_domain(const DomainSpec& domain, const DocumentSink& sink) {
  ReadStats total;
  uint64_t remaining = domain.max_bytes;
  for (const SourceSpec& source : domain.sources) {
    if (domain.max_bytes && remaining == 0) {
      total.capped = true;
      break;
    }
    ReadStats s = read_source(source, domain.max_bytes ? remaining : 0, sink);
    total.merge(s);
    if (!domain.max_bytes) continue;
    // Capped by the domain's budget rather than the source's own: later sources get nothing.
    bool domain_bound = source.max_bytes == 0 || remaining <= source.max_bytes;
    remaining -= std::min(remaining, s.bytes);
    if (s.capped && domain_bound) break;
  }
  if (total.documents == 0)
    throw BadInput(fmt::format("domain '{}' yields no document", domain.name),
                   fmt::format("its {} source(s) gave {} readable file(s), {} empty document(s), {} binary "
                               "file(s) and {} bad record(s) skipped; check the paths, the document rule "
                               "and include/exclude",
                               domain.sources.size(), total.files, total.empty_documents,
                               total.binary_files_skipped, total.bad_records_skipped),
                   domain.where);
  return total;
}

}  // namespace plinth::data
