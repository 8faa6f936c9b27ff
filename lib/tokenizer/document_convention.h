// Which token starts a document, the one rule where tokenizers from elsewhere differ from
// plinth's own. Every document ends with EOS in the shards; what comes before its first token:
//
//   plinth's tokenizers: the EOS of the document before it. Shards hold [t..., EOS] per
//     document, and scoring, task prompts and generation put one EOS before the text.
//   a tokenizer.model beside a tokenizer_config.json (a Hugging Face folder: Llama 2, TinyLlama,
//     Mistral, OpenLLaMA): that file decides. add_bos_token (absent: true, as LlamaTokenizer
//     does) puts bos_token (absent: "<s>") before every document, so shards hold
//     [BOS, t..., EOS]; with add_bos_token false the EOS before the text starts it, as in plinth.
//
// Normalisation and the dummy prefix ("▁" before a text's first word) are not rules of plinth's:
// they live in the .model file itself and sentencepiece applies them. `plinth export` writes a
// tokenizer_config.json whose bos_token is the EOS piece, so an exported model read back (or
// loaded by transformers) frames documents exactly as plinth trained it. No torch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace plinth::tokenizer {

struct DocumentConvention {
  std::filesystem::path config;  // the tokenizer_config.json read; empty: plinth's own rule
  bool add_bos = false;          // documents begin with start_piece
  std::string start_piece;       // bos_token's text, when add_bos
};

// The convention of `model_file`: plinth's when no tokenizer_config.json lies beside it.
// BadInput naming the file and key when the JSON does not parse or a key has the wrong type.
DocumentConvention read_document_convention(const std::filesystem::path& model_file);

// tokenizer_config.json's text for a plinth tokenizer whose EOS piece is `eos_piece` (and the
// other special pieces as given): bos_token = the EOS piece, add_bos_token = true, so that
// AutoTokenizer puts the EOS before a text, as plinth's training did.
std::string plinth_tokenizer_config_json(const std::string& eos_piece, const std::string& unk_piece,
                                         const std::string& pad_piece, int64_t max_length);

}  // namespace plinth::tokenizer
