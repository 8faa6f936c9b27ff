#include "tokenizer/tokenizer.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "tokenizer/spm_bridge.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/shipped.h"

namespace plinth::tokenizer {

namespace fs = std::filesystem;

const char* spm_bridge_build_path();  // spm_bridge_path.cpp

namespace {

// Function table of the loaded bridge.
struct Bridge {
  plinth_spm_train_fn train;
  plinth_spm_load_fn load;
  plinth_spm_release_fn release;
  plinth_spm_free_string_fn free_string;
  plinth_spm_encode_fn encode;
  plinth_spm_decode_fn decode;
  plinth_spm_info_fn info;
  plinth_spm_piece_to_id_fn piece_to_id;
  plinth_spm_id_to_piece_fn id_to_piece;
  plinth_spm_score_fn score;
  plinth_spm_version_fn version;
};

// Where the bridge may be: $PLINTH_SPM_BRIDGE, beside the executable (build tree, container),
// an installed lib/ folder, and the build tree this library was compiled in.
std::vector<fs::path> bridge_candidates() {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("PLINTH_SPM_BRIDGE")) out.emplace_back(env);
  if (fs::path exe = executable_path(); !exe.empty()) {
    const fs::path dir = exe.parent_path();
    out.push_back(dir / "libplinth_spm.so");
    out.push_back(dir.parent_path() / "libplinth_spm.so");
    out.push_back(dir.parent_path() / "lib" / "plinth" / "libplinth_spm.so");
  }
  out.emplace_back(spm_bridge_build_path());
  return out;
}

template <class Fn>
void resolve(void* lib, const char* name, Fn& fn, const fs::path& path) {
  fn = reinterpret_cast<Fn>(::dlsym(lib, name));
  if (!fn) throw Failure(fmt::format("{} lacks {}: rebuild plinth", path.string(), name));
}

// dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND). AddressSanitizer's dlopen interceptor refuses
// RTLD_DEEPBIND (a deep-bound library would call libc's allocator, not the sanitizer's), so a
// sanitizer build opens the bridge with libc's own dlopen, out of the interceptor's sight. That
// is safe here: the bridge's C interface keeps each allocation on the side that made it
// (plinth_spm_free_string, the id sinks), so the two allocators never meet. The bridge itself
// is built without the sanitizers (lib/tokenizer/CMakeLists.txt).
// GCC says it is sanitizing addresses with __SANITIZE_ADDRESS__, clang 14 with __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define PLINTH_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLINTH_ADDRESS_SANITIZER 1
#endif
#endif

void* open_deep_bound(const char* path) {
#if defined(PLINTH_ADDRESS_SANITIZER)
  using DlopenFn = void* (*)(const char*, int);
  static const DlopenFn libc_dlopen = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    return libc ? reinterpret_cast<DlopenFn>(::dlsym(libc, "dlopen")) : nullptr;
  }();
  if (libc_dlopen) return libc_dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
  return ::dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
}

const Bridge& bridge() {
  static Bridge b;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    for (const fs::path& p : bridge_candidates()) {
      std::error_code ec;
      if (!fs::exists(p, ec)) {
        tried += "\n  " + p.string() + " (absent)";
        continue;
      }
      // RTLD_DEEPBIND: the bridge and libsentencepiece resolve their own (protobuf) symbols
      // first; RTLD_LOCAL: none of them leak into the global scope torch uses.
      void* lib = open_deep_bound(p.c_str());
      if (!lib) {
        tried += "\n  " + p.string() + ": " + ::dlerror();
        continue;
      }
      auto abi = reinterpret_cast<plinth_spm_abi_fn>(::dlsym(lib, "plinth_spm_abi"));
      if (!abi || abi() != PLINTH_SPM_BRIDGE_ABI)
        throw Failure(fmt::format("{} is from another plinth build: rebuild plinth", p.string()));
      resolve(lib, "plinth_spm_train", b.train, p);
      resolve(lib, "plinth_spm_load", b.load, p);
      resolve(lib, "plinth_spm_release", b.release, p);
      resolve(lib, "plinth_spm_free_string", b.free_string, p);
      resolve(lib, "plinth_spm_encode", b.encode, p);
      resolve(lib, "plinth_spm_decode", b.decode, p);
      resolve(lib, "plinth_spm_info", b.info, p);
      resolve(lib, "plinth_spm_piece_to_id", b.piece_to_id, p);
      resolve(lib, "plinth_spm_id_to_piece", b.id_to_piece, p);
      resolve(lib, "plinth_spm_score", b.score, p);
      resolve(lib, "plinth_spm_version", b.version, p);
      return;
    }
    throw Failure("cannot load the sentencepiece bridge libplinth_spm.so; tried:" + tried +
                  "\n  hint: keep libplinth_spm.so beside the plinth binary or set PLINTH_SPM_BRIDGE");
  });
  return b;
}

