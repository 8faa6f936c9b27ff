#include "finetune/generated_replay.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/utf8.h"
#include "model/autocast_guard.h"
#include "model/generation.h"
#include "model/hf_import.h"
#include "train/data_parallel.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

namespace {

constexpr int kGeneratedRecordFormat = 1;

// Rows sampled together: as many as keep the KV cache (float32, every layer, rows at the longest
// length) within 512 MiB, at most 256. A small model's step is mostly fixed cost, so many rows
// share it (the quickstart's base: 256 rows; a 1B model with a 2048 context: a few). Part of
// the record: another count draws other samples.
int64_t generation_rows(const model::ModelConfig& c, int64_t max_new_tokens) {
  const double row_bytes =
      2.0 * c.layers * c.resolved_kv_heads() * c.head_dim() * double(max_new_tokens + 1) * 4;
  return std::clamp<int64_t>(static_cast<int64_t>(512.0 * (1 << 20) / row_bytes), 1, 256);
}

// Bad input about one key of the recipe's finetune.replay section, naming the recipe file.
[[noreturn]] void bad_replay_key(const FinetuneRecipe& f, const char* key, std::string message,
                                 std::string hint) {
  throw BadInput(Location{f.recipe.loaded.file.string()}, fmt::format("finetune.replay.{}", key),
                 std::move(message), std::move(hint));
}

// What decides the documents' tokens: a record that differs in any of these is made again.
nlohmann::json generation_key(const finetune::ReplaySpec& r, uint64_t base_hash, uint64_t tokenizer_hash,
                              int64_t max_new_tokens, int64_t rows) {
  return {{"format", kGeneratedRecordFormat},
          {"base_hash", hex64(base_hash)},
          {"tokenizer_hash", hex64(tokenizer_hash)},
          {"documents", r.documents},
          {"max_tokens", max_new_tokens},
          {"temperature", r.temperature},
          {"top_p", r.top_p},
          {"seed", r.seed},
          {"rows_per_batch", rows}};
}

// The shard when the record beside it has `key` and the shard opens whole with as many documents;
// otherwise nullopt, and `why` says what differs.
std::optional<data::ShardReader> reusable(const fs::path& run_dir, const nlohmann::json& key,
                                          uint64_t tokenizer_hash, std::string& why) {
  const fs::path record = generated_replay_record_path(run_dir), shard = generated_replay_shard_path(run_dir);
  std::error_code ec;
  if (!fs::exists(record, ec) || !fs::exists(shard, ec)) {
    why = "none in the run directory yet";
    return std::nullopt;
  }
  try {
    std::ifstream in(record);
    const nlohmann::json held = nlohmann::json::parse(in);
    for (const auto& [name, value] : key.items())
      if (!held.contains(name) || held[name] != value) {
        why = fmt::format("{} was {}, now {}", name, held.contains(name) ? held[name].dump() : "absent",
                          value.dump());
        return std::nullopt;
      }
    data::ShardReader reader = data::ShardReader::open(shard, tokenizer_hash);
    if (reader.info().documents != key["documents"].get<uint64_t>()) {
      why = fmt::format("{} holds {} documents, not {}", shard.string(), reader.info().documents,
                        key["documents"].get<int64_t>());
      return std::nullopt;
    }
    return reader;
  } catch (const std::exception& e) {  // a damaged record or shard: make them again
    why = e.what();
    return std::nullopt;
  }
}

// Samples the documents into the shard, then writes the record (each atomically: a record never
// describes a shard that is not whole).
void sample_documents(const FinetuneRecipe& f, const nlohmann::json& key, const fs::path& base_ckpt,
                      model::Llama& base, const tokenizer::Tokenizer& tok, int64_t max_new_tokens) {
  const finetune::ReplaySpec& r = f.finetune.replay;
  const int64_t batch_rows = key["rows_per_batch"].get<int64_t>();
  const bool bf16 = f.train.autocast_bf16();
  const torch::Device device = base->parameters().front().device();
  const bool was_training = base->is_training();
  base->eval();
  model::GenerateOptions o;
  o.max_new_tokens = static_cast<int>(max_new_tokens);
  o.temperature = r.temperature;
  o.top_p = r.top_p;
  const std::vector<int64_t> prompt{tok.document_start_id()};
  log::info(
      "generated replay: sampling {} documents of at most {} tokens from the base (temperature {}, top_p {}, "
      "seed {}, {} rows at a time, {})",
      r.documents, max_new_tokens, r.temperature, r.top_p, r.seed, batch_rows, bf16 ? "bf16" : "float32");

  fs::create_directories(generated_replay_shard_path(f.run_dir).parent_path());
  const auto vocab = static_cast<uint32_t>(base->config().vocab_size);
  data::ShardWriter writer(generated_replay_shard_path(f.run_dir), data::token_width_for(vocab), vocab,
                           tok.hash());
  Progress progress("generated replay", static_cast<uint64_t>(r.documents));
  const auto start = std::chrono::steady_clock::now();
  uint64_t tokens = 0, ended = 0;
  std::string preview;
  std::vector<int32_t> doc;
  for (int64_t done = 0, batch = 0; done < r.documents; ++batch) {
    const int64_t rows = std::min(batch_rows, r.documents - done);
    o.seed = hash64(fmt::format("generated-replay:{}:{}", r.seed, batch));
    std::vector<std::vector<int64_t>> sampled;
    {
      model::AutocastGuard autocast(device.type(), torch::kBFloat16, bf16);
      sampled = model::generate_rows(base, prompt, rows, o, tok.eos_id());
    }
    for (const auto& s : sampled) {
      const bool eos = !s.empty() && s.back() == tok.eos_id();
      ended += eos;
      doc.assign(s.begin(), s.end() - (eos ? 1 : 0));  // the text's tokens
      const std::string text = tok.decode(doc);
      if (preview.empty()) preview = text.substr(0, data::utf8_floor(text, 160));  // whole characters
      if (tok.stores_document_start()) doc.insert(doc.begin(), tok.document_start_id());
      doc.push_back(tok.eos_id());  // every document ends with EOS, as prepared ones do
      writer.add_document(doc.data(), doc.size(), text.size());
      tokens += doc.size();
    }
    done += rows;
    const double seconds = seconds_since(start);
    progress.update(static_cast<uint64_t>(done), fmt::format("{} tokens, {:.0f} tokens/s", tokens,
                                                             seconds > 0 ? double(tokens) / seconds : 0.0));
  }
  writer.commit();
  const double seconds = seconds_since(start);
  progress.finish(fmt::format("{} documents, {} tokens ({} ended by EOS, the rest at {} tokens) in {}",
                              r.documents, tokens, ended, max_new_tokens, format_duration(seconds)));
  if (was_training) base->train();

  nlohmann::json record = key;
  record["base_checkpoint"] = base_ckpt.string();
  record["precision"] = bf16 ? "bf16" : "fp32";
  record["device"] = device.str();
  record["tokens"] = tokens;
  record["ended_by_eos"] = ended;
  record["seconds"] = seconds;
  write_file_atomic(generated_replay_record_path(f.run_dir), record.dump(2) + "\n");
  log::info("wrote {} and {}; the first document begins: {:?}",
            generated_replay_shard_path(f.run_dir).string(), generated_replay_record_path(f.run_dir).string(),
            preview);
}

}  // namespace

