// A live progress line on a terminal (rewritten in place), plain periodic lines otherwise
// (CI logs, container jobs), on stderr: label, done/total, rate, ETA, and a caller's extra.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace plinth {

class Progress {
 public:
  enum class Unit { Bytes, Count };

  // total == 0: unknown (no percentage or ETA).
  Progress(std::string label, uint64_t total, Unit unit = Unit::Count);
  // Throttled: at most every 0.2 s on a terminal, every 10 s otherwise.
  void update(uint64_t done, std::string_view extra = {});
  // Ends the line with a summary (always printed unless quiet).
  void finish(std::string_view summary);

 private:
  std::string render(uint64_t done, std::string_view extra) const;
  std::string label_;
  uint64_t total_;
  Unit unit_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

// Seconds of the steady clock since `start` (a std::chrono::steady_clock::now()).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace plinth
