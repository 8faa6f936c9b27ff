#include "util/tensorboard_events.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <isa-l/crc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth {

namespace fs = std::filesystem;
namespace pbio = google::protobuf::io;
using google::protobuf::internal::WireFormatLite;

namespace {

// Field numbers of tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto.
enum EventField { kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5, kSessionLog = 7 };
enum SummaryValueField { kTag = 1, kSimpleValue = 2 };
constexpr int kSummaryValue = 1;   // Summary.value
constexpr int kSessionStatus = 1;  // SessionLog.status
constexpr int kSessionStart = 1;   // SessionLog.SessionStatus.START
constexpr char kFilePrefix[] = "events.out.tfevents.";
constexpr char kWriterTag[] = ".plinth.";

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Serializes what `write` puts into a CodedOutputStream (the stream must be gone before the
// string is complete).
std::string serialized(const std::function<void(pbio::CodedOutputStream&)>& write) {
  std::string bytes;
  {
    pbio::StringOutputStream sink(&bytes);
    pbio::CodedOutputStream out(&sink);
    write(out);
  }
  return bytes;
}

// Calls field(number, wire_type, in) for each field of the message in `in` up to its limit; a
// field the callback does not take (returns false) is skipped. False when the bytes are no message.
bool read_fields(pbio::CodedInputStream& in,
                 const std::function<bool(int, WireFormatLite::WireType, pbio::CodedInputStream&)>& field) {
  while (uint32_t tag = in.ReadTag()) {
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (!field(number, type, in) && !WireFormatLite::SkipField(&in, tag)) return false;
  }
  return in.ConsumedEntireMessage();
}

// Reads a length-delimited submessage with `field` as its fields' reader.
bool read_submessage(
    pbio::CodedInputStream& in,
    const std::function<bool(int, WireFormatLite::WireType, pbio::CodedInputStream&)>& field) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  const auto limit = in.PushLimit(static_cast<int>(length));
  const bool ok = read_fields(in, field);
  in.PopLimit(limit);
  return ok;
}

bool read_summary_value(pbio::CodedInputStream& in, TensorBoardScalar& scalar) {
  return read_submessage(in, [&](int number, WireFormatLite::WireType type, pbio::CodedInputStream& s) {
    if (number == kTag && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t n = 0;
      return s.ReadVarint32(&n) && s.ReadString(&scalar.tag, static_cast<int>(n));
    }
    if (number == kSimpleValue && type == WireFormatLite::WIRETYPE_FIXED32) {
      uint32_t bits = 0;
      if (!s.ReadLittleEndian32(&bits)) return false;
      std::memcpy(&scalar.value, &bits, sizeof bits);
      return true;
    }
    return false;
  });
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A new file is written as "pending.<pid>.<name>" (AtomicFile's temporary of it
// "pending.<pid>.<name>.tmp.<pid>"), then renamed to <name>: TensorBoard reads every file whose
// name holds "tfevents", so a rewrite killed mid-write must leave nothing of that name behind.
constexpr char kPendingPrefix[] = "pending.";

// True for a pending file whose writer is gone (killed before its rename).
bool abandoned_pending(const std::string& name) {
  if (name.rfind(kPendingPrefix, 0) != 0 || name.find(kWriterTag) == std::string::npos) return false;
  char* end = nullptr;
  const long pid = std::strtol(name.c_str() + std::strlen(kPendingPrefix), &end, 10);
  if (pid <= 0 || *end != '.') return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// This writer's files in `dir`, by name (the order TensorBoard reads them in). Pending files
// that killed writers left are removed.
std::vector<fs::path> writer_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (abandoned_pending(name))
      fs::remove(e.path(), ec);
    else if (name.rfind(kFilePrefix, 0) == 0 && name.find(kWriterTag) != std::string::npos &&
             !is_atomic_temporary(name))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A name after every earlier file's: <seconds, 10 digits>.plinth.<generation, 6 digits>, the
// generation counting up when the clock has not moved past the last file's seconds.
std::string next_file_name(const std::vector<fs::path>& earlier) {
  int64_t seconds = static_cast<int64_t>(unix_seconds());
  int64_t generation = 0;
  if (!earlier.empty()) {
    const std::string last = earlier.back().filename().string();
    long long last_seconds = 0, last_generation = 0;
    if (std::sscanf(last.c_str() + std::strlen(kFilePrefix), "%lld.plinth.%lld", &last_seconds,
                    &last_generation) == 2 &&
        last_seconds >= seconds) {
      seconds = last_seconds;
      generation = last_generation + 1;
    }
  }
  return fmt::format("{}{:010d}{}{:06d}", kFilePrefix, seconds, kWriterTag, generation);
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  // ISA-L's crc32_iscsi leaves out the final inversion (and takes the initial value as given).
  uint32_t crc = 0xFFFFFFFFu;
  // ISA-L reads the buffer only; its prototype lacks the const.
  auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(data.data()));
  for (size_t left = data.size(); left > 0;) {
    const int n = static_cast<int>(std::min<size_t>(left, std::numeric_limits<int>::max()));
    crc = crc32_iscsi(p, n, crc);
    p += n;
    left -= static_cast<size_t>(n);
  }
  return ~crc;
}

uint32_t masked_crc32c(std::string_view data) {
  const uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

std::string tfrecord(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  put_le(out, masked_crc32c(out), 4);
  out.append(data);
  put_le(out, masked_crc32c(data), 4);
  return out;
}

std::string encode_event(const TensorBoardEvent& event) {
  return serialized([&](pbio::CodedOutputStream& out) {
    WireFormatLite::WriteDouble(kWallTime, event.wall_time, &out);
    WireFormatLite::WriteInt64(kStep, event.step, &out);
    if (!event.file_version.empty()) WireFormatLite::WriteString(kFileVersion, event.file_version, &out);
    if (!event.scalars.empty()) {
      const std::string summary = serialized([&](pbio::CodedOutputStream& s) {
        for (const auto& scalar : event.scalars) {
          const std::string value = serialized([&](pbio::CodedOutputStream& v) {
            WireFormatLite::WriteString(kTag, scalar.tag, &v);
            WireFormatLite::WriteFloat(kSimpleValue, scalar.value, &v);
          });
          WireFormatLite::WriteBytes(kSummaryValue, value, &s);
        }
      });
      WireFormatLite::WriteBytes(kSummary, summary, &out);
    }
    if (event.session_start) {
      const std::string log = serialized(
          [&](pbio::CodedOutputStream& s) { WireFormatLite::WriteEnum(kSessionStatus, kSessionStart, &s); });
      WireFormatLite::WriteBytes(kSessionLog, log, &out);
    }
  });
}

TensorBoardEvent decode_event(std::string_view data) {
  TensorBoardEvent event;
  pbio::CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()), static_cast<int>(data.size()));
  const bool ok = read_fields(in, [&](int number, WireFormatLite::WireType type, pbio::CodedInputStream& s) {
    uint64_t bits = 0;
    uint32_t n = 0;
    switch (number) {
      case kWallTime:
        if (type != WireFormatLite::WIRETYPE_FIXED64 || !s.ReadLittleEndian64(&bits)) return false;
        std::memcpy(&event.wall_time, &bits, sizeof bits);
        return true;
      case kStep:
        if (type != WireFormatLite::WIRETYPE_VARINT || !s.ReadVarint64(&bits)) return false;
        event.step = static_cast<int64_t>(bits);
        return true;
      case kFileVersion:
        return type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED && s.ReadVarint32(&n) &&
               s.ReadString(&event.file_version, static_cast<int>(n));
      case kSummary:
        return type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
               read_submessage(s, [&](int f, WireFormatLite::WireType t, pbio::CodedInputStream& v) {
                 if (f != kSummaryValue || t != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) return false;
                 event.scalars.emplace_back();
                 return read_summary_value(v, event.scalars.back());
               });
      case kSessionLog:
        return type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
               read_submessage(s, [&](int f, WireFormatLite::WireType t, pbio::CodedInputStream& v) {
                 if (f != kSessionStatus || t != WireFormatLite::WIRETYPE_VARINT) return false;
                 uint32_t status = 0;
                 if (!v.ReadVarint32(&status)) return false;
                 event.session_start = status == kSessionStart;
                 return true;
               });
      default:
        return false;
    }
  });
  if (!ok)
    throw Failure(fmt::format("a TensorBoard record of {} bytes is not an Event message", data.size()));
  return event;
}

TfRecordFile read_tfrecords(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Failure(fmt::format("cannot read {}: {}", file.string(), std::strerror(errno)));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TfRecordFile out;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12 ||
        get_le(bytes.data() + at + 8, 4) != masked_crc32c(std::string_view(bytes).substr(at, 8))) {
      out.torn = true;
      break;
    }
    const uint64_t length = get_le(bytes.data() + at, 8);
    if (length > bytes.size() - at - 12 || bytes.size() - at - 12 - length < 4) {
      out.torn = true;
      break;
    }
    const std::string_view data = std::string_view(bytes).substr(at + 12, length);
    if (get_le(bytes.data() + at + 12 + length, 4) != masked_crc32c(data)) {
      out.torn = true;
      break;
    }
    out.records.emplace_back(data);
    at += 16 + length;
  }
  return out;
}

