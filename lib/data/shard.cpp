#include "data/shard.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::data {

namespace fs = std::filesystem;

// The payload is written and mapped as native integers; the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shards assume a little-endian host");

namespace {

// The on-disk header, field for field as documented in shard.h.
struct RawHeader {
  char magic[8];
  uint32_t version;
  uint32_t token_width;
  uint32_t vocab_size;
  uint32_t reserved;
  uint64_t token_count;
  uint64_t document_count;
  uint64_t text_bytes;
  uint64_t tokenizer_hash;
  uint64_t payload_checksum;
  uint64_t header_checksum;  // XXH3 of the bytes before this field
  uint8_t padding[56];
};
static_assert(sizeof(RawHeader) == kShardHeaderBytes, "header must be 128 bytes");
static_assert(offsetof(RawHeader, header_checksum) == 64, "header_checksum covers [0, 64)");

constexpr size_t kIndexEntryBytes = 2 * sizeof(uint64_t);  // {first_token, text_bytes}
// Tokens are staged in memory this long before they go to the file: large enough that
// writes are few, small enough not to matter next to the tokenizer (bytes).
constexpr size_t kWriteBufferBytes = size_t{4} << 20;

const char* const kRebuildHint = "run `plinth prepare` again to rebuild it";

uint64_t header_checksum_of(const RawHeader& h) {
  return hash64(&h, offsetof(RawHeader, header_checksum));
}

// Expected file size for a header, saturating at UINT64_MAX when the counts are absurd.
uint64_t expected_file_size(const RawHeader& h) {
  uint64_t tokens_bytes = 0, index_bytes = 0, total = 0;
  if (__builtin_mul_overflow(h.token_count, uint64_t{h.token_width}, &tokens_bytes) ||
      __builtin_mul_overflow(h.document_count, uint64_t{kIndexEntryBytes}, &index_bytes) ||
      __builtin_add_overflow(tokens_bytes, index_bytes, &total) ||
      __builtin_add_overflow(total, uint64_t{kShardHeaderBytes}, &total))
    return std::numeric_limits<uint64_t>::max();
  return total;
}

[[noreturn]] void throw_bad_shard(const fs::path& path, std::string message,
                                  std::string hint = kRebuildHint) {
  throw BadInput(std::move(message), std::move(hint), Location{path.string()});
}

ShardInfo info_of(const RawHeader& h) {
  ShardInfo info;
  info.version = h.version;
  info.token_width = h.token_width;
  info.vocab_size = h.vocab_size;
  info.tokens = h.token_count;
  info.documents = h.document_count;
  info.text_bytes = h.text_bytes;
  info.tokenizer_hash = h.tokenizer_hash;
  return info;
}

// Closes a file descriptor on every path out of open()/read_info().
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int open_shard_file(const fs::path& path, uint64_t* file_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) throw_bad_shard(path, "shard does not exist", "run `plinth prepare` first");
    throw_bad_shard(path, fmt::format("cannot open shard: {}", std::strerror(err)),
                    "check the file's permissions");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Failure(fmt::format("cannot stat {}: {}", path.string(), std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_bad_shard(path, "not a regular file, but a shard is expected", "check the path");
  }
  *file_size = static_cast<uint64_t>(st.st_size);
  return fd;
}

// Reads the header and checks, in order: length, magic, version, header checksum, token
// width, file size. Everything that needs only the header and the file's length.
RawHeader read_checked_header(const fs::path& path, int fd, uint64_t file_size) {
  RawHeader h{};
  if (file_size < kShardHeaderBytes)
    throw_bad_shard(path, fmt::format("not a plinth shard: {} bytes, shorter than the {}-byte header",
                                      file_size, kShardHeaderBytes));
  ssize_t got = ::pread(fd, &h, sizeof h, 0);
  if (got != static_cast<ssize_t>(sizeof h))
    throw Failure(fmt::format("cannot read the header of {}: {}", path.string(),
                              got < 0 ? std::strerror(errno) : "short read"));
  if (std::memcmp(h.magic, kShardMagic, sizeof kShardMagic) != 0)
    throw_bad_shard(path, "not a plinth shard (wrong magic bytes)",
                    "point at a file written by `plinth prepare`, or run it again");
  if (h.version != kShardVersion)
    throw_bad_shard(path,
                    fmt::format("shard format version {} is {} than the version {} this plinth reads",
                                h.version, h.version > kShardVersion ? "newer" : "older", kShardVersion),
                    h.version > kShardVersion
                        ? "use the plinth that wrote it, or run `plinth prepare` again to rebuild it"
                        : kRebuildHint);
  uint64_t header_checksum = header_checksum_of(h);
  if (header_checksum != h.header_checksum)
    throw_bad_shard(path, fmt::format("corrupt header: checksum {}, the header records {}",
                                      hex64(header_checksum), hex64(h.header_checksum)));
  if (h.token_width != 2 && h.token_width != 4)
    throw_bad_shard(path, fmt::format("corrupt header: token width {} (expected 2 or 4)", h.token_width));
  uint64_t expected = expected_file_size(h);
  if (file_size < expected)
    throw_bad_shard(path, fmt::format("truncated: expected {} bytes, found {}", expected, file_size));
  if (file_size > expected)
    throw_bad_shard(path, fmt::format("trailing bytes: expected {} bytes, found {}", expected, file_size));
  return h;
}

uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Largest token id of the payload (0 when there is none). One branch-free pass, so it
// vectorises: next to the checksum pass over the same bytes it costs little.
template <typename T>
uint32_t max_token(const uint8_t* tokens, uint64_t count) {
  T largest = 0;
  const T* t = reinterpret_cast<const T*>(tokens);
  for (uint64_t i = 0; i < count; ++i) largest = std::max(largest, t[i]);
  return largest;
}

// What the checksums cannot vouch for: that the writer's counts make sense. Readers take a
// document's range [first, next first) and every token id < vocab_size on trust (evaluation
// sizes a buffer by the range and indexes the embedding by the id), so a shard breaking either
// is refused here, as corrupt, rather than failing or misbehaving later.
void check_payload(const fs::path& path, const RawHeader& h, const uint8_t* tokens, const uint8_t* index) {
  uint64_t previous = 0;
  for (uint64_t d = 0; d < h.document_count; ++d) {
    const uint64_t first = load_u64(index + d * kIndexEntryBytes);
    if ((d == 0 && first != 0) || first < previous || first > h.token_count)
      throw_bad_shard(path, fmt::format("corrupt document index: document {} starts at token {} (previous "
                                        "document at {}, {} tokens in all)",
                                        d, first, previous, h.token_count));
    previous = first;
  }
  if (h.document_count == 0 && h.token_count > 0)
    throw_bad_shard(path,
                    fmt::format("corrupt document index: no document holds its {} tokens", h.token_count));
  const uint32_t largest = h.token_width == 2 ? max_token<uint16_t>(tokens, h.token_count)
                                              : max_token<uint32_t>(tokens, h.token_count);
  if (h.token_count > 0 && largest >= h.vocab_size)
    throw_bad_shard(
        path, fmt::format("corrupt: token id {} is outside the vocabulary of {} the header records", largest,
                          h.vocab_size));
}

}  // namespace

