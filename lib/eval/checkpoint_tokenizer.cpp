#include "eval/checkpoint_tokenizer.h"

#include <fmt/format.h>

#include "recipe/recipe_loader.h"
#include "util/error.h"

namespace plinth::eval {

std::filesystem::path checkpoint_tokenizer_file(const model::CheckpointContents& ckpt,
                                                const std::filesystem::path& checkpoint,
                                                const std::string& explicit_file,
                                                const std::string& default_prefix) {
  if (!explicit_file.empty()) return explicit_file;
  // A Hugging Face folder, or a checkpoint plinth import made from one: the folder's tokenizer.
  if (auto named = ckpt.meta.find("tokenizer_file"); named != ckpt.meta.end()) {
    std::error_code ec;
    if (!std::filesystem::exists(named->second, ec))
      throw BadInput(fmt::format("the tokenizer {} that {} was imported with does not exist", named->second,
                                 checkpoint.string()),
                     "name it: --tokenizer PATH/tokenizer.model");
    return named->second;
  }
  auto it = ckpt.meta.find("recipe");
  if (it == ckpt.meta.end())
    throw BadInput(fmt::format("{} stores no recipe naming its tokenizer", checkpoint.string()),
                   "name it: --tokenizer PATH.model");
  ConfigNode root = recipe::parse_yaml(it->second, checkpoint.string() + " (stored recipe)");
  std::string prefix = default_prefix;
  if (const ConfigNode* tok = root.find("tokenizer"))
    if (const ConfigNode* model = tok->find("model"))
      if (model->is_scalar() && !model->text().empty()) prefix = model->text();
  std::filesystem::path file = prefix + ".model";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    throw BadInput(fmt::format("the tokenizer {} named by the recipe stored in {} does not exist",
                               file.string(), checkpoint.string()),
                   "run from the directory the model was trained in, or name it: --tokenizer PATH.model");
  return file;
}

}  // namespace plinth::eval
