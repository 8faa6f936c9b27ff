// The only translation unit that includes sentencepiece headers. Built as libplinth_spm.so
// and loaded with RTLD_DEEPBIND by tokenizer.cpp; see tokenizer.h for why.
#include "tokenizer/spm_bridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_string(const std::string& s, size_t* size = nullptr) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  if (size) *size = s.size();
  return out;
}

// Adapts the pull callback to sentencepiece's iterator.
class CallbackIterator : public sentencepiece::SentenceIterator {
 public:
  CallbackIterator(plinth_spm_next_fn next, void* ctx) : next_(next), ctx_(ctx) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    const char* data = nullptr;
    size_t size = 0;
    if (next_(ctx_, &data, &size))
      value_.assign(data, size);
    else
      done_ = true;
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  plinth_spm_next_fn next_;
  void* ctx_;
  std::string value_;
  bool done_ = false;
};

const sentencepiece::SentencePieceProcessor& processor(const void* handle) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int plinth_spm_abi() {
  return PLINTH_SPM_BRIDGE_ABI;
}

__attribute__((visibility("default"))) const char* plinth_spm_version() {
#ifdef SENTENCEPIECE_VERSION
  return SENTENCEPIECE_VERSION;
#else
  return "unknown";
#endif
}

__attribute__((visibility("default"))) char* plinth_spm_train(const char* const* keys,
                                                              const char* const* values, size_t count,
                                                              plinth_spm_next_fn next, void* ctx,
                                                              char** model, size_t* model_size) {
  try {
    std::unordered_map<std::string, std::string> kwargs;
    for (size_t i = 0; i < count; ++i) kwargs[keys[i]] = values[i];
    CallbackIterator it(next, ctx);
    std::string serialized;
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &it, &serialized);
    if (!status.ok()) return copy_string(status.ToString());
    *model = copy_string(serialized, model_size);
    return nullptr;
  } catch (const std::exception& e) {
    return copy_string(e.what());
  }
}

__attribute__((visibility("default"))) void* plinth_spm_load(const char* serialized, size_t size,
                                                             char** error) {
  auto* sp = new (std::nothrow) sentencepiece::SentencePieceProcessor();
  if (!sp) return nullptr;
  auto status = sp->LoadFromSerializedProto(std::string_view(serialized, size));
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

__attribute__((visibility("default"))) void plinth_spm_release(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

__attribute__((visibility("default"))) void plinth_spm_free_string(char* s) {
  std::free(s);
}

__attribute__((visibility("default"))) int plinth_spm_encode(const void* handle, const char* text,
                                                             size_t size, plinth_spm_ids_fn sink, void* ctx) {
  // One vector per thread, reused: encoding millions of documents must not allocate each time.
  thread_local std::vector<int> ids;
  ids.clear();
  if (!processor(handle).Encode(std::string_view(text, size), &ids).ok()) return -1;
  sink(ctx, ids.data(), ids.size());
  return 0;
}

__attribute__((visibility("default"))) char* plinth_spm_decode(const void* handle, const int* ids,
                                                               size_t count, size_t* size) {
  std::string text;
  if (!processor(handle).Decode(std::vector<int>(ids, ids + count), &text).ok()) return nullptr;
  return copy_string(text, size);
}

__attribute__((visibility("default"))) int plinth_spm_info(const void* handle, int kind) {
  const auto& sp = processor(handle);
  switch (kind) {
    case PLINTH_SPM_VOCAB:
      return sp.GetPieceSize();
    case PLINTH_SPM_BOS:
      return sp.bos_id();
    case PLINTH_SPM_EOS:
      return sp.eos_id();
    case PLINTH_SPM_UNK:
      return sp.unk_id();
    case PLINTH_SPM_PAD:
      return sp.pad_id();
  }
  return -1;
}

__attribute__((visibility("default"))) int plinth_spm_piece_to_id(const void* handle, const char* piece,
                                                                  size_t size) {
  return processor(handle).PieceToId(std::string_view(piece, size));
}

__attribute__((visibility("default"))) char* plinth_spm_id_to_piece(const void* handle, int id) {
  return copy_string(processor(handle).IdToPiece(id));
}

__attribute__((visibility("default"))) float plinth_spm_score(const void* handle, int id) {
  return processor(handle).GetScore(id);
}

}  // extern "C"
