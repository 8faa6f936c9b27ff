#include "eval/eval_spec.h"

#include "util/text.h"

namespace plinth::eval {

void bind(ConfigSection& s, EvalSpec& spec) {
  int64_t max_tokens = static_cast<int64_t>(spec.max_tokens);
  if (s.read("max_tokens", max_tokens, Range<int64_t>::at_least(0)))
    spec.max_tokens = static_cast<uint64_t>(max_tokens);
  int64_t max_documents = static_cast<int64_t>(spec.max_documents);
  if (s.read("max_documents", max_documents, Range<int64_t>::at_least(0)))
    spec.max_documents = static_cast<uint64_t>(max_documents);
  s.read("batch_size", spec.batch_size, Range<int64_t>::between(1, 4096));
  s.read("context", spec.context, Range<int64_t>::between(0, 1 << 20));
  if (s.read("device", spec.device)) {
    const std::string& d = spec.device;
    bool ok = d == "auto" || d == "cpu" || d == "cuda";
    if (!ok && starts_with(d, "cuda:") && d.size() > 5)
      ok = d.find_first_not_of("0123456789", 5) == std::string::npos;
    if (!ok) s.error("device", "'" + d + "' is not a device", "use auto, cpu, cuda or cuda:N");
  }
  s.read_choice("precision", spec.precision, {"fp32", "bf16"});
  int64_t task_examples = static_cast<int64_t>(spec.task_examples);
  if (s.read("task_examples", task_examples, Range<int64_t>::at_least(0)))
    spec.task_examples = static_cast<uint64_t>(task_examples);
  s.read("task_samples", spec.task_samples, Range<int64_t>::between(0, 1000));
  s.finish();
}

}  // namespace plinth::eval
