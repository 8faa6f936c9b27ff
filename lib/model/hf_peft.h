// LoRA adapters in the layout of Hugging Face PEFT (PeftModel.from_pretrained(base, dir)):
// dir/adapter_model.safetensors and dir/adapter_config.json. Names map one to one:
//   plinth  model.layers.0.self_attn.q_proj.lora_A                  (rank, in)
//   PEFT    base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight   (rank, in)
// and the update is scaled by lora_alpha / r in both (use_rslora false). target_modules is
// the list of adapted modules' full names, which PEFT matches exactly, so a regex in the
// recipe that picked some layers only picks the same ones there. Includes torch.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "model/finetune_options.h"
#include "model/safetensors.h"

namespace plinth::model {

struct PeftAdapter {
  NamedTensors tensors;  // plinth names, (rank, in) and (out, rank), float32
  int rank = 0;
  double alpha = 0;
  double dropout = 0;
  std::vector<std::string> modules;  // adapted modules' full names, in order
  std::string base_model;            // base_model_name_or_path
};

std::string peft_tensor_name(const std::string& plinth_name);
// The inverse; "" for a name that is not a LoRA A/B weight of PEFT's layout.
std::string plinth_lora_name(const std::string& peft_name);

// From plinth's adapter tensors (lora_parameters order) and the options they were trained with:
// the modules and the rank from the tensors.
PeftAdapter peft_adapter(const NamedTensors& lora_tensors, const LoraOptions& options,
                         std::string base_model);

// Writes both files atomically (creating `dir`).
void write_peft_adapter(const PeftAdapter& adapter, const std::filesystem::path& dir);
// Reads a PEFT LoRA folder. BadInput naming the file for another peft_type, use_rslora or DoRA,
// a bias, a name that is not a LoRA weight, ranks that differ between modules (rank_pattern).
PeftAdapter read_peft_adapter(const std::filesystem::path& dir);

// The LoraOptions that attach_lora needs to take these tensors (targets: each module's exact name).
LoraOptions peft_lora_options(const PeftAdapter& adapter);

}  // namespace plinth::model
