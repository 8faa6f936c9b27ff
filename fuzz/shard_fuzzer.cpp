// Token shards (lib/data/shard.h): ShardReader::read_info and ::open on arbitrary bytes, then
// what training and evaluation do with an opened shard (every document's range and bytes, its
// tokens read as domain_scorer.cpp reads them). Two contracts are checked beyond "no crash":
// after open() succeeds nothing a reader asks of the shard throws (open "checks everything
// before returning"), and every token it hands out is below info().vocab_size, which is all
// the model's embedding lookup is checked against (eval/domain_scorer.cpp).
//
// Random bytes almost never carry valid XXH3 checksums, so each input is read twice: as it is
// (exercising the checks themselves), and with both checksums recomputed (exercising everything
// behind them: a shard a buggy or hostile writer made with valid checksums).
#include <cstring>
#include <stdexcept>
#include <vector>

#include "data/shard.h"
#include "fuzz_support.h"
#include "util/hash.h"

namespace {

using plinth::data::ShardReader;

constexpr uint64_t kMaxDocumentsTouched = 4096;  // keeps one input fast

void check(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);  // escapes to libFuzzer: a finding
}

void use(const ShardReader& shard) {
  const auto& info = shard.info();
  check(shard.size() == info.tokens, "size() differs from the header's token count");
  for (uint64_t d = 0; d < info.documents && d < kMaxDocumentsTouched; ++d) {
    auto [first, last] = shard.document_range(d);
    shard.document_bytes(d);
    // As eval/domain_scorer.cpp does: the document's tokens into a buffer of its length.
    std::vector<int64_t> text(last - first);
    shard.read(first, text.size(), text.data());
    for (int64_t t : text) check(static_cast<uint64_t>(t) < info.vocab_size, "token id >= vocab_size");
  }
  if (info.tokens > 0) {
    check(shard.token(0) < info.vocab_size, "token id >= vocab_size");
    check(shard.token(info.tokens - 1) < info.vocab_size, "token id >= vocab_size");
  }
}

void read_shard(const std::string& path) {
  plinth::fuzz::expect_typed_errors([&] { ShardReader::read_info(path); });
  // Failure is not allowed: no condition of a regular file's bytes is an I/O or internal error.
  plinth::fuzz::expect_typed_errors([&] { use(ShardReader::open(path)); });
}

// Layout facts of shard.h: the header checksum (at 64) covers [0, 64), the payload checksum (at
// 56) everything after the 128-byte header.
void repair_checksums(std::vector<uint8_t>& bytes) {
  const size_t header = plinth::data::kShardHeaderBytes;
  uint64_t payload = plinth::hash64(bytes.data() + header, bytes.size() - header);
  std::memcpy(bytes.data() + 56, &payload, 8);
  uint64_t head = plinth::hash64(bytes.data(), 64);
  std::memcpy(bytes.data() + 64, &head, 8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read_shard(plinth::fuzz::write_scratch(data, size, ".bin"));
  if (size >= plinth::data::kShardHeaderBytes) {
    std::vector<uint8_t> bytes(data, data + size);
    repair_checksums(bytes);
    read_shard(plinth::fuzz::write_scratch(bytes.data(), bytes.size(), ".bin"));
  }
  return 0;
}