// Owns a malloc'd string from the bridge.
struct BridgeString {
  char* p = nullptr;
  ~BridgeString() {
    if (p) bridge().free_string(p);
  }
};

void append_ids(void* ctx, const int* ids, size_t count) {
  auto* out = static_cast<std::vector<int32_t>*>(ctx);
  out->insert(out->end(), ids, ids + count);
}

}  // namespace

std::string sentencepiece_version() {
  return bridge().version();
}

Tokenizer Tokenizer::load(const fs::path& model_file) {
  std::string bytes = read_file(model_file);  // BadInput when missing or a directory
  const Bridge& b = bridge();
  BridgeString error;
  void* handle = b.load(bytes.data(), bytes.size(), &error.p);
  if (!handle)
    throw BadInput(
        fmt::format("{} is not a SentencePiece model ({})", model_file.string(),
                    error.p ? error.p : "unknown error"),
        "train one with `plinth tokenizer train RECIPE` or point tokenizer.model at a .model file");
  Tokenizer t;
  t.handle_ = handle;
  t.model_file_ = model_file;
  t.convention_ = read_document_convention(model_file);
  t.document_start_ = t.eos_id();
  if (t.convention_.add_bos) {
    const int start = t.piece_to_id(t.convention_.start_piece);
    if (start == t.unk_id() || start < 0)
      throw BadInput(fmt::format("bos_token \"{}\" is not a piece of {}", t.convention_.start_piece,
                                 model_file.string()),
                     "name the model's BOS piece (e.g. \"<s>\") or set add_bos_token: false",
                     Location{t.convention_.config.string()});
    t.document_start_ = start;
  }
  // A tokenizer that frames documents differently makes different shards: another hash. plinth's
  // rule (and an export's, whose start piece is the EOS) keeps the hash of the bytes alone.
  if (t.stores_document_start()) bytes += fmt::format("\n#plinth-document-start:{}", t.document_start_);
  t.hash_ = hash64(bytes);
  // Segmenting is exact only when "\n" is a piece of its own and nothing is prepended to a
  // text: then "\nab" encodes as [\n] + encode("ab").
  int nl = t.piece_to_id("\n");
  if (nl != t.unk_id()) {
    std::vector<int32_t> whole, tail;
    t.encode_piece("\nab cd", whole);
    t.encode_piece("ab cd", tail);
    if (!whole.empty() && whole[0] == nl && std::vector<int32_t>(whole.begin() + 1, whole.end()) == tail)
      t.newline_id_ = nl;
  }
  return t;
}

