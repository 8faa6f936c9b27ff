// Generated replay (finetune.replay.source: generated): before fine-tuning, the base samples
// documents itself, and those are replayed as its pretraining data would be (the same windows,
// the same share of scored targets: train/task_batches.h ReplayBatches). For a base whose
// pretraining data is not at hand (a published model): at temperature 1 and top_p 1 the
// replayed targets are draws from the base's own distribution, so their cross-entropy pulls the
// tuned model toward it (in expectation the gradient of KL(p_base || p_tuned)).
//
//   <run_dir>/replay/generated.bin    the documents as a token shard (data/shard.h), framed as
//                                     the tokenizer frames a prepared document: [start,] t..., EOS
//   <run_dir>/replay/generated.json   what made them (base hash, tokenizer hash, every setting,
//                                     the precision) and what came out (tokens, documents that
//                                     ended by EOS rather than at max_tokens, seconds)
// A rerun whose base, tokenizer and settings match reuses the shard; anything else makes it again.
// Includes torch (through model/llama.h): include it only from torch-heavy files.
#pragma once

#include <filesystem>

#include "finetune/finetune_recipe.h"
#include "model/llama.h"

namespace plinth::train {
class DataParallel;
}

namespace plinth::finetune {

std::filesystem::path generated_replay_shard_path(const std::filesystem::path& run_dir);
std::filesystem::path generated_replay_record_path(const std::filesystem::path& run_dir);

// f's generated documents as one replay domain named "generated", sampled from `base` (the base
// as loaded, before adapters or freezing; its mode is restored) when the run directory holds none
// that fit. Sampling runs in batches of rows with the KV cache, in the training's precision,
// with a progress line (documents, tokens/s, ETA). Data-parallel: rank 0 samples and writes,
// every rank waits for it and reads the same file.
// BadInput (key finetune.replay.*) when the tokenizer has no document-start token (no EOS piece
// and no bos_token), or max_tokens leaves the context no room, or the documents hold fewer tokens
// than one replay row (`row_tokens` + 1).
DomainShards generated_replay(const FinetuneRecipe& f, const std::filesystem::path& base_ckpt,
                              model::Llama& base, const tokenizer::Tokenizer& tok, int64_t row_tokens,
                              train::DataParallel* dp);

}  // namespace plinth::finetune
