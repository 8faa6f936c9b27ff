#include "util/tensorboard_events.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace plinth;

namespace {

TensorBoardEvent scalar_event(int64_t step, float loss) {
  TensorBoardEvent e;
  e.wall_time = 1765000000.25 + static_cast<double>(step);
  e.step = step;
  e.scalars = {{"train/loss", loss}, {"val/mean", loss + 1}};
  return e;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

std::vector<int64_t> scalar_steps(const std::vector<TensorBoardEvent>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events)
    if (!e.scalars.empty()) out.push_back(e.step);
  return out;
}

// A run's steps 0..4 (loss 2), written by a fresh writer into `tb`.
void write_five_steps(const fs::path& tb) {
  TensorBoardWriter writer(tb, {});
  for (int64_t step = 0; step < 5; ++step) writer.append(scalar_event(step, 2.0f));
}

// The run resumed at step 2: steps 0..2 kept, then step 3 (loss 1.5). Returns the new file.
fs::path resume_at_step_two(const fs::path& tb) {
  TensorBoardWriter writer(tb, {scalar_event(0, 2.0f), scalar_event(1, 2.0f), scalar_event(2, 2.0f)});
  writer.append(scalar_event(3, 1.5f));
  return writer.file();
}

}  // namespace

TEST_CASE("CRC-32C: the known test vectors, and TFRecord's mask", "[util][tensorboard]") {
  CHECK(crc32c("") == 0x00000000u);
  CHECK(crc32c("123456789") == 0xE3069283u);  // the check value of CRC-32C (RFC 3720's polynomial)
  CHECK(crc32c("a") == 0xC1D04330u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);    // RFC 3720 B.4: 32 bytes of zeros
  CHECK(crc32c(std::string(32, '\xFF')) == 0x62A8AB43u);  // and of ones
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(ascending) == 0x46DD794Eu);  // RFC 3720 B.4: 0x00..0x1F
  const uint32_t c = crc32c("123456789");
  CHECK(masked_crc32c("123456789") == ((c >> 15) | (c << 17)) + 0xA282EAD8u);
}

TEST_CASE("A TFRecord frames its data: length, masked CRCs, little-endian", "[util][tensorboard]") {
  const std::string record = tfrecord("abc");
  REQUIRE(record.size() == 3 + 16);
  CHECK(record.substr(0, 8) == std::string("\x03\0\0\0\0\0\0\0", 8));
  CHECK(record.substr(12, 3) == "abc");
  const uint32_t data_crc = masked_crc32c("abc");
  CHECK(static_cast<unsigned char>(record[15]) == (data_crc & 0xFF));
  CHECK(static_cast<unsigned char>(record[18]) == (data_crc >> 24));
}

TEST_CASE("Event messages encode as protobuf and decode back", "[util][tensorboard]") {
  TensorBoardEvent e = scalar_event(1234567, 3.25f);
  e.scalars.push_back({"forgetting/code", -0.0625f});
  const std::string bytes = encode_event(e);
  // wall_time is field 1 as a double (tag 0x09), step field 2 as a varint (tag 0x10).
  REQUIRE(static_cast<unsigned char>(bytes[0]) == 0x09);
  CHECK(static_cast<unsigned char>(bytes[9]) == 0x10);
  const TensorBoardEvent back = decode_event(bytes);
  CHECK(back.wall_time == e.wall_time);
  CHECK(back.step == 1234567);
  CHECK(back.file_version.empty());
  CHECK_FALSE(back.session_start);
  REQUIRE(back.scalars.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back.scalars[i].tag == e.scalars[i].tag);
    CHECK(back.scalars[i].value == e.scalars[i].value);
  }
  TensorBoardEvent version;
  version.file_version = "brain.Event:2";
  version.session_start = true;
  const TensorBoardEvent v = decode_event(encode_event(version));
  CHECK(v.file_version == "brain.Event:2");
  CHECK(v.session_start);
  CHECK_THROWS_AS(decode_event("\x0A\x05"
                               "ab"),
                  Failure);  // a string field longer than the data
}

