#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "util/log.h"
#include "util/text.h"

namespace plinth {

using Clock = std::chrono::steady_clock;

std::string format_duration(double s) {
  if (s < 0) s = 0;
  auto total = static_cast<long long>(s + 0.5);
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

Progress::Progress(std::string label, uint64_t total, Unit unit)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      tty_(::isatty(STDERR_FILENO)),
      start_(Clock::now()),
      last_(start_) {}

std::string Progress::render(uint64_t done, std::string_view extra) const {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed > 0 ? done / elapsed : 0;
  auto amount = [&](uint64_t v) { return unit_ == Unit::Bytes ? format_bytes(v) : fmt::format("{}", v); };
  std::string line = label_ + " " + amount(done);
  if (total_) line += fmt::format("/{} ({:.0f}%)", amount(total_), 100.0 * done / total_);
  line += unit_ == Unit::Bytes ? fmt::format(", {}/s", format_bytes(static_cast<uint64_t>(rate)))
                               : fmt::format(", {:.1f}/s", rate);
  if (total_ && rate > 0 && done < total_) line += ", ETA " + format_duration((total_ - done) / rate);
  if (!extra.empty()) line += fmt::format(", {}", extra);
  return line;
}

void Progress::update(uint64_t done, std::string_view extra) {
  if (log::verbosity() < 1) return;
  auto now = Clock::now();
  auto every = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  if (now - last_ < every) return;
  last_ = now;
  if (tty_)
    fmt::print(stderr, "\r\033[K{}", render(done, extra));
  else
    fmt::print(stderr, "{}\n", render(done, extra));
  std::fflush(stderr);
}

void Progress::finish(std::string_view summary) {
  if (log::verbosity() < 1) return;
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  if (tty_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "{} {} ({})\n", label_, summary, format_duration(elapsed));
}

}  // namespace plinth
