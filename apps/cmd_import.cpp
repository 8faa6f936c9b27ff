// plinth import HF_DIR OUT.ckpt: a Hugging Face Llama-family model folder as a plinth checkpoint,
// converted once (every command also reads the folder itself; docs/hf-interop.md). The weights
// are mapped, not read, and held once in float32; the peak memory is logged.
#include <fmt/format.h>
#include <sys/resource.h>

#include "command.h"
#include "model/checkpoint_file.h"
#include "model/hf_import.h"
#include "model/hf_config.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct ImportArgs {
  std::string hf_dir;
  std::string out;
};

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

void run_import(const ImportArgs& a) {
  const fs::path dir = a.hf_dir, out = a.out;
  if (!model::is_hf_model_dir(dir))
    throw BadInput(fmt::format("{} is not a Hugging Face model folder (no config.json in it)", dir.string()),
                   "give the folder save_pretrained wrote: config.json, model*.safetensors, tokenizer.model");
  if (model::is_hf_model_dir(out) || fs::is_directory(out))
    throw BadInput(fmt::format("{} is a directory; the output is one checkpoint file", out.string()),
                   "name the file to write, e.g. models/tinyllama.ckpt");
  model::CheckpointContents ckpt = model::read_model_checkpoint(dir);
  ckpt.meta["kind"] = "plinth-import";
  ckpt.meta["step"] = "0";
  int64_t params = 0;
  for (const auto& [name, t] : ckpt.tensors) params += t.numel();
  model::write_checkpoint(out, ckpt);
  log::info("imported {} ({}, {} parameters, float32 {:.2f} GiB); peak memory {:.2f} GiB", dir.string(),
            ckpt.meta["hf_architecture"], params, static_cast<double>(params) * 4 / (1 << 30),
            peak_rss_gib());
  fmt::print("{}\n", out.string());
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("import", "Convert a Hugging Face Llama-family model folder to a checkpoint");
  static ImportArgs a;
  cmd->add_option("hf_dir", a.hf_dir, "Model folder: config.json, model*.safetensors, tokenizer.model")
      ->required();
  cmd->add_option("out", a.out, "Checkpoint file to write (.ckpt)")->required();
  cmd->footer(
      "Example:\n"
      "  plinth import models/tinyllama models/tinyllama.ckpt\n"
      "Reads LlamaForCausalLM (and MistralForCausalLM without a sliding window) in float32, bfloat16 or\n"
      "float16, from one model.safetensors or the shards of model.safetensors.index.json; writes float32.\n"
      "The checkpoint names the folder's tokenizer.model (its tokenizer_config.json sets the document\n"
      "start); every command also takes the folder itself where it takes a checkpoint.");
  cmd->callback([] { run_import(a); });
}

}  // namespace plinth
