#include "tokenizer/document_convention.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth::tokenizer {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kConfig = "tokenizer_config.json";

// A special token as transformers writes it: a string, or {"content": string, ...} (AddedToken).
std::string token_text(const json& value, const fs::path& file, const std::string& key) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw BadInput(Location{file.string()}, key,
                 fmt::format("{} is neither a string nor an object with a \"content\" string", value.dump()),
                 "write the token's text, e.g. \"<s>\"");
}

}  // namespace

DocumentConvention read_document_convention(const fs::path& model_file) {
  DocumentConvention c;
  const fs::path file = model_file.parent_path() / kConfig;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return c;
  c.config = file;
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    throw BadInput(fmt::format("not JSON: {}", e.what()),
                   "re-save the tokenizer (save_pretrained), or delete the file to use plinth's rule (each "
                   "document starts with the EOS before it)",
                   Location{file.string()});
  }
  if (!j.is_object()) throw BadInput("not a JSON object", "re-save the tokenizer", Location{file.string()});
  c.add_bos = true;  // LlamaTokenizer's default
  if (j.contains("add_bos_token")) {
    if (!j["add_bos_token"].is_boolean())
      throw BadInput(Location{file.string()}, "add_bos_token",
                     fmt::format("{} is not true or false", j["add_bos_token"].dump()),
                     "write true (documents start with bos_token) or false (with the EOS before them)");
    c.add_bos = j["add_bos_token"].get<bool>();
  }
  c.start_piece = "<s>";
  if (j.contains("bos_token") && !j["bos_token"].is_null())
    c.start_piece = token_text(j["bos_token"], file, "bos_token");
  if (!c.add_bos) c.start_piece.clear();
  return c;
}

std::string plinth_tokenizer_config_json(const std::string& eos_piece, const std::string& unk_piece,
                                         const std::string& pad_piece, int64_t max_length) {
  json j;
  j["tokenizer_class"] = "LlamaTokenizer";
  // plinth's documents start with the EOS before them: AutoTokenizer puts it first as "BOS".
  j["add_bos_token"] = true;
  j["add_eos_token"] = false;
  j["bos_token"] = eos_piece;
  j["eos_token"] = eos_piece;
  j["unk_token"] = unk_piece;
  j["pad_token"] = pad_piece.empty() ? json(nullptr) : json(pad_piece);
  // plinth's tokenizers have no dummy prefix and keep whitespace as it is.
  j["add_prefix_space"] = false;
  j["legacy"] = false;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = max_length;
  return j.dump(2) + "\n";
}

}  // namespace plinth::tokenizer
