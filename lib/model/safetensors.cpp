#include "model/safetensors.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth::model {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors stores little-endian bytes");

// A header beyond this is a corrupt length field, not a real model (the Rust reader caps it at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
const DtypeName kDtypes[] = {{torch::kFloat32, "F32"},
                             {torch::kBFloat16, "BF16"},
                             {torch::kFloat16, "F16"},
                             {torch::kInt64, "I64"},
                             {torch::kInt32, "I32"}};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  return nullptr;
}

bool dtype_from_name(const std::string& name, torch::ScalarType& out) {
  for (const auto& d : kDtypes)
    if (name == d.name) {
      out = d.type;
      return true;
    }
  return false;
}

}  // namespace

void write_safetensors(const fs::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<torch::Tensor> cpu;  // contiguous CPU copies, in file order
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw BadInput(
          fmt::format("tensor name '{}' is {}", name, name == "__metadata__" ? "reserved" : "given twice"),
          "", Location{path.string()});
    const char* dtype = dtype_name(tensor.scalar_type());
    if (!dtype)
      throw BadInput(fmt::format("tensor '{}' has dtype {}, which plinth does not write", name,
                                 c10::toString(tensor.scalar_type())),
                     "convert it to float32, bfloat16, float16, int64 or int32 first",
                     Location{path.string()});
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data then starts 8-byte aligned
  const uint64_t length = text.size();          // little-endian, as the static_assert checks

  AtomicFile out(path);
  out.write(&length, sizeof length);
  out.write(text);
  for (const auto& t : cpu) out.write(t.data_ptr(), t.numel() * t.element_size());
  out.commit();
}

namespace {

// One tensor's entry in the header.
struct Entry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // byte range within the data part
};

BadInput corrupt(const std::string& file, const std::string& what) {
  return BadInput(fmt::format("not a valid safetensors file: {}", what),
                  "re-export the weights; the file may have been cut short while copying", Location{file});
}

// The header's text -> its entries (sorted by offset) and metadata; every range checked against
// the `data_size` bytes after the header.
std::vector<Entry> parse_header(const std::string& text, uint64_t data_size, const std::string& file,
                                std::map<std::string, std::string>& metadata) {
  ordered_json header;
  try {
    header = ordered_json::parse(text);
  } catch (const ordered_json::exception& e) {
    throw corrupt(file, fmt::format("header is not JSON ({})", e.what()));
  }
  if (!header.is_object()) throw corrupt(file, "header is not a JSON object");

  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    // Named copies, not structured bindings: clang (the fuzz build) does not capture those in lambdas.
    const std::string& name = item.key();
    const ordered_json& info = item.value();
    if (name == "__metadata__") {
      if (!info.is_object()) throw corrupt(file, "__metadata__ is not an object");
      for (const auto& [k, v] : info.items())
        if (v.is_string()) metadata[k] = v.get<std::string>();
      continue;
    }
    auto bad_tensor = [&](const std::string& what) {
      return corrupt(file, fmt::format("tensor '{}': {}", name, what));
    };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
        !info.contains("data_offsets"))
      throw bad_tensor("needs dtype, shape and data_offsets");
    Entry e{name, torch::kFloat32, {}, 0, 0};
    if (!info["dtype"].is_string()) throw bad_tensor("dtype is not a string");
    const std::string dtype = info["dtype"].get<std::string>();
    if (!dtype_from_name(dtype, e.dtype))
      throw BadInput(fmt::format("tensor '{}' has dtype {}, which plinth does not read", name, dtype),
                     "convert the weights to F32, BF16 or F16", Location{file});
    const auto& shape = info["shape"];
    const auto& offsets = info["data_offsets"];
    if (!shape.is_array()) throw bad_tensor("shape is not a list");
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad_tensor("shape holds something other than sizes");
      e.shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
    }
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw bad_tensor("data_offsets is not [begin, end]");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      throw bad_tensor(fmt::format("bytes [{}, {}) lie outside the {} data bytes (truncated file?)", e.begin,
                                   e.end, data_size));
    if (e.end - e.begin != numel * c10::elementSize(e.dtype))
      throw bad_tensor(
          fmt::format("{} bytes do not hold shape {} of {}", e.end - e.begin, shape.dump(), dtype));
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  return entries;
}

// The header's length field checked against the file's size: the header's byte count.
uint64_t header_length(uint64_t length, uint64_t size, const std::string& file) {
  if (length > kMaxHeaderBytes || length > size - 8)
    throw corrupt(file, fmt::format("header length {} does not fit a file of {} bytes", length, size));
  return length;
}

// A read-only file mapping, unmapped when the last tensor viewing it goes.
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data) munmap(data, size);
  }
};

}  // namespace

SafetensorsFile read_safetensors_file(const fs::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput("cannot open the weights file", "check the path", Location{file});
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);

  uint64_t length = 0;
  if (size < 8 || !in.read(reinterpret_cast<char*>(&length), 8))
    throw corrupt(file, "shorter than its 8-byte header length");
  header_length(length, size, file);
  std::string text(length, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(length))) throw corrupt(file, "header cut short");
  const uint64_t data_start = 8 + length;

  SafetensorsFile result;
  for (auto& e : parse_header(text, size - data_start, file, result.metadata)) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin)))
      throw corrupt(file, fmt::format("tensor '{}' cut short", e.name));
    result.tensors.emplace_back(e.name, std::move(t));
  }
  return result;
}

SafetensorsFile map_safetensors_file(const fs::path& path) {
  const std::string file = path.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw BadInput("cannot open the weights file", "check the path", Location{file});
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw BadInput("the weights file is not a regular file", "check the path", Location{file});
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw corrupt(file, "shorter than its 8-byte header length");
  }
  auto mapping = std::make_shared<Mapping>();
  // Private and writable: a tensor written to (it should not be) copies its page instead of
  // faulting, and the file never changes.
  mapping->data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->data == MAP_FAILED) {
    mapping->data = nullptr;
    throw Failure(fmt::format("{}: cannot map the file into memory: {}", file, std::strerror(errno)));
  }
  mapping->size = size;
  const char* base = static_cast<const char*>(mapping->data);

  uint64_t length = 0;
  std::memcpy(&length, base, 8);
  header_length(length, size, file);
  const uint64_t data_start = 8 + length;
  SafetensorsFile result;
  for (auto& e : parse_header(std::string(base + 8, length), size - data_start, file, result.metadata)) {
    void* at = static_cast<char*>(mapping->data) + data_start + e.begin;
    result.tensors.emplace_back(e.name,
                                torch::from_blob(
                                    at, e.shape, [mapping](void*) {}, torch::TensorOptions().dtype(e.dtype)));
  }
  return result;
}

std::map<std::string, torch::Tensor> read_safetensors(const fs::path& path) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : read_safetensors_file(path).tensors) out.emplace(name, std::move(t));
  return out;
}

}  // namespace plinth::model
