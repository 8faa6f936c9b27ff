// TensorBoard's event files, written by plinth itself (no TensorFlow, no torch).
//
// A file is a sequence of TFRecords, each
//   uint64 length | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// (little-endian), whose data is one `Event` protobuf message (tensorflow/core/util/event.proto):
//   1 wall_time (double, Unix seconds)   2 step (int64)   3 file_version ("brain.Event:2", first)
//   5 summary: Summary { 1 value: repeated Value { 1 tag (string), 2 simple_value (float) } }
//   7 session_log: SessionLog { 1 status (START = 1) }
// CRC-32C comes from Intel's ISA-L (hardware CRC instructions), the protobuf wire format from
// libprotobuf's CodedOutputStream/CodedInputStream (the library LibTorch links): neither is
// visible here, so including this header pulls in neither.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace plinth {

// CRC-32C (Castagnoli, as iSCSI and TFRecord use it): crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data);
// TFRecord's mask: rotate right by 15 bits, add 0xA282EAD8 (a CRC of data holding CRCs differs).
uint32_t masked_crc32c(std::string_view data);

// One record's framing around `data`: 16 bytes longer than data.
std::string tfrecord(std::string_view data);

struct TensorBoardScalar {
  std::string tag;  // "train/loss": TensorBoard groups the charts by the part before the '/'
  float value = 0;
};

struct TensorBoardEvent {
  double wall_time = 0;  // Unix seconds
  int64_t step = 0;
  std::string file_version;    // "brain.Event:2" in a file's first event; empty otherwise
  bool session_start = false;  // SessionLog START: TensorBoard drops what it holds at steps >= step
  std::vector<TensorBoardScalar> scalars;
};

std::string encode_event(const TensorBoardEvent& event);
// Throws Failure when `data` is not an Event message; fields other than the above are skipped.
TensorBoardEvent decode_event(std::string_view data);

// The intact records of a file, in order, up to the first that is cut short or fails its CRC
// (what a process killed mid-write leaves): `torn` says whether anything followed them.
struct TfRecordFile {
  std::vector<std::string> records;
  bool torn = false;
};
TfRecordFile read_tfrecords(const std::filesystem::path& file);

// Every event of every event file in `dir` (names containing "tfevents", in name order, as
// TensorBoard reads them); torn tails are left out. For tests and checks.
std::vector<TensorBoardEvent> read_event_dir(const std::filesystem::path& dir);

// The scalar events TensorBoard shows of `events` (in the order read): each SessionLog START
// at step s drops the scalar events before it at steps >= s, as TensorBoard purges a restarted
// run's stale points. A kill between a rewrite and the removal of the old file leaves both
// files; this is what a reader sees of them (one event per step).
std::vector<TensorBoardEvent> tensorboard_view(const std::vector<TensorBoardEvent>& events);

// The event file of one run: `dir`/events.out.tfevents.<Unix seconds>.plinth.<generation>.
//
// Opening writes a new file atomically (as pending.<pid>.<name>, a name TensorBoard does not
// read, renamed once whole; pending files of killed writers are removed): the file version, a
// SessionLog START at the first step, then `history` (the events a resumed or rolled-back run keeps). Its
// name sorts after every earlier file of this writer in `dir`, which are then removed. So the directory holds
// no step twice once the constructor returns, a torn record of a killed run is gone once it
// resumes, and a TensorBoard that was watching drops its points past the START (steps >= the
// first kept step) and reads the kept history again from the new file, as it also does when a
// kill between the rename and the removal leaves both files (tensorboard_view).
class TensorBoardWriter {
 public:
  TensorBoardWriter(std::filesystem::path dir, const std::vector<TensorBoardEvent>& history);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // Appends one record and flushes it to the kernel (as metrics.jsonl does; no fsync per step).
  void append(const TensorBoardEvent& event);
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path file_;
  std::FILE* out_ = nullptr;
};

}  // namespace plinth