fs::path generated_replay_shard_path(const fs::path& run_dir) {
  return run_dir / "replay" / "generated.bin";
}
fs::path generated_replay_record_path(const fs::path& run_dir) {
  return run_dir / "replay" / "generated.json";
}

DomainShards generated_replay(const FinetuneRecipe& f, const fs::path& base_ckpt, model::Llama& base,
                              const tokenizer::Tokenizer& tok, int64_t row_tokens, train::DataParallel* dp) {
  const finetune::ReplaySpec& r = f.finetune.replay;
  if (tok.document_start_id() < 0)
    bad_replay_key(f, "source",
                   fmt::format("generated replay starts each document as the tokenizer {} starts one, but it "
                               "has no EOS piece and no bos_token",
                               tok.model_file().string()),
                   "replay pretraining data instead (source: data), or use a tokenizer with an EOS piece");
  const int64_t context = base->config().context;
  const int64_t room = context - 1;  // the start token takes one position
  if (r.max_tokens > room)
    bad_replay_key(
        f, "max_tokens",
        fmt::format("{} tokens per generated document, but the base's context of {} leaves room for "
                    "{} after the start token",
                    r.max_tokens, context, room),
        fmt::format("set it to at most {} (0: as many as fit)", room));
  const int64_t max_new_tokens = r.max_tokens > 0 ? r.max_tokens : room;
  const nlohmann::json key = generation_key(r, model::model_source_hash(base_ckpt), tok.hash(),
                                            max_new_tokens, generation_rows(base->config(), max_new_tokens));

  std::optional<data::ShardReader> reader;  // opened (and checked) once
  if (!dp || dp->lead()) {
    std::string why;
    reader = reusable(f.run_dir, key, tok.hash(), why);
    if (reader) {
      log::info("generated replay: reusing {} (same base, tokenizer and settings)",
                generated_replay_shard_path(f.run_dir).string());
    } else {
      log::info("generated replay: making {} ({})", generated_replay_shard_path(f.run_dir).string(), why);
      sample_documents(f, key, base_ckpt, base, tok, max_new_tokens);
    }
  }
  if (dp) dp->barrier();

  DomainShards shards;
  shards.readers.push_back(reader
                               ? std::move(*reader)
                               : data::ShardReader::open(generated_replay_shard_path(f.run_dir), tok.hash()));
  const data::ShardReader& shard = shards.readers.back();
  if (static_cast<int64_t>(shard.size()) < row_tokens + 1)
    bad_replay_key(f, "documents",
                   fmt::format("the {} generated documents hold {} tokens, fewer than one replay row of {}",
                               r.documents, shard.size(), row_tokens + 1),
                   "raise documents (or max_tokens)");
  shards.domains.emplace_back("generated", &shard);
  return shards;
}

}  // namespace plinth::finetune