std::vector<TensorBoardEvent> read_event_dir(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<TensorBoardEvent> out;
  for (const auto& f : files)
    for (const auto& record : read_tfrecords(f).records) out.push_back(decode_event(record));
  return out;
}

std::vector<TensorBoardEvent> tensorboard_view(const std::vector<TensorBoardEvent>& events) {
  std::vector<TensorBoardEvent> out;
  for (const auto& e : events) {
    if (e.session_start)
      out.erase(std::remove_if(out.begin(), out.end(), [&](const auto& kept) { return kept.step >= e.step; }),
                out.end());
    if (!e.scalars.empty()) out.push_back(e);
  }
  return out;
}

TensorBoardWriter::TensorBoardWriter(fs::path dir, const std::vector<TensorBoardEvent>& history)
    : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  const std::vector<fs::path> earlier = writer_files(dir_);
  file_ = dir_ / next_file_name(earlier);
  TensorBoardEvent version;
  version.wall_time = unix_seconds();
  version.file_version = "brain.Event:2";
  TensorBoardEvent start;
  start.wall_time = version.wall_time;
  start.step = history.empty() ? 0 : history.front().step;
  start.session_start = true;
  std::string content = tfrecord(encode_event(version)) + tfrecord(encode_event(start));
  for (const auto& event : history) content += tfrecord(encode_event(event));
  const fs::path pending =
      dir_ / fmt::format("{}{}.{}", kPendingPrefix, ::getpid(), file_.filename().string());
  write_file_atomic(pending, content);
  std::error_code ec;
  fs::rename(pending, file_, ec);
  if (ec)
    throw Failure(fmt::format("cannot rename {} to {}: {}", pending.string(), file_.string(), ec.message()));
  // A kill from here until the last removal leaves both files: TensorBoard's view of them is
  // the new file's (its START drops the old points; tensorboard_view).
  for (const auto& old : earlier) fs::remove(old);
  out_ = std::fopen(file_.c_str(), "ab");
  if (!out_) throw Failure(fmt::format("cannot append to {}: {}", file_.string(), std::strerror(errno)));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (out_) std::fclose(out_);
}

void TensorBoardWriter::append(const TensorBoardEvent& event) {
  const std::string record = tfrecord(encode_event(event));
  if (std::fwrite(record.data(), 1, record.size(), out_) != record.size() || std::fflush(out_) != 0)
    throw Failure(fmt::format("cannot append to {}: {}", file_.string(), std::strerror(errno)));
}

}  // namespace plinth
