#include "finetune/base_scores.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/log.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

namespace {

// Bumped when what an entry holds, or how a base's scores are computed, changes.
constexpr uint64_t kFormat = 2;  // 2: suites read as packed rows (eval/suite_scorer.h)

uint64_t model_bytes_hash(const fs::path& base) {
  if (!fs::is_directory(base)) return hash_file(base);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(base))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Hasher h;
  for (const auto& f : files) h.field(f.filename().string()).field(hash_file(f));
  return h.digest();
}

void tokens(Hasher& h, const std::vector<int32_t>& ids) {
  h.field(ids.size()).update(ids.data(), ids.size() * sizeof(int32_t));
}

uint64_t task_inputs(const std::vector<eval::TaskItem>& items, int end_id, int64_t max_new_tokens) {
  Hasher h;
  h.field("task").field(static_cast<uint64_t>(end_id)).field(static_cast<uint64_t>(max_new_tokens));
  h.field(items.size());
  for (const auto& it : items) {
    tokens(h, it.prompt);
    tokens(h, it.completion);
  }
  return h.digest();
}

uint64_t suite_inputs(const eval::SuiteRequests& s, int64_t max_length) {
  Hasher h;
  h.field("suite").field(static_cast<uint64_t>(max_length));
  for (const auto* list : {&s.choices, &s.unconditional}) {
    h.field(list->size());
    for (const auto& question : *list) {
      h.field(question.size());
      for (const auto& c : question) {
        tokens(h, c.context);
        tokens(h, c.continuation);
      }
    }
  }
  return h.digest();
}

// The entry `file` through `parse` (which throws on any shape it does not expect): nullopt when
// there is none, and with a warning when it cannot be read or parsed (it is scored again).
template <typename Parse>
auto read_entry(const fs::path& file, Parse parse) -> std::optional<decltype(parse(nlohmann::json()))> {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  try {
    return parse(nlohmann::json::parse(read_file(file)));
  } catch (const std::exception& e) {
    log::warn("{} cannot be read ({}): scoring the base again", file.string(), e.what());
    return std::nullopt;
  }
}

void write_entry(const fs::path& file, const nlohmann::json& j) {
  // A cache: a failure to write costs the next evaluation time, never this one its report.
  try {
    fs::create_directories(file.parent_path());
    write_file_atomic(file, j.dump());
  } catch (const std::exception& e) {
    log::warn("could not keep the base's scores in {}: {}", file.string(), e.what());
  }
}

bool finite(double v) {
  return std::isfinite(v);
}

}  // namespace

BaseScores::BaseScores(const fs::path& run_dir, const fs::path& base, const eval::EvalSpec& spec,
                       const std::string& device)
    : dir_(fs::absolute(run_dir).lexically_normal().parent_path() / ".base-scores") {
  Hasher h;
  h.field(kFormat).field(model_bytes_hash(base));
  h.field(static_cast<uint64_t>(spec.context)).field(static_cast<uint64_t>(spec.batch_size));
  h.field(precision_name(spec.precision)).field(device);
  identity_ = h.digest();
}

fs::path BaseScores::entry(uint64_t inputs) const {
  Hasher h;
  h.field(identity_).field(inputs);
  return dir_ / (hex64(h.digest()) + ".json");
}

std::optional<eval::TaskScore> BaseScores::task(const std::vector<eval::TaskItem>& items, int end_id,
                                                int64_t max_new_tokens) const {
  const fs::path file = entry(task_inputs(items, end_id, max_new_tokens));
  auto kept = read_entry(file, [&](const nlohmann::json& j) {
    eval::TaskScore s;
    s.examples = j.at("examples").get<uint64_t>();
    s.completion_tokens = j.at("completion_tokens").get<uint64_t>();
    s.nll = j.at("nll").get<double>();
    s.loss = j.at("loss").get<double>();
    s.exact_match = j.at("exact_match").get<double>();
    s.example_nll = j.at("example_nll").get<std::vector<double>>();
    s.example_tokens = j.at("example_tokens").get<std::vector<uint64_t>>();
    s.generated = j.at("generated").get<std::vector<std::vector<int32_t>>>();
    s.correct = j.at("correct").get<std::vector<bool>>();
    const size_t n = items.size();
    if (s.examples != n || s.example_nll.size() != n || s.example_tokens.size() != n ||
        s.generated.size() != n || s.correct.size() != n)
      throw std::runtime_error("it holds another number of examples");
    return s;
  });
  if (kept) log::info("task (base): reused from {}", file.string());
  return kept;
}

void BaseScores::keep_task(const std::vector<eval::TaskItem>& items, int end_id, int64_t max_new_tokens,
                           const eval::TaskScore& s) const {
  if (!finite(s.loss) || !finite(s.exact_match) ||
      !std::all_of(s.example_nll.begin(), s.example_nll.end(), finite))
    return;  // JSON holds no NaN, and a NaN score is worth scoring again
  write_entry(entry(task_inputs(items, end_id, max_new_tokens)), {{"examples", s.examples},
                                                                  {"completion_tokens", s.completion_tokens},
                                                                  {"nll", s.nll},
                                                                  {"loss", s.loss},
                                                                  {"exact_match", s.exact_match},
                                                                  {"example_nll", s.example_nll},
                                                                  {"example_tokens", s.example_tokens},
                                                                  {"generated", s.generated},
                                                                  {"correct", s.correct}});
}

bool BaseScores::suite(eval::SuiteRequests& s, int64_t max_length) const {
  using Columns = std::vector<std::vector<double>>;
  auto kept = read_entry(entry(suite_inputs(s, max_length)), [&](const nlohmann::json& j) {
    auto ll = j.at("base_ll").get<Columns>();
    auto alone = j.at("base_ll_unconditional").get<Columns>();
    auto shaped = [](const Columns& v, const std::vector<std::vector<eval::ChoiceTokens>>& r) {
      if (v.size() != r.size()) return false;
      for (size_t q = 0; q < v.size(); ++q)
        if (v[q].size() != r[q].size()) return false;
      return true;
    };
    if (!shaped(ll, s.choices) || !shaped(alone, s.unconditional))
      throw std::runtime_error("it holds another number of questions or choices");
    return std::pair(std::move(ll), std::move(alone));
  });
  if (!kept) return false;
  s.result.base_ll = std::move(kept->first);
  s.result.base_ll_unconditional = std::move(kept->second);
  return true;
}

void BaseScores::keep_suite(const eval::SuiteRequests& s, int64_t max_length) const {
  for (const auto* columns : {&s.result.base_ll, &s.result.base_ll_unconditional})
    for (const auto& q : *columns)
      if (!std::all_of(q.begin(), q.end(), finite)) return;
  write_entry(entry(suite_inputs(s, max_length)),
              {{"base_ll", s.result.base_ll}, {"base_ll_unconditional", s.result.base_ll_unconditional}});
}

}  // namespace plinth::finetune
