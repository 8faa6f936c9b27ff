#include "checkpoint_tokenizer.h"

#include "eval/checkpoint_tokenizer.h"
#include "model/checkpoint_model.h"
#include "tokenizer/tokenizer_spec.h"

namespace plinth {

tokenizer::Tokenizer checkpoint_tokenizer(const model::CheckpointContents& ckpt,
                                          const std::filesystem::path& checkpoint,
                                          const std::string& tokenizer_arg) {
  const std::filesystem::path file =
      eval::checkpoint_tokenizer_file(ckpt, checkpoint, tokenizer_arg, tokenizer::TokenizerSpec{}.model);
  auto tok = tokenizer::Tokenizer::load(file);
  model::check_tokenizer(ckpt, checkpoint, tok.hash(), file.string());
  return tok;
}

}  // namespace plinth
