// Writes the binary seeds of the shard and checkpoint harnesses, each a few hundred bytes:
//   fuzz_make_seeds fuzz/corpus
// They are committed; run this again only when a format changes. Small on purpose: libFuzzer
// mutates faster, and every field of the format is within a few mutations of any byte.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/shard.h"
#include "model/checkpoint_file.h"

namespace fs = std::filesystem;

namespace {

void shard(const fs::path& path, uint32_t vocab, const std::vector<std::vector<int32_t>>& docs) {
  plinth::data::ShardWriter w(path, plinth::data::token_width_for(vocab), vocab, 0x1234abcd);
  for (const auto& d : docs) w.add_document(d.data(), d.size(), d.size() * 3);
  w.commit();
}

void checkpoint(const fs::path& path, bool with_config) {
  plinth::model::CheckpointContents c;
  if (with_config) {
    plinth::model::ModelConfig m;
    m.vocab_size = 16, m.dim = 4, m.layers = 1, m.heads = 2, m.kv_heads = 1, m.ffn = 8, m.context = 8;
    c.meta["model_config"] = plinth::model::model_config_json(m);
  }
  c.meta["step"] = "3";
  c.meta["tokenizer_hash"] = "0000000012345678";
  c.tensors.emplace_back("model/w", torch::arange(6, torch::kFloat32).reshape({2, 3}));
  c.tensors.emplace_back("optim/step", torch::tensor({7}, torch::kInt64));
  c.tensors.emplace_back("rng/state", torch::ones({5}, torch::kUInt8));
  plinth::model::write_checkpoint(path, c);
  // The same checkpoint in the harness's "JSON\0DATA" form (checkpoint_fuzzer.cpp), without the
  // framing: the header, a NUL, the data section (after the padding, before the checksum).
  std::ifstream in(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), {});
  uint64_t header = 0;
  std::memcpy(&header, file.data() + 12, 8);
  const uint64_t data_start = (20 + header + 63) / 64 * 64;
  std::ofstream out(path.string() + ".json", std::ios::binary);
  out << file.substr(20, header) << '\0' << file.substr(data_start, file.size() - 8 - data_start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir / "shard");
  fs::create_directories(dir / "checkpoint");
  shard(dir / "shard" / "uint16.bin", 300, {{1, 2, 3, 0}, {4, 5, 0}, {}, {299, 0}});
  shard(dir / "shard" / "uint32.bin", 70000, {{69999, 1, 0}, {2, 0}});
  shard(dir / "shard" / "empty.bin", 16, {});
  checkpoint(dir / "checkpoint" / "model.ckpt", true);
  checkpoint(dir / "checkpoint" / "no-config.ckpt", false);
  return 0;
}
