// Checkpoints (lib/model/checkpoint_file.h): read_checkpoint on arbitrary bytes and, when it
// reads, model_config_from_json on the "model_config" meta entry, as every stage that loads a
// model does first (model/checkpoint_model.cpp, train/trainer.cpp). Both may refuse with BadInput
// only; a torch error (c10::Error), a huge allocation or a sanitizer report is a finding.
//
// The file ends in an XXH3 checksum of everything before it, which random bytes never match, and
// the reader checks it last; its JSON header sits behind a length field that a mutation of the
// JSON breaks. So each input is read up to three ways:
//   - as it is;
//   - with the checksum recomputed (when long enough), reaching the tensor table and the config;
//   - when it starts with '{': as a header and a data section, "JSON\0DATA", assembled into a
//     well-formed file (magic, version, length, padding, checksum), so that mutations of the JSON
//     reach the reader as they are.
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "model/checkpoint_file.h"
#include "util/hash.h"

namespace {

constexpr uint8_t kMagic[8] = {'P', 'L', 'C', 'K', 'P', 'T', '0', '1'};

void read(const std::string& path) {
  plinth::fuzz::expect_typed_errors([&] {
    plinth::model::CheckpointContents c = plinth::model::read_checkpoint(path);
    auto it = c.meta.find("model_config");
    if (it != c.meta.end()) plinth::model::model_config_from_json(it->second, path);
  });
}

void read_with_checksum(std::vector<uint8_t> bytes) {
  uint64_t sum = plinth::hash64(bytes.data(), bytes.size() - 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  read(plinth::fuzz::write_scratch(bytes.data(), bytes.size(), ".ckpt"));
}

// The layout of checkpoint_file.cpp: "PLCKPT01", u32 version, u64 header bytes, the header,
// zeros to a multiple of 64, the data section, the u64 checksum.
std::vector<uint8_t> assemble(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const uint64_t header = nul ? static_cast<uint64_t>(nul - data) : size;
  const uint32_t version = 1;
  std::vector<uint8_t> out(std::begin(kMagic), std::end(kMagic));
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&version),
             reinterpret_cast<const uint8_t*>(&version) + 4);
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&header),
             reinterpret_cast<const uint8_t*>(&header) + 8);
  out.insert(out.end(), data, data + header);
  out.resize((out.size() + 63) / 64 * 64, 0);
  if (nul) out.insert(out.end(), nul + 1, data + size);
  out.resize(out.size() + 8, 0);  // the checksum's place
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // one input at a time: no thread pool to start per tensor
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read(plinth::fuzz::write_scratch(data, size, ".ckpt"));
  if (size >= 28) read_with_checksum(std::vector<uint8_t>(data, data + size));  // prefix + checksum
  if (size > 0 && data[0] == '{') read_with_checksum(assemble(data, size));
  return 0;
}
