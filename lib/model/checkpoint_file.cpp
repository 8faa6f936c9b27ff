#include "model/checkpoint_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

// On disk (little-endian):
//   [0, 8)    magic "PLCKPT01"
//   [8, 12)   u32 version
//   [12, 20)  u64 header bytes H
//   [20, 20+H) JSON header; tensor offsets are relative to the data section
//   zero padding to a multiple of 64, then the data section: each tensor's raw bytes at a
//             64-aligned offset (so a reader could map them in place)
//   u64 XXH3 of every byte before it

namespace plinth::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'P', 'L', 'C', 'K', 'P', 'T', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kPrefixBytes = 8 + 4 + 8;
constexpr uint64_t kAlign = 64;

uint64_t align_up(uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {torch::kFloat32, "float32"}, {torch::kBFloat16, "bfloat16"}, {torch::kFloat16, "float16"},
    {torch::kFloat64, "float64"}, {torch::kInt64, "int64"},       {torch::kInt32, "int32"},
    {torch::kInt16, "int16"},     {torch::kInt8, "int8"},         {torch::kUInt8, "uint8"},
    {torch::kBool, "bool"},
};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw Failure(fmt::format("checkpoint: tensors of type {} cannot be stored", c10::toString(t)));
}

DamagedCheckpoint damaged(const fs::path& path, const std::string& what) {
  return DamagedCheckpoint(
      fmt::format("checkpoint {} is damaged: {}", path.string(), what),
      fmt::format("the file was cut short or altered (an interrupted copy?); use another checkpoint "
                  "from {}",
                  path.parent_path().empty() ? std::string(".") : path.parent_path().string()));
}

// nlohmann's get<T>() converts any number to T, a float out of T's range with undefined
// behaviour (a damaged or hand-made file: "offset": 1e30), so integers are checked first.
bool is_int(const json& v) {
  return v.is_number_unsigned()
             ? v.get<uint64_t>() <= uint64_t{INT_MAX}
             : v.is_number_integer() && v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX;
}

// Reads exactly `size` bytes and feeds them to the checksum; false at end of file.
bool read_hashed(std::FILE* f, void* out, uint64_t size, Hasher& h) {
  if (size == 0) return true;
  if (std::fread(out, 1, size, f) != size) return false;
  h.update(out, size);
  return true;
}

// The magic, version and JSON header at the start of an open checkpoint, fed to `h`.
json read_header(std::FILE* f, const fs::path& path, uint64_t file_size, Hasher& h, uint64_t& header_bytes) {
  char magic[8];
  uint32_t version = 0;
  // Too short for even the prefix, or another magic: what sits under a checkpoint's name in a
  // run directory is damaged; a file passed by hand may just be the wrong file (the hint).
  if (file_size < kPrefixBytes + 8 || !read_hashed(f, magic, sizeof magic, h) ||
      std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    throw DamagedCheckpoint(fmt::format("{} is not a plinth checkpoint", path.string()),
                            "pass a .ckpt file written by `plinth pretrain` (<run_dir>/checkpoints/)");
  read_hashed(f, &version, sizeof version, h);
  read_hashed(f, &header_bytes, sizeof header_bytes, h);
  if (version > kVersion)
    throw BadInput(fmt::format("checkpoint {} has format version {}; this plinth reads up to {}",
                               path.string(), version, kVersion),
                   "use a newer plinth to read it");
  if (version == 0) throw damaged(path, "format version 0");
  if (header_bytes > file_size - kPrefixBytes - 8)
    throw damaged(path, "the header runs past the end of the file");

  std::string header(header_bytes, '\0');
  read_hashed(f, header.data(), header_bytes, h);
  try {
    json j = json::parse(header);
    if (!j.is_object()) throw damaged(path, "the header is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw damaged(path, "the header is not valid JSON");
  }
}

}  // namespace

const torch::Tensor* CheckpointContents::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const std::string& CheckpointContents::meta_or_throw(const std::string& key, const fs::path& file) const {
  auto it = meta.find(key);
  if (it == meta.end())
    throw BadInput(fmt::format("checkpoint {} has no '{}' entry", file.string(), key),
                   "it was not written by this stage of plinth; use a checkpoint from `plinth pretrain`");
  return it->second;
}

std::optional<int64_t> parse_meta_int(const std::string& text) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

namespace {

[[noreturn]] void not_a_number(const fs::path& file, const std::string& key, const std::string& text) {
  throw BadInput(fmt::format("checkpoint {}: '{}' is not a number ({})", file.string(), key, text),
                 "the file is damaged: use another checkpoint");
}

}  // namespace

int64_t CheckpointContents::meta_int(const std::string& key, const fs::path& file) const {
  const std::string& text = meta_or_throw(key, file);
  if (const auto v = parse_meta_int(text)) return *v;
  not_a_number(file, key, text);
}

double CheckpointContents::meta_double(const std::string& key, const fs::path& file) const {
  const std::string& text = meta_or_throw(key, file);
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  not_a_number(file, key, text);
}

void write_checkpoint(const fs::path& path, const CheckpointContents& contents) {
  std::vector<torch::Tensor> cpu;
  cpu.reserve(contents.tensors.size());
  json entries = json::array();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    entries.push_back({{"name", name},
                       {"dtype", dtype_name(t.scalar_type())},
                       {"shape", t.sizes().vec()},
                       {"offset", offset},
                       {"bytes", bytes}});
    offset = align_up(offset + bytes);
    cpu.push_back(std::move(t));
  }
  json meta = json::object();
  for (const auto& [k, v] : contents.meta) meta[k] = v;
  std::string header = json{{"meta", meta}, {"tensors", entries}}.dump();

  AtomicFile out(path);
  Hasher h;
  auto put = [&](const void* data, uint64_t size) {
    out.write(data, size);
    h.update(data, size);
  };
  uint64_t header_bytes = header.size();
  put(kMagic, sizeof kMagic);
  put(&kVersion, sizeof kVersion);
  put(&header_bytes, sizeof header_bytes);
  put(header.data(), header.size());
  static const char zeros[kAlign] = {};
  put(zeros, align_up(out.size()) - out.size());
  uint64_t data_start = out.size();
  for (const auto& t : cpu) {
    put(zeros, data_start + align_up(out.size() - data_start) - out.size());
    put(t.data_ptr(), static_cast<uint64_t>(t.numel()) * t.element_size());
  }
  uint64_t checksum = h.digest();
  out.write(&checksum, sizeof checksum);
  out.commit();
}