void Tokenizer::train(const TrainOptions& o, const SentenceSource& source, const fs::path& prefix) {
  std::string symbols;
  for (const auto& s : o.user_defined_symbols) symbols += (symbols.empty() ? "" : ",") + s;
  // identity normalisation and kept whitespace: decode(encode(text)) == text, which code,
  // bits-per-byte and exact-match scoring all rely on.
  std::vector<std::pair<std::string, std::string>> kv = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", fmt::format("{}", o.character_coverage)},
      {"byte_fallback", o.byte_fallback ? "true" : "false"},
      {"split_digits", o.split_digits ? "true" : "false"},
      {"input_sentence_size", std::to_string(o.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      {"num_threads", std::to_string(o.num_threads)},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      // No dummy prefix: text encodes the same whole or cut after a newline, which lets
      // encode() work line by line (see segments_at_newlines).
      {"add_dummy_prefix", "false"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "3"},
      {"hard_vocab_limit", "true"},
      // sentencepiece's own log (progress of the merges) only with --verbose.
      {"minloglevel", log::verbosity() >= 2 ? "0" : "2"},
  };
  if (!symbols.empty()) kv.emplace_back("user_defined_symbols", symbols);
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : kv) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }

  struct Pull {
    const SentenceSource* source;
    std::string current;
  } pull{&source, {}};
  auto next = [](void* ctx, const char** data, size_t* size) -> int {
    auto* p = static_cast<Pull*>(ctx);
    if (!(*p->source)(p->current)) return 0;
    *data = p->current.data();
    *size = p->current.size();
    return 1;
  };

  const Bridge& b = bridge();
  BridgeString model;
  size_t model_size = 0;
  BridgeString error;
  error.p = b.train(keys.data(), values.data(), keys.size(), next, &pull, &model.p, &model_size);
  if (error.p)
    throw BadInput(fmt::format("sentencepiece could not train the tokenizer: {}", error.p),
                   "check tokenizer.vocab_size against the amount of text (a smaller vocabulary "
                   "or more text)");

  std::string serialized(model.p, model_size);
  BridgeString load_error;
  void* handle = b.load(serialized.data(), serialized.size(), &load_error.p);
  if (!handle) throw Failure("sentencepiece produced a model it cannot load");
  std::string vocab;
  for (int id = 0, n = b.info(handle, PLINTH_SPM_VOCAB); id < n; ++id) {
    BridgeString piece;
    piece.p = b.id_to_piece(handle, id);
    vocab += fmt::format("{}\t{}\n", piece.p, b.score(handle, id));
  }
  b.release(handle);
  fs::path model_path = prefix;
  model_path += ".model";
  fs::path vocab_path = prefix;
  vocab_path += ".vocab";
  write_file_atomic(model_path, serialized);
  write_file_atomic(vocab_path, vocab);
}

Tokenizer::Tokenizer(Tokenizer&& o) noexcept
    : handle_(o.handle_),
      newline_id_(o.newline_id_),
      document_start_(o.document_start_),
      convention_(std::move(o.convention_)),
      hash_(o.hash_),
      model_file_(std::move(o.model_file_)) {
  o.handle_ = nullptr;
}

Tokenizer& Tokenizer::operator=(Tokenizer&& o) noexcept {
  if (this != &o) {
    if (handle_) bridge().release(handle_);
    handle_ = o.handle_;
    newline_id_ = o.newline_id_;
    document_start_ = o.document_start_;
    convention_ = std::move(o.convention_);
    hash_ = o.hash_;
    model_file_ = std::move(o.model_file_);
    o.handle_ = nullptr;
  }
  return *this;
}

Tokenizer::~Tokenizer() {
  if (handle_) bridge().release(handle_);
}

void Tokenizer::encode_piece(std::string_view text, std::vector<int32_t>& ids) const {
  if (bridge().encode(handle_, text.data(), text.size(), append_ids, &ids) != 0)
    throw Failure("sentencepiece failed to encode a text");
}

void Tokenizer::encode(std::string_view text, std::vector<int32_t>& ids) const {
  if (newline_id_ < 0) return encode_piece(text, ids);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    if (end > pos) encode_piece(text.substr(pos, end - pos), ids);
    if (nl == std::string_view::npos) break;
    ids.push_back(newline_id_);
    pos = nl + 1;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode(text, ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> wide(ids.begin(), ids.end());
  size_t size = 0;
  BridgeString text;
  text.p = bridge().decode(handle_, wide.data(), wide.size(), &size);
  if (!text.p) throw BadInput("cannot decode token ids: an id is outside the vocabulary");
  return std::string(text.p, size);
}

int Tokenizer::vocab_size() const {
  return bridge().info(handle_, PLINTH_SPM_VOCAB);
}
int Tokenizer::bos_id() const {
  return bridge().info(handle_, PLINTH_SPM_BOS);
}
int Tokenizer::eos_id() const {
  return bridge().info(handle_, PLINTH_SPM_EOS);
}
int Tokenizer::unk_id() const {
  return bridge().info(handle_, PLINTH_SPM_UNK);
}
int Tokenizer::pad_id() const {
  return bridge().info(handle_, PLINTH_SPM_PAD);
}

int Tokenizer::piece_to_id(std::string_view piece) const {
  return bridge().piece_to_id(handle_, piece.data(), piece.size());
}

std::string Tokenizer::id_to_piece(int id) const {
  BridgeString s;
  s.p = bridge().id_to_piece(handle_, id);
  return s.p ? std::string(s.p) : std::string();
}

}  // namespace plinth::tokenizer