uint32_t token_width_for(uint32_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}

// ---------------------------------------------------------------------------------------------
// ShardWriter

struct ShardWriter::Impl {
  Impl(fs::path path, const ShardInfo& info) : file(std::move(path)), info(info) {}

  AtomicFile file;
  ShardInfo info;
  Hasher payload_hash;          // over every byte after the header, in file order
  std::vector<uint8_t> buffer;  // staged tokens, flushed at kWriteBufferBytes
  size_t buffered = 0;          // bytes of buffer in use
  std::vector<uint64_t> index;  // {first_token, text_bytes} per document
  bool committed = false;

  void write_payload(const void* data, size_t size) {
    payload_hash.update(data, size);
    file.write(data, size);
  }
  void flush() {
    write_payload(buffer.data(), buffered);
    buffered = 0;
  }
  template <typename T>
  void append(const int32_t* ids, size_t count) {
    while (count > 0) {
      if (buffered == buffer.size()) flush();
      size_t n = std::min(count, (buffer.size() - buffered) / sizeof(T));
      // buffered is a multiple of sizeof(T) and the vector's storage is new[]-aligned.
      T* out = reinterpret_cast<T*>(buffer.data() + buffered);
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(ids[i]);
      buffered += n * sizeof(T);
      ids += n;
      count -= n;
    }
  }
};

