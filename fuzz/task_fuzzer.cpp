// A fine-tuning task's file (lib/data/task_data.h): load_task over arbitrary bytes, in each of
// its formats. The first byte chooses the options, the rest is the task file:
//   bits 0-1  format: jsonl, tsv, regex (the shipped de-en recipe's), regex (the pattern is the
//             file's first line: translate_task_regex and util/regex.h on arbitrary patterns)
//   bit 2     on_bad_line: skip (else fail)
//   bit 3     tsv: prompt in column 2, completion in column 0 (else 0 and 1)
//   bit 4     max_examples: 3 (else all)
//   bit 5     val/test fractions 0.45/0.45 (else 0.05/0.05), so that every split gets examples
// load_task may refuse a file with BadInput only.
#include <string>

#include "data/task_data.h"
#include "fuzz_support.h"

namespace {

// recipes/finetune/task-de-en.yaml
const char* const kDeEnRegex = R"(^(?<prompt>[^{}|;:\[\]()]+?) \{[fmn]\} :: (?<completion>[^|;\[\]{}()]+)$)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t options = data[0];
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);

  plinth::data::TaskSpec spec;
  switch (options & 3) {
    case 0:
      spec.format = "jsonl";
      break;
    case 1:
      spec.format = "tsv";
      break;
    case 2:
      spec.format = "regex";
      spec.regex = kDeEnRegex;
      break;
    default: {
      spec.format = "regex";
      size_t eol = file.find('\n');
      spec.regex = file.substr(0, eol);
      file.erase(0, eol == std::string::npos ? file.size() : eol + 1);
    }
  }
  if (options & 4) spec.on_bad_line = "skip";
  if (options & 8) spec.prompt_column = 2, spec.completion_column = 0;
  if (options & 16) spec.max_examples = 3;
  if (options & 32) spec.val_fraction = spec.test_fraction = 0.45;
  spec.path =
      plinth::fuzz::write_scratch(reinterpret_cast<const uint8_t*>(file.data()), file.size(), ".task");

  plinth::fuzz::expect_typed_errors([&] {
    plinth::data::TaskData task = plinth::data::load_task(spec);
    // What training does next with each example before tokenizing it.
    for (const auto* split : {&task.train, &task.val, &task.test})
      for (const auto& example : *split) plinth::data::render_prompt(spec, example.prompt);
  });
  return 0;
}
