// SentencePiece behind a small interface. Debian's libsentencepiece embeds its own protobuf
// and exports it; LibTorch links another protobuf; one process linking both crashes at
// start-up. So sentencepiece lives in a separate shared object (spm_bridge.cpp ->
// libplinth_spm.so) that this class loads with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its
// protobuf symbols bind inside it and never meet torch's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/document_convention.h"

namespace plinth::tokenizer {

struct TrainOptions {
  std::string model_type = "bpe";  // bpe | unigram
  int vocab_size = 8192;
  double character_coverage = 0.9995;
  bool byte_fallback = true;                      // unknown characters become <0xNN> byte pieces
  std::vector<std::string> user_defined_symbols;  // always one piece each (prompt/response markers)
  bool split_digits = true;                       // each digit its own piece: arithmetic stays learnable
  int64_t input_sentence_size = 2000000;          // sentences sampled by sentencepiece (0 = all)
  int max_sentence_length = 16384;                // bytes
  int num_threads = 2;
  int seed = 1;
};

// Feeds training text; return false when there is no more.
using SentenceSource = std::function<bool(std::string& sentence)>;

class Tokenizer {
 public:
  // Loads a .model file, and the document convention beside it (document_convention.h). Throws
  // BadInput naming the file when it is missing or not a model, or when its tokenizer_config.json
  // names a start piece the model does not have.
  static Tokenizer load(const std::filesystem::path& model_file);
  // Trains a model; writes <prefix>.model and <prefix>.vocab (atomically). Throws BadInput for
  // options sentencepiece rejects (e.g. a vocabulary larger than the text allows), with its reason.
  static void train(const TrainOptions& options, const SentenceSource& source,
                    const std::filesystem::path& prefix);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Thread-safe: several threads may encode with one Tokenizer.
  void encode(std::string_view text, std::vector<int32_t>& ids) const;
  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  // One sentencepiece call over the whole text, no line splitting (tests compare the two).
  void encode_piece(std::string_view text, std::vector<int32_t>& ids) const;

  // True when encode(a + b) == encode(a) + encode(b) for any cut right after a newline: the
  // model has a newline piece and no dummy prefix (plinth-trained models). Callers may then
  // encode a long text in parallel pieces. encode() itself uses it: sentencepiece's BPE is
  // superlinear in input length, so a document is encoded line by line (3-5x faster).
  bool segments_at_newlines() const { return newline_id_ >= 0; }

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  int pad_id() const;
  int piece_to_id(std::string_view piece) const;  // unk_id() when absent
  // The token before a document's first token (document_convention.h): eos_id() for plinth's
  // tokenizers, bos_id() for Llama's. stores_document_start(): the shards hold it at each
  // document's head (it is not the previous document's EOS).
  int document_start_id() const { return document_start_; }
  bool stores_document_start() const { return document_start_ != eos_id(); }
  const DocumentConvention& convention() const { return convention_; }
  std::string id_to_piece(int id) const;
  // XXH3 of the .model bytes (and, when documents start with another token than EOS, of that
  // token): shards and checkpoints record it to catch a tokenizer swap.
  uint64_t hash() const { return hash_; }
  const std::filesystem::path& model_file() const { return model_file_; }

 private:
  Tokenizer() = default;
  void* handle_ = nullptr;
  int newline_id_ = -1;  // >= 0 only when segments_at_newlines()
  int document_start_ = -1;
  DocumentConvention convention_;
  uint64_t hash_ = 0;
  std::filesystem::path model_file_;
};

// Version string of the sentencepiece library in use (for --version).
std::string sentencepiece_version();

}  // namespace plinth::tokenizer