ShardWriter::ShardWriter(fs::path path, uint32_t token_width, uint32_t vocab_size, uint64_t tokenizer_hash) {
  // Checked before the temporary file exists, so a refused shard leaves nothing behind.
  if (token_width != 2 && token_width != 4)
    throw Failure(fmt::format("shard {}: token width {} is neither 2 nor 4", path.string(), token_width));
  if (vocab_size == 0) throw Failure(fmt::format("shard {}: the vocabulary is empty", path.string()));
  if (token_width == 2 && vocab_size > 65536)
    throw BadInput(fmt::format("the vocabulary of {} tokens does not fit uint16 shards "
                               "(at most 65536 ids)",
                               vocab_size),
                   "use token_type uint32 or auto", Location{path.string()});
  ShardInfo info;
  info.version = kShardVersion;
  info.token_width = token_width;
  info.vocab_size = vocab_size;
  info.tokenizer_hash = tokenizer_hash;
  impl_ = std::make_unique<Impl>(std::move(path), info);
  impl_->buffer.resize(kWriteBufferBytes);
  // Placeholder; the real header goes in at commit(), once counts and checksums are known.
  uint8_t zeros[kShardHeaderBytes] = {};
  impl_->file.write(zeros, sizeof zeros);
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::add_document(const int32_t* ids, size_t count, uint64_t text_bytes) {
  Impl& s = *impl_;
  if (s.committed)
    throw Failure(fmt::format("shard {}: add_document after commit", s.file.target().string()));
  // The whole document is checked first so that a rejected one leaves the shard unchanged.
  // A negative id becomes a huge unsigned one and fails the same test.
  for (size_t i = 0; i < count; ++i) {
    if (static_cast<uint32_t>(ids[i]) >= s.info.vocab_size)
      throw Failure(
          fmt::format("shard {}: token id {} (document {}, position {}) is outside the vocabulary of {}",
                      s.file.target().string(), ids[i], s.info.documents, i, s.info.vocab_size));
  }
  s.index.push_back(s.info.tokens);
  s.index.push_back(text_bytes);
  if (s.info.token_width == 2)
    s.append<uint16_t>(ids, count);
  else
    s.append<uint32_t>(ids, count);
  s.info.tokens += count;
  s.info.documents += 1;
  s.info.text_bytes += text_bytes;
}

void ShardWriter::commit() {
  Impl& s = *impl_;
  if (s.committed) throw Failure(fmt::format("shard {}: committed twice", s.file.target().string()));
  s.flush();
  s.write_payload(s.index.data(), s.index.size() * sizeof(uint64_t));

  RawHeader h{};
  std::memcpy(h.magic, kShardMagic, sizeof kShardMagic);
  h.version = s.info.version;
  h.token_width = s.info.token_width;
  h.vocab_size = s.info.vocab_size;
  h.token_count = s.info.tokens;
  h.document_count = s.info.documents;
  h.text_bytes = s.info.text_bytes;
  h.tokenizer_hash = s.info.tokenizer_hash;
  h.payload_checksum = s.payload_hash.digest();
  h.header_checksum = header_checksum_of(h);
  s.file.write_at(0, &h, sizeof h);
  s.file.commit();
  s.committed = true;
  // The staging buffer is no longer needed; a caller may keep the writer for info().
  std::vector<uint8_t>().swap(s.buffer);
  std::vector<uint64_t>().swap(s.index);
}

const ShardInfo& ShardWriter::info() const {
  return impl_->info;
}

// ---------------------------------------------------------------------------------------------
// ShardReader

ShardReader ShardReader::open(const fs::path& path, uint64_t expected_tokenizer_hash) {
  uint64_t file_size = 0;
  FileDescriptor fd(open_shard_file(path, &file_size));
  RawHeader h = read_checked_header(path, fd.get(), file_size);

  ShardReader r;
  r.path_ = path;
  r.info_ = info_of(h);
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (map == MAP_FAILED) throw Failure(fmt::format("cannot map {}: {}", path.string(), std::strerror(errno)));
  // From here on the destructor of r unmaps, on success and on every throw below.
  r.map_ = map;
  r.map_size_ = file_size;
  const uint8_t* base = static_cast<const uint8_t*>(map);

  // One front-to-back pass over the payload: let the kernel read ahead aggressively.
  ::madvise(map, file_size, MADV_SEQUENTIAL);
  uint64_t payload_checksum = hash64(base + kShardHeaderBytes, file_size - kShardHeaderBytes);
  if (payload_checksum != h.payload_checksum)
    throw_bad_shard(path, fmt::format("corrupt: payload checksum {}, the header records {}",
                                      hex64(payload_checksum), hex64(h.payload_checksum)));
  r.tokens_ = base + kShardHeaderBytes;
  // The index follows the tokens directly, so with 2-byte tokens it may sit at an offset that
  // is not a multiple of 8: it is only ever read through memcpy (load_u64).
  r.index_ = reinterpret_cast<const uint64_t*>(r.tokens_ + h.token_count * h.token_width);
  check_payload(path, h, r.tokens_, reinterpret_cast<const uint8_t*>(r.index_));  // still sequential
  // Training fetches windows at random offsets; read-ahead would fetch pages nobody uses.
  ::madvise(map, file_size, MADV_RANDOM);

  if (expected_tokenizer_hash != 0 && h.tokenizer_hash != expected_tokenizer_hash)
    throw_bad_shard(path,
                    fmt::format("made with another tokenizer (hash {}), the recipe's tokenizer "
                                "is {}",
                                hex64(h.tokenizer_hash), hex64(expected_tokenizer_hash)),
                    "run `plinth prepare` again with the current tokenizer");
  return r;
}

ShardInfo ShardReader::read_info(const fs::path& path) {
  uint64_t file_size = 0;
  FileDescriptor fd(open_shard_file(path, &file_size));
  return info_of(read_checked_header(path, fd.get(), file_size));
}

ShardReader::ShardReader(ShardReader&& other) noexcept
    : path_(std::move(other.path_)),
      info_(other.info_),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      tokens_(std::exchange(other.tokens_, nullptr)),
      index_(std::exchange(other.index_, nullptr)) {
  other.info_ = ShardInfo{};
}

ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    if (map_) ::munmap(map_, map_size_);
    path_ = std::move(other.path_);
    info_ = std::exchange(other.info_, ShardInfo{});
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    tokens_ = std::exchange(other.tokens_, nullptr);
    index_ = std::exchange(other.index_, nullptr);
  }
  return *this;
}