namespace {

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

FilePtr open_checkpoint(const fs::path& path, uint64_t& file_size) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw BadInput(fmt::format("checkpoint {} does not exist", path.string()),
                   "check the path; `plinth pretrain RECIPE` writes checkpoints to <run_dir>/checkpoints/");
  file_size = fs::file_size(path, ec);
  FilePtr f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Failure(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  return f;
}

}  // namespace

std::map<std::string, std::string> read_checkpoint_meta(const fs::path& path) {
  uint64_t file_size = 0;
  FilePtr f = open_checkpoint(path, file_size);
  Hasher unused;
  uint64_t header_bytes = 0;
  const json j = read_header(f.get(), path, file_size, unused, header_bytes);
  std::map<std::string, std::string> meta;
  try {
    for (const auto& [k, v] : j.at("meta").items()) meta[k] = v.get<std::string>();
  } catch (const json::exception& e) {
    throw damaged(path, fmt::format("the header is malformed ({})", e.what()));
  }
  return meta;
}

namespace {

// A tensor of the header: where its bytes lie in the data section, in what type and shape.
struct Entry {
  std::string name;
  torch::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t offset, bytes;
};

// One "tensors" entry of the header, checked: counts that are counts, a known dtype, bytes that
// match the shape, offsets increasing past `previous`, nothing beyond the file. The json
// exceptions of a malformed entry are the caller's to report.
Entry read_entry(const json& t, const fs::path& path, uint64_t file_size, const Entry* previous) {
  const std::string name = t.at("name").get<std::string>();
  auto count = [&](const json& v) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > uint64_t{INT64_MAX})
      throw damaged(path, fmt::format("tensor '{}' has a size or offset that is not a count", name));
    return v.get<uint64_t>();
  };
  Entry e{name, torch::kFloat32, {}, count(t.at("offset")), count(t.at("bytes"))};
  if (!t.at("shape").is_array()) throw damaged(path, fmt::format("tensor '{}' has no shape list", name));
  for (const json& size : t.at("shape")) e.shape.push_back(static_cast<int64_t>(count(size)));
  std::string dtype = t.at("dtype").get<std::string>();
  bool known = false;
  for (const auto& d : kDtypes)
    if (dtype == d.name) e.type = d.type, known = true;
  if (!known) throw damaged(path, fmt::format("tensor '{}' has unknown type '{}'", e.name, dtype));
  // In int64, as torch counts elements: a product that overflows is no tensor torch can make
  // (torch::empty would throw c10::Error), and a wrapped one could match a small "bytes".
  int64_t numel = 1, bytes = 0;
  for (int64_t s : e.shape)
    if (__builtin_mul_overflow(numel, s, &numel))
      throw damaged(path, fmt::format("tensor '{}' has an impossible size", e.name));
  if (__builtin_mul_overflow(numel, static_cast<int64_t>(c10::elementSize(e.type)), &bytes) ||
      static_cast<uint64_t>(bytes) != e.bytes || (previous && e.offset < previous->offset + previous->bytes))
    throw damaged(path, fmt::format("tensor '{}' has an inconsistent size or offset", e.name));
  if (e.offset > file_size || e.bytes > file_size)
    throw damaged(path, fmt::format("tensor '{}' lies beyond the end of the file", e.name));
  return e;
}

}  // namespace

