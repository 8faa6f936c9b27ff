// The fine-tuning options that change which weights train: LoRA adapters and freezing.
// Plain structs with no torch, so the recipe binding (lib/train) and anything torch-free can
// include them; the functions that apply them are in model/lora.h and model/freezing.h.
#pragma once

#include <string>
#include <vector>

namespace plinth::model {

// Low-rank adapters (Hu et al. 2021, as PEFT does them): each targeted projection W (out, in)
// becomes x W^T + dropout(x) A^T B^T * (alpha / rank), A (rank, in), B (out, rank), and only
// A and B train.
struct LoraOptions {
  int rank = 8;          // >= 1
  double alpha = 16;     // > 0; the update is scaled by alpha / rank
  double dropout = 0.0;  // [0, 1): on the adapter's input only, in training mode only
  // Regexes, each searched (util/regex.h: RE2 syntax) in a projection's full module name,
  // e.g. "model.layers.0.self_attn.q_proj": "q_proj" matches every layer's q_proj, "mlp" every
  // MLP projection, "layers\.1\." all of layer 1's. Only the seven attention / MLP projections
  // can be adapted (not lm_head nor the embeddings). Every regex must match at least once.
  std::vector<std::string> targets = {"q_proj", "v_proj"};
};

// Which parameters stop training (requires_grad = false). Everything chosen is frozen together.
struct FreezeOptions {
  // The vocabulary matrices: model.embed_tokens.weight and, when untied, lm_head.weight (a tied
  // model's lm_head is the embedding), so the choice means the same for tied and untied models.
  bool embeddings = false;
  int first_layers = 0;  // freeze model.layers.0 .. first_layers - 1 entirely; 0 <= it <= layers
  // Regexes, each searched (util/regex.h: RE2 syntax) in full parameter names such as
  // "model.layers.3.mlp.up_proj.weight" or "model.norm.weight". Every regex must match once.
  std::vector<std::string> patterns;
};

}  // namespace plinth::model
