#include "tokenizer/tokenizer_spec.h"

#include <algorithm>

namespace plinth::tokenizer {

void bind(ConfigSection& s, TokenizerSpec& spec) {
  s.read("model", spec.model);
  TrainOptions& t = spec.train;
  s.read_choice("type", t.model_type, {"bpe", "unigram"});
  s.read("vocab_size", t.vocab_size, Range<int64_t>::between(64, 1 << 20));
  s.read("character_coverage", t.character_coverage, Range<double>{0.9, 1.0, false});
  s.read("byte_fallback", t.byte_fallback);
  s.read("split_digits", t.split_digits);
  s.read("user_defined_symbols", t.user_defined_symbols);
  s.read("threads", t.num_threads, Range<int64_t>::between(1, 256));
  s.read_bytes("sample_bytes", spec.sample_bytes, Range<uint64_t>::at_least(1024));
  s.read("max_sentence_bytes", spec.max_sentence_bytes, Range<int64_t>::between(64, 1 << 20));
  s.finish();

  for (const auto& sym : t.user_defined_symbols) {
    if (sym.empty()) s.error("user_defined_symbols", "a symbol is empty", "remove the empty entry");
    if (sym.find(',') != std::string::npos)
      s.error("user_defined_symbols", "'" + sym + "' contains a comma, which sentencepiece cannot take",
              "pick a symbol without ','");
  }
  for (const char* ws : {"\n", "\t"})
    if (std::find(t.user_defined_symbols.begin(), t.user_defined_symbols.end(), ws) ==
        t.user_defined_symbols.end())
      t.user_defined_symbols.emplace_back(ws);
  t.max_sentence_length = std::max(spec.max_sentence_bytes * 2, 4192);
  // Sentences are sampled by plinth (weights, caps, val excluded); sentencepiece takes them all.
  t.input_sentence_size = 0;
}

}  // namespace plinth::tokenizer
