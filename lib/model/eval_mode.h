// Puts a model in eval mode (no dropout) for a scope and restores its training mode on the way
// out, whatever happens: every scorer of lib/eval holds one per model it reads.
#pragma once

#include "model/llama.h"

namespace plinth::model {

class EvalModeGuard {
 public:
  // A null model is allowed (a scorer's optional second model): the guard then does nothing.
  explicit EvalModeGuard(LlamaImpl* m) : model_(m), was_training_(m && m->is_training()) {
    if (model_) model_->eval();
  }
  explicit EvalModeGuard(LlamaImpl& m) : EvalModeGuard(&m) {}
  ~EvalModeGuard() {
    if (model_) model_->train(was_training_);
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  LlamaImpl* model_;
  bool was_training_;
};

}  // namespace plinth::model
