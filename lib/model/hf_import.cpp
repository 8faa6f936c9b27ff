#include "model/hf_import.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>
#include <set>

#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"

namespace plinth::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kIndex = "model.safetensors.index.json";
const char* const kSingle = "model.safetensors";

// Older transformers saved RoPE's inverse frequencies as a buffer; plinth computes them.
bool derived_buffer(const std::string& name) {
  return ends_with(name, ".rotary_emb.inv_freq");
}

}  // namespace

HfWeightFiles hf_weight_files(const fs::path& dir) {
  HfWeightFiles out;
  const fs::path index = dir / kIndex;
  if (!fs::exists(index)) {
    if (!fs::is_regular_file(dir / kSingle))
      throw BadInput(fmt::format("{} holds neither {} nor {}", dir.string(), kSingle, kIndex),
                     "a Hugging Face model folder holds its weights as safetensors (save_pretrained "
                     "with safe_serialization); .bin weights are not read",
                     Location{dir.string()});
    out.files.push_back(dir / kSingle);
    return out;
  }
  json j;
  try {
    j = json::parse(read_file(index));
  } catch (const json::exception& e) {
    throw BadInput(fmt::format("not JSON: {}", e.what()), "re-download or re-save the model",
                   Location{index.string()});
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw BadInput("the index has no weight_map object", "re-download or re-save the model",
                   Location{index.string()});
  std::vector<Problem> problems;
  std::set<std::string> seen;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
      problems.push_back(Problem{Location{index.string()}, "weight_map." + name,
                                 fmt::format("{} is not a shard's file name", file.dump()), ""});
      continue;
    }
    const fs::path shard = dir / file.get<std::string>();
    out.weight_map[name] = shard;
    if (seen.insert(shard.string()).second) {
      out.files.push_back(shard);
      if (!fs::is_regular_file(shard))
        problems.push_back(Problem{Location{index.string()}, "weight_map." + name,
                                   fmt::format("shard {} does not exist", shard.string()),
                                   "the download is incomplete: fetch every shard the index names"});
    }
  }
  if (out.files.empty() && problems.empty())
    problems.push_back(Problem{Location{index.string()}, "weight_map", "names no tensor", ""});
  if (!problems.empty()) throw BadInput(std::move(problems));
  return out;
}

void load_hf_weights(Llama& model, const fs::path& path) {
  HfWeightFiles files;
  if (fs::is_directory(path))
    files = hf_weight_files(path);
  else
    files.files.push_back(path);
  auto params = model->named_parameters();
  const bool tied = model->config().tie_embeddings;

  std::vector<Problem> problems;
  auto bad = [&](const fs::path& file, std::string message, std::string hint) {
    problems.push_back(Problem{Location{file.string()}, "", std::move(message), std::move(hint)});
  };
  std::set<std::string> found;  // tensors that name a parameter, loaded or not
  torch::NoGradGuard no_grad;
  for (const fs::path& file : files.files) {
    // Mapped: each tensor is copied straight from the page cache into its parameter.
    SafetensorsFile weights = map_safetensors_file(file);
    for (const auto& [name, t] : weights.tensors) {
      if (derived_buffer(name) || (name == "lm_head.weight" && tied)) continue;
      if (!files.weight_map.empty()) {
        auto at = files.weight_map.find(name);
        if (at == files.weight_map.end() || at->second != file) {
          bad(file,
              fmt::format("tensor '{}' is in this shard, but the index places it {}", name,
                          at == files.weight_map.end() ? "nowhere" : "in " + at->second.filename().string()),
              "the shards and the index come from different saves: re-download the model");
          continue;
        }
      }
      torch::Tensor* param = params.find(name);
      if (param) found.insert(name);
      if (!param) {
        bad(file, fmt::format("tensor '{}' is not a parameter of this model", name),
            name == "lm_head.weight" ? "config.json says tie_word_embeddings: the file has an untied head"
                                     : "config.json describes another model than the weights (more layers?)");
      } else if (!t.is_floating_point()) {
        bad(file,
            fmt::format("tensor '{}' holds {} values, not weights", name, c10::toString(t.scalar_type())),
            "");
      } else if (t.sizes() != param->sizes()) {
        bad(file,
            fmt::format("tensor '{}' has shape [{}], config.json implies [{}]", name,
                        fmt::join(t.sizes(), ", "), fmt::join(param->sizes(), ", ")),
            "config.json describes another model than the weights; check vocab_size, hidden_size, "
            "num_key_value_heads, intermediate_size");
      } else {
        param->copy_(t);
      }
    }
  }
  for (const auto& item : params)
    if (!found.count(item.key()))
      bad(files.files.size() == 1 ? files.files.front() : path,
          fmt::format("no tensor holds parameter '{}'", item.key()),
          item.key() == "lm_head.weight" ? "the weights come from a tied model: config.json should say "
                                           "tie_word_embeddings: true"
                                         : "config.json describes another model than the weights");
  if (!problems.empty()) throw BadInput(std::move(problems));
}