ShardReader::~ShardReader() {
  if (map_) ::munmap(map_, map_size_);
}

uint32_t ShardReader::token(uint64_t i) const {
  if (i >= info_.tokens)
    throw Failure(
        fmt::format("shard {}: token {} is out of range ({} tokens)", path_.string(), i, info_.tokens));
  if (info_.token_width == 2) return reinterpret_cast<const uint16_t*>(tokens_)[i];
  return reinterpret_cast<const uint32_t*>(tokens_)[i];
}

void ShardReader::read(uint64_t start, size_t count, int64_t* out) const {
  // Written so that start + count cannot overflow.
  if (start > info_.tokens || count > info_.tokens - start)
    throw Failure(fmt::format("shard {}: window [{}, {}+{}) is out of range ({} tokens)", path_.string(),
                              start, start, count, info_.tokens));
  if (info_.token_width == 2) {
    const uint16_t* in = reinterpret_cast<const uint16_t*>(tokens_) + start;
    for (size_t i = 0; i < count; ++i) out[i] = in[i];
  } else {
    const uint32_t* in = reinterpret_cast<const uint32_t*>(tokens_) + start;
    for (size_t i = 0; i < count; ++i) out[i] = in[i];
  }
}

std::pair<uint64_t, uint64_t> ShardReader::document_range(uint64_t d) const {
  if (d >= info_.documents)
    throw Failure(fmt::format("shard {}: document {} is out of range ({} documents)", path_.string(), d,
                              info_.documents));
  const uint8_t* entry = reinterpret_cast<const uint8_t*>(index_) + d * kIndexEntryBytes;
  uint64_t first = load_u64(entry);
  uint64_t last = d + 1 < info_.documents ? load_u64(entry + kIndexEntryBytes) : info_.tokens;
  return {first, last};
}

uint64_t ShardReader::document_bytes(uint64_t d) const {
  if (d >= info_.documents)
    throw Failure(fmt::format("shard {}: document {} is out of range ({} documents)", path_.string(), d,
                              info_.documents));
  const uint8_t* entry = reinterpret_cast<const uint8_t*>(index_) + d * kIndexEntryBytes;
  return load_u64(entry + sizeof(uint64_t));
}

}  // namespace plinth::data