TEST_CASE("The writer's file reads back; a torn last record leaves the others readable",
          "[util][tensorboard]") {
  test::TempDir dir;
  fs::path file;
  {
    TensorBoardWriter writer(dir / "tb", {});
    for (int64_t step = 1; step <= 3; ++step) writer.append(scalar_event(step, 1.0f / step));
    file = writer.file();
  }
  CHECK(file.filename().string().rfind("events.out.tfevents.", 0) == 0);
  TfRecordFile whole = read_tfrecords(file);
  CHECK_FALSE(whole.torn);
  REQUIRE(whole.records.size() == 5);  // file version, START, three steps
  const TensorBoardEvent first = decode_event(whole.records[0]);
  CHECK(first.file_version == "brain.Event:2");
  CHECK(decode_event(whole.records[1]).session_start);
  CHECK(decode_event(whole.records[4]).scalars[0].value == 1.0f / 3);

  // A kill mid-write: the last record cut short, then one with a wrong CRC.
  const auto size = fs::file_size(file);
  fs::resize_file(file, size - 5);
  TfRecordFile cut = read_tfrecords(file);
  CHECK(cut.torn);
  CHECK(cut.records.size() == 4);
  CHECK(scalar_steps(read_event_dir(dir / "tb")) == std::vector<int64_t>{1, 2});
  std::string bytes = test::read_file(file);
  const size_t third = tfrecord(encode_event(scalar_event(3, 1.0f / 3))).size() - 5;
  const size_t second = tfrecord(encode_event(scalar_event(2, 0.5f))).size();
  bytes[bytes.size() - third - second / 2] ^= 0x40;  // inside the second step's record
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  CHECK(read_tfrecords(file).records.size() == 3);
}

TEST_CASE("Reopening the writer replaces the file with the kept history, never a step twice",
          "[util][tensorboard]") {
  test::TempDir dir;
  const fs::path tb = dir / "tb";
  write_five_steps(tb);
  fs::path first_file = event_files(tb).at(0);
  std::ofstream(first_file, std::ios::binary | std::ios::app) << "torn";  // a killed write
  // Resumed at step 2: steps 0..2 kept, then the run goes on from step 3.
  CHECK(resume_at_step_two(tb).filename() > first_file.filename());  // TensorBoard reads it after
  const auto files = event_files(tb);
  REQUIRE(files.size() == 1);
  CHECK_FALSE(read_tfrecords(files[0]).torn);
  const auto events = read_event_dir(tb);
  CHECK(scalar_steps(events) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(events.at(1).session_start);
  CHECK(events.at(1).step == 0);  // TensorBoard drops what it held from the first kept step on
  CHECK(events.back().scalars[0].value == 1.5f);
  // The kept events keep their wall times (TensorBoard's relative axis stays the run's).
  CHECK(events.at(2).wall_time == scalar_event(0, 0).wall_time);
}

TEST_CASE("A kill between the new file and the old one's removal: TensorBoard's view holds each step once",
          "[util][tensorboard]") {
  test::TempDir dir;
  const fs::path tb = dir / "tb";
  write_five_steps(tb);
  const fs::path old_file = event_files(tb).at(0);
  const std::string old_bytes = test::read_file(old_file);
  resume_at_step_two(tb);
  std::ofstream(old_file, std::ios::binary) << old_bytes;  // as if the removal had not happened
  REQUIRE(event_files(tb).size() == 2);
  const auto both = read_event_dir(tb);
  CHECK(scalar_steps(both) == std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3});
  const auto shown = tensorboard_view(both);
  CHECK(scalar_steps(shown) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(shown.back().scalars[0].value == 1.5f);

  // A START past the first step keeps what came before it.
  TensorBoardEvent restart;
  restart.step = 2;
  restart.session_start = true;
  std::vector<TensorBoardEvent> events = {
      scalar_event(0, 1.0f), scalar_event(1, 1.0f), scalar_event(2, 1.0f), scalar_event(3, 1.0f), restart,
      scalar_event(2, 0.5f)};
  const auto view = tensorboard_view(events);
  CHECK(scalar_steps(view) == std::vector<int64_t>{0, 1, 2});
  CHECK(view.back().scalars[0].value == 0.5f);
}

TEST_CASE("A pending file a killed writer left is removed; a live writer's is not", "[util][tensorboard]") {
  test::TempDir dir;
  const fs::path tb = dir / "tb";
  fs::path file;
  {
    TensorBoardWriter writer(tb, {});
    writer.append(scalar_event(0, 2.0f));
    file = writer.file();
  }
  CHECK(event_files(tb) == std::vector<fs::path>{file});  // nothing pending once it is written
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);  // its pid names no process now
  const std::string name = file.filename().string();
  const fs::path dead = tb / ("pending." + std::to_string(child) + "." + name);
  const fs::path dead_temporary =
      tb / ("pending." + std::to_string(child) + "." + name + ".tmp." + std::to_string(child));
  const fs::path live = tb / ("pending." + std::to_string(::getpid()) + "." + name + "x");
  for (const auto& p : {dead, dead_temporary, live})
    std::ofstream(p, std::ios::binary) << tfrecord(encode_event(scalar_event(0, 9.0f)));
  TensorBoardWriter writer(tb, {scalar_event(0, 2.0f)});
  CHECK_FALSE(fs::exists(dead));
  CHECK_FALSE(fs::exists(dead_temporary));
  CHECK(fs::exists(live));
}