HfModel load_hf_model(const fs::path& dir) {
  HfModel out;
  out.config = read_hf_config(dir);
  out.model = Llama(out.config.model);
  out.model->eval();
  load_hf_weights(out.model, dir);
  return out;
}

fs::path hf_tokenizer_file(const fs::path& dir) {
  const fs::path file = dir / "tokenizer.model";
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return file;
  const std::string supported =
      "plinth reads SentencePiece tokenizers (tokenizer.model: Llama 2, TinyLlama, Mistral, OpenLLaMA)";
  if (fs::exists(dir / "tokenizer.json", ec))
    throw BadInput(fmt::format("{} has a tokenizer.json but no tokenizer.model", dir.string()),
                   supported +
                       "; a model that ships only tokenizer.json (Llama 3, Qwen, GPT-2: byte-level "
                       "BPE) is not supported");
  throw BadInput(fmt::format("{} has no tokenizer.model", dir.string()),
                 supported + ": copy the model's tokenizer.model into the folder");
}

namespace {

// The meta of read_hf_checkpoint, checking the tokenizer against the model.
std::map<std::string, std::string> hf_meta(const fs::path& dir, const HfConfig& config) {
  const fs::path tok_file = hf_tokenizer_file(dir);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::load(tok_file);
  // A model may have more embeddings than pieces (padded for speed); never fewer.
  if (tok.vocab_size() > config.model.vocab_size)
    throw BadInput(fmt::format("{} has {} pieces, but config.json's vocab_size is {}", tok_file.string(),
                               tok.vocab_size(), config.model.vocab_size),
                   "the tokenizer belongs to another model: use the tokenizer.model published with these "
                   "weights");
  std::map<std::string, std::string> meta;
  meta["kind"] = "hf-model";
  meta["model_config"] = model_config_json(config.model);
  meta["tokenizer_hash"] = hex64(tok.hash());
  meta["tokenizer_file"] = tok_file.string();
  meta["hf_source"] = dir.string();
  meta["hf_architecture"] = config.architecture;
  meta["hf_dtype"] = config.dtype;
  return meta;
}

}  // namespace

CheckpointContents read_hf_checkpoint(const fs::path& dir) {
  CheckpointContents out;
  HfModel hf = load_hf_model(dir);
  out.meta = hf_meta(dir, hf.config);
  for (const auto& item : hf.model->named_parameters())
    out.tensors.emplace_back("model/" + item.key(), item.value().detach());
  return out;
}

std::map<std::string, std::string> read_hf_checkpoint_meta(const fs::path& dir) {
  return hf_meta(dir, read_hf_config(dir));
}

CheckpointContents read_model_checkpoint(const fs::path& path) {
  return is_hf_model_dir(path) ? read_hf_checkpoint(path) : read_checkpoint(path);
}

uint64_t model_source_hash(const fs::path& path) {
  if (!is_hf_model_dir(path)) return hash_file(path);
  Hasher h;
  auto add = [&](const fs::path& file) {
    h.field(file.filename().string());
    h.field(hash_file(file));
  };
  add(path / "config.json");
  if (fs::exists(path / kIndex)) add(path / kIndex);
  for (const fs::path& file : hf_weight_files(path).files) add(file);
  add(hf_tokenizer_file(path));
  if (fs::exists(path / "tokenizer_config.json")) add(path / "tokenizer_config.json");
  return h.digest();
}

}  // namespace plinth::model
