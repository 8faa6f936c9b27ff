// Recipes (lib/recipe/recipe_loader.h): parse_yaml on arbitrary text, then what a run does with
// the tree: write it back as YAML (--print-config, and the recipe every checkpoint stores) and
// read that again, apply a command-line override, and bind every section the stages bind
// (recipe.cpp's name/tokenizer/data, model, train, finetune, task, eval, gate). Everything up to
// a bound recipe may refuse the input with BadInput only. Two contracts beyond "no crash":
//   - to_yaml's text parses back to the same tree (content_hash): a checkpoint's stored recipe
//     must read back as the recipe that made it;
//   - binding never throws anything but BadInput (all problems collected, none escaping).
// An input holding a NUL byte is split there: the YAML before, an override "key.path=value" after.
//
// Binding checks paths on the file system and walks source directories, so every `path:` is
// moved below a scratch directory of the harness's own (with a small tree in it): a fuzzed
// `path: /` would otherwise walk the whole disk, which says nothing about the code under test.
// (The working directory stays: libFuzzer's corpus and artifact paths are relative to it.)
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "data/data_spec.h"
#include "data/task_spec.h"
#include "eval/eval_spec.h"
#include "eval/gate_spec.h"
#include "finetune/finetune_spec.h"
#include "fuzz_support.h"
#include "model/model_config.h"
#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "tokenizer/tokenizer_spec.h"
#include "train/train_spec.h"

namespace {

namespace fs = std::filesystem;
using plinth::ConfigNode;

// A small tree for globs and directory sources to find: a text file, a JSONL file below.
const fs::path& sandbox() {
  static const fs::path dir = [] {
    fs::path d = fs::path(plinth::fuzz::scratch_path(".dir"));
    fs::create_directories(d / "corpus" / "sub");
    std::ofstream(d / "corpus" / "a.txt") << "one document\n\nanother\n";
    std::ofstream(d / "corpus" / "sub" / "b.jsonl") << "{\"text\": \"x\"}\n";
    return d;
  }();
  return dir;
}

// `path:` values moved below the sandbox ("/usr/x" and "../x" too).
void confine_paths(ConfigNode& node) {
  if (node.is_sequence()) {
    for (ConfigNode& item : node.items()) confine_paths(item);
    return;
  }
  if (!node.is_map()) return;
  for (const auto& entry : node.entries()) {
    ConfigNode* value = node.find(entry.first);
    if (entry.first == "path" && value->is_scalar()) {
      std::string confined = sandbox().string();
      for (const auto& part : fs::path(value->text()).relative_path())
        if (part != "..") confined += "/" + part.string();
      bool quoted = value->quoted();
      *value = ConfigNode::scalar(confined, value->where());
      value->set_quoted(quoted);
    } else {
      confine_paths(*value);
    }
  }
}

void check_round_trip(const ConfigNode& root) {
  const std::string yaml = plinth::recipe::to_yaml(root);
  ConfigNode again;
  try {
    again = plinth::recipe::parse_yaml(yaml, "round-trip.yaml");
  } catch (const plinth::BadInput& e) {
    throw std::logic_error("to_yaml wrote YAML that does not parse: " + std::string(e.what()) + "\n" + yaml);
  }
  if (plinth::recipe::content_hash(again) != plinth::recipe::content_hash(root))
    throw std::logic_error("to_yaml's YAML parses to another tree:\n" + yaml);
}

// Binds `key`'s section into a fresh Spec with the section's own bind(), as a stage does.
template <typename Spec>
void bind_section(plinth::ConfigSection& root, const char* key) {
  Spec spec;
  plinth::ConfigSection section = root.child(key);
  bind(section, spec);  // found by argument-dependent lookup in Spec's namespace
}

// The sections as the stages bind them (recipe.cpp, finetune_recipe.cpp, cmd_pretrain.cpp,
// cmd_eval.cpp); one Diagnostics, as each stage collects every problem before throwing.
void bind_all(const ConfigNode& root_node) {
  plinth::Diagnostics diag;
  plinth::ConfigSection root(&root_node, "", diag, plinth::Location{"fuzz.yaml"});
  std::string name;
  root.read("name", name);
  root.ignore("description");
  bind_section<plinth::tokenizer::TokenizerSpec>(root, "tokenizer");
  bind_section<plinth::data::DataSpec>(root, "data");
  bind_section<plinth::model::ModelConfig>(root, "model");
  bind_section<plinth::train::TrainSpec>(root, "train");
  bind_section<plinth::finetune::FinetuneSpec>(root, "finetune");
  bind_section<plinth::data::TaskSpec>(root, "task");
  bind_section<plinth::eval::EvalSpec>(root, "eval");
  if (const ConfigNode* g = root_node.find("gate")) {
    plinth::ConfigSection gs = root.child("gate");
    plinth::eval::GateThresholds thresholds;
    plinth::eval::bind(gs, g, thresholds);
  }
  root.finish();
  diag.throw_if_any();
  // `plinth generate` reads the task's prompt format from a checkpoint's stored recipe.
  plinth::data::task_format_from_recipe(root_node);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);

  ConfigNode root;
  try {
    root = plinth::recipe::parse_yaml(text, "fuzz.yaml");
  } catch (const plinth::BadInput&) {
    return 0;
  }
  check_round_trip(root);
  if (nul != std::string::npos) {
    try {
      plinth::recipe::apply_override(root, input.substr(nul + 1));
    } catch (const plinth::BadInput&) {
      return 0;
    }
    check_round_trip(root);
  }
  confine_paths(root);
  plinth::fuzz::expect_typed_errors([&] { bind_all(root); });
  return 0;
}
