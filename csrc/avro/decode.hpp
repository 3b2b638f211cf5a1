// Batch entry points from raw OCF bytes (Kafka message values, .avro files, archive members) to
// model-ready rows, threaded and free of Python: scan_buffers() walks headers and block framing
// (sync-verified, no decompression) so the caller can size its outputs; decode_preprocess() decodes the
// records of a list of tasks with schema programs and runs the cutout + feature core on the views.
//
// Row semantics follow the fastavro reader (btsbot_fast/io/avro.py): one row per record of a
// sync-verified block, in order; the first failure in a buffer becomes one DECODE_ERROR row at that
// record index and nothing after it is used. In decode_preprocess a task whose record k fails writes the
// error row in k's slot and marks its later rows kRowUnused (the caller drops them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "avro/limits.hpp"
#include "avro/ocf.hpp"
#include "avro/program.hpp"

namespace btsbot::avro {

// status of a row the caller must drop (a record after a failure in the same task)
inline constexpr std::uint8_t kRowUnused = 255;
// flags_out bits
inline constexpr std::uint8_t kRowHasCandid = 1;
// DecodeOutputs::info columns (btsbot_fast/prep/variant.py ROW_INFO)
inline constexpr std::size_t kRowInfoColumns = 3;

struct BufferRef {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
};

enum class ScanState : std::int8_t {
    Ok = 0,                // every block framed and sync-verified up to the end of the buffer
    HeaderError = 1,       // the header could not be read: `message` says why (records: none)
    BodyError = 2,         // blocks up to `n_records` are fine, then `message`
    CodecUnsupported = 3,  // codec not implemented natively (unknown, or snappy without libsnappy)
};

struct BlockEntry {
    std::int64_t offset = 0;  // of the block in the buffer
    std::int64_t count = 0;   // records (> 0; zero-count blocks are verified, then left out)
};

struct ScanInfo {
    ScanState state = ScanState::Ok;
    Codec codec = Codec::Null;
    std::string_view schema;      // view into the buffer
    std::string_view codec_name;  // view into the buffer (or a literal)
    std::int64_t n_records = 0;
    std::size_t first_block = 0;  // into the shared BlockEntry vector
    std::size_t n_blocks = 0;
    std::string message;
};

void scan_buffers(const BufferRef* buffers, std::size_t n, const Limits& limits, std::vector<ScanInfo>& info,
                  std::vector<BlockEntry>& blocks);

// Decode `n_rows` records of one buffer starting `skip` records into the block at `block_offset`,
// into rows [row_offset, row_offset + n_rows). `first_record` = buffer-level index of the first one.
struct Task {
    std::int64_t buffer = 0;
    std::int64_t program = 0;
    std::int64_t block_offset = 0;
    std::int64_t skip = 0;
    std::int64_t n_rows = 0;
    std::int64_t row_offset = 0;
    std::int64_t first_record = 0;
};
inline constexpr std::size_t kTaskColumns = 7;

struct ObjectId {
    std::string text;  // validated UTF-8 (a copy: decompressed blocks do not outlive the call)
    bool present = false;  // false: None in Python
};

struct DecodeOutputs {
    std::size_t n_rows = 0;
    float* triplets = nullptr;       // n_rows x 63 x 63 x 3
    float* metadata = nullptr;       // n_rows x 25
    std::int64_t* candid = nullptr;  // n_rows (valid where flags & kRowHasCandid)
    double* info = nullptr;          // n_rows x kRowInfoColumns: candidate jd, magpsf, fid (NaN when unknown)
    std::uint8_t* status = nullptr;  // n_rows (Status, or kRowUnused)
    std::uint8_t* flags = nullptr;   // n_rows
    std::vector<std::string>* messages = nullptr;      // resized to n_rows
    std::vector<ObjectId>* object_ids = nullptr;  // resized to n_rows
    std::int64_t* task_errors = nullptr;  // per task: buffer-level index of the failed record, or -1
};

// Rows not covered by a task are left untouched (messages "" and object ids none). Tasks must be
// validated by the caller (indices in range, disjoint row ranges inside n_rows).
void decode_preprocess(const BufferRef* buffers, const Program* programs, const Task* tasks, std::size_t n_tasks,
                       const DecodeOutputs& out, const Limits& limits, int n_threads);

}  // namespace btsbot::avro
