#include "eval/suite_requests.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace plinth::eval {

bool python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

namespace {

// Where the trailing white space of `text` starts (text.size() when there is none): UTF-8 decoded
// backwards one code point at a time.
size_t trailing_space_start(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
    const auto lead = static_cast<unsigned char>(text[begin]);
    const size_t len = end - begin;
    uint32_t c = lead;
    if (len == 2) c = lead & 0x1F;
    if (len == 3) c = lead & 0x0F;
    if (len == 4) c = lead & 0x07;
    for (size_t i = begin + 1; i < end; ++i) c = (c << 6) | (static_cast<unsigned char>(text[i]) & 0x3F);
    if (!python_space(c)) break;
    end = begin;
  }
  return end;
}

}  // namespace

ChoiceTokens encode_choice(const std::string& context, const std::string& continuation,
                           const TextEncoder& encode, int32_t start_id) {
  const size_t cut = trailing_space_start(context);
  const std::string ctx = context.substr(0, cut);
  const std::string cont = context.substr(cut) + continuation;
  std::vector<int32_t> whole{start_id}, head{start_id};
  const std::vector<int32_t> whole_text = encode(ctx + cont), head_text = encode(ctx);
  whole.insert(whole.end(), whole_text.begin(), whole_text.end());
  head.insert(head.end(), head_text.begin(), head_text.end());
  ChoiceTokens out;
  const size_t split = std::min(head.size(), whole.size());
  out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(split), whole.end());
  out.context = std::move(head);
  return out;
}

ChoiceTokens encode_unconditional(const std::string& continuation, const TextEncoder& encode,
                                  int32_t start_id) {
  ChoiceTokens out;
  out.continuation = encode(continuation);
  if (!out.continuation.empty() && out.continuation.front() == start_id) {
    out.context.push_back(start_id);
    out.continuation.erase(out.continuation.begin());
  } else {
    out.context = {start_id};
  }
  return out;
}

namespace {

// The metric a suite is read by: the recipe's, else the file header's "metric", else acc.
std::string suite_metric_of(const SuiteSpec& spec, const SuiteFile& file) {
  if (!spec.metric.empty()) return spec.metric;
  const nlohmann::json header = nlohmann::json::parse(file.provenance, nullptr, false);
  if (header.is_object() && header.contains("metric") && header["metric"].is_string()) {
    const std::string metric = header["metric"].get<std::string>();
    if (!known_suite_metric(metric))
      throw BadInput(fmt::format("suite '{}': the file's header names the metric '{}', which plinth does not "
                                 "compute",
                                 spec.name, metric),
                     "set the suite's metric in the recipe (eval.suites[].metric: acc, acc_norm or "
                     "acc_mutual_info), or fix the header",
                     Location{file.path.string(), 1, 0});
    return metric;
  }
  return "acc";
}

}  // namespace

SuiteRequests encode_suite(const SuiteSpec& spec, const SuiteFile& file, const std::vector<uint64_t>& sample,
                           const TextEncoder& encode, int32_t start_id) {
  SuiteRequests out;
  SuiteResult& r = out.result;
  r.name = spec.name;
  r.path = spec.path;
  r.delimiter = spec.delimiter;
  r.questions_in_file = file.questions.size();
  r.metric = suite_metric_of(spec, file);
  const std::string where = file.path.string();
  for (uint64_t q : sample) {
    const SuiteQuestion& question = file.questions.at(q);
    const Location at{where, static_cast<int>(question.line), 0};
    if (question.query.empty())
      throw BadInput(fmt::format("suite '{}': the query is empty", spec.name),
                     "give every question a query: the choices are scored as its continuations", at);
    std::vector<ChoiceTokens> tokens, alone;
    std::vector<uint64_t> chars;
    for (size_t c = 0; c < question.choices.size(); ++c) {
      const std::string continuation = spec.delimiter + question.choices[c];
      ChoiceTokens t = encode_choice(question.query, continuation, encode, start_id);
      ChoiceTokens u = encode_unconditional(continuation, encode, start_id);
      if (t.continuation.empty() || u.continuation.empty())
        throw BadInput(fmt::format("suite '{}': choice {} ('{}') encodes to no token after the query",
                                   spec.name, c, question.choices[c]),
                       "a choice must add text the model can be scored on: give it visible characters", at);
      chars.push_back(code_points(question.choices[c]));
      tokens.push_back(std::move(t));
      alone.push_back(std::move(u));
    }
    r.index.push_back(q);
    r.gold.push_back(question.gold);
    r.choice_chars.push_back(std::move(chars));
    out.choices.push_back(std::move(tokens));
    out.unconditional.push_back(std::move(alone));
  }
  return out;
}

void fit_to_context(SuiteRequests& s, const SuiteFile& file, int64_t max_length) {
  SuiteResult& r = s.result;
  r.truncated = 0;
  for (size_t k = 0; k < s.choices.size(); ++k) {
    bool cut = false;
    for (size_t c = 0; c < s.choices[k].size(); ++c) {
      const ChoiceTokens& t = s.choices[k][c];
      const size_t longest = std::max(t.continuation.size(), s.unconditional[k][c].continuation.size());
      if (static_cast<int64_t>(longest) > max_length)
        throw BadInput(fmt::format("suite '{}': choice {} is {} tokens long, more than the context of {} "
                                   "tokens the model reads",
                                   r.name, c, longest, max_length),
                       "shorten the choice, or score with a model of a longer context",
                       Location{file.path.string(), static_cast<int>(file.questions.at(r.index[k]).line), 0});
      cut = cut || static_cast<int64_t>(t.context.size() + t.continuation.size()) > max_length + 1;
    }
    if (cut) ++r.truncated;
  }
}

SuiteRequests prepare_suite(const SuiteSpec& spec, const SuiteFile& file, const std::vector<uint64_t>& sample,
                            const TextEncoder& encode, int32_t start_id, int64_t max_length) {
  SuiteRequests out = encode_suite(spec, file, sample, encode, start_id);
  fit_to_context(out, file, max_length);
  return out;
}

}  // namespace plinth::eval