CheckpointContents read_checkpoint(const fs::path& path) {
  uint64_t file_size = 0;
  FilePtr f = open_checkpoint(path, file_size);
  Hasher h;
  uint64_t header_bytes = 0;
  json j = read_header(f.get(), path, file_size, h, header_bytes);

  CheckpointContents out;
  std::vector<Entry> entries;
  uint64_t data_start = align_up(kPrefixBytes + header_bytes);
  try {
    for (const auto& [k, v] : j.at("meta").items()) out.meta[k] = v.get<std::string>();
    for (const auto& t : j.at("tensors"))
      entries.push_back(read_entry(t, path, file_size, entries.empty() ? nullptr : &entries.back()));
  } catch (const json::exception& e) {
    throw damaged(path, fmt::format("the header is malformed ({})", e.what()));
  }
  // Offsets increase, and the checksum follows the last tensor's last byte.
  uint64_t data_end =
      entries.empty() ? data_start : data_start + entries.back().offset + entries.back().bytes;
  uint64_t expected = data_end + 8;
  if (file_size < expected)
    throw damaged(path, fmt::format("it is truncated ({} bytes, {} expected)", file_size, expected));
  if (file_size > expected)
    throw damaged(path, fmt::format("{} unexpected bytes at the end", file_size - expected));

  std::vector<char> pad(kAlign);
  uint64_t pos = kPrefixBytes + header_bytes;
  auto skip_to = [&](uint64_t target) {
    while (pos < target) {
      uint64_t n = std::min<uint64_t>(target - pos, pad.size());
      if (!read_hashed(f.get(), pad.data(), n, h)) throw damaged(path, "it is truncated");
      pos += n;
    }
  };
  for (auto& e : entries) {
    skip_to(data_start + e.offset);
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.type));
    if (!read_hashed(f.get(), t.data_ptr(), e.bytes, h)) throw damaged(path, "it is truncated");
    pos += e.bytes;
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  skip_to(data_end);
  uint64_t stored = 0;
  if (std::fread(&stored, 1, sizeof stored, f.get()) != sizeof stored) throw damaged(path, "it is truncated");
  if (stored != h.digest()) throw damaged(path, "checksum mismatch");
  return out;
}

std::string model_config_json(const ModelConfig& c) {
  // Resolved values (kv_heads, ffn), so a later change of a default cannot change the shape
  // a checkpoint is read with.
  json j{{"vocab_size", c.vocab_size},
         {"dim", c.dim},
         {"layers", c.layers},
         {"heads", c.heads},
         {"kv_heads", c.resolved_kv_heads()},
         {"ffn", c.resolved_ffn()},
         {"context", c.context},
         {"tie_embeddings", c.tie_embeddings},
         {"rope_theta", c.rope_theta},
         {"norm_eps", c.norm_eps},
         {"init_std", c.init_std}};
  return j.dump();
}

ModelConfig model_config_from_json(const std::string& text, const fs::path& file) {
  ModelConfig c;
  auto invalid = [&] {
    return BadInput(
        fmt::format("checkpoint {}: the model configuration {} is not a valid shape", file.string(), text),
        "use another checkpoint");
  };
  try {
    json j = json::parse(text);
    auto integer = [&](const char* key) {
      const json& v = j.at(key);
      if (!is_int(v)) throw invalid();
      return static_cast<int>(v.get<int64_t>());
    };
    c.vocab_size = integer("vocab_size");
    c.dim = integer("dim");
    c.layers = integer("layers");
    c.heads = integer("heads");
    c.kv_heads = integer("kv_heads");
    c.ffn = integer("ffn");
    c.context = integer("context");
    c.tie_embeddings = j.at("tie_embeddings").get<bool>();
    c.rope_theta = j.value("rope_theta", c.rope_theta);
    c.norm_eps = j.value("norm_eps", c.norm_eps);
    c.init_std = j.value("init_std", c.init_std);
  } catch (const json::exception& e) {
    throw BadInput(
        fmt::format("checkpoint {}: the model configuration is unreadable ({})", file.string(), e.what()),
        "the file was not written by a compatible plinth; use another checkpoint");
  }
  if (c.vocab_size <= 0 || c.dim <= 0 || c.layers <= 0 || c.heads <= 0 || c.kv_heads <= 0 || c.ffn <= 0 ||
      c.context <= 0 || c.dim % c.heads != 0 || c.heads % c.kv_heads != 0)
    throw invalid();
  return c;
}

}  // namespace plinth::model
