// The native alert reader: a queue of inputs (Avro OCF byte strings, files, tar archives) -> batches of
// model-ready rows, threaded and free of Python. It keeps its place between batches, so the records of a
// large block are framed, inflated and decoded once, however many batches they span.
//
// Rows follow the fastavro reader (btsbot_fast/io/avro.py): one per record of a sync-verified block, in
// order; the first failure in a source becomes one DECODE_ERROR row at that record index and nothing
// after it is used. Rows carry facts, not wording: a RowReason says why a row failed before
// preprocessing and the message slot holds the detail; btsbot_fast/io/records.py words the message.
//
// Memory: every byte the reader holds (file contents it read, archive members, decompressed blocks) is
// taken from one ByteBudget of `max_inflight_bytes`, a hard cap: a batch ends early rather than exceed
// it. Files larger than `map_threshold` are memory-mapped instead of read (the OS pages them). Archives
// read ahead at most `archive_read_ahead` bytes of members on their own thread.
//
// A source the reader does not decode natively (an unreadable header, a codec not compiled in, a schema
// without a program) stops the batch before it and is handed to the caller (Stop::Fallback), which reads
// it with fastavro, so results never depend on which path read a buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "archive.hpp"
#include "avro/limits.hpp"
#include "avro/ocf.hpp"
#include "avro/program.hpp"
#include "features.hpp"
#include "inflate.hpp"

namespace btsbot::avro {

enum class RowReason : std::uint8_t {
    None = 0,       // decoded: the status is the preprocessing outcome
    Corrupt = 1,    // DECODE_ERROR: the Avro data breaks at this record (detail: how)
    NotRecord = 2,  // DECODE_ERROR: a top-level union branch that is not a record
    Foreign = 3,    // UNSUPPORTED_SCHEMA: not a ZTF alert (detail: the schema name)
    ReadError = 4,  // DECODE_ERROR: the file or archive member cannot be read (detail: why)
};

// Bytes the reader reads from (not owned).
struct BufferRef {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
};

// flags_out bits
inline constexpr std::uint8_t kRowHasCandid = 1;
// info columns: features.hpp kRowInfo (btsbot_fast/prep/variant.py ROW_INFO)
using btsbot::kRowInfoColumns;

// What the reader knows about a schema text.
struct ProgramEntry {
    std::unique_ptr<Program> program;  // null: read another way
    std::string schema_name;
};

struct ReaderOptions {
    Limits limits;
    std::size_t max_inflight_bytes = std::size_t{256} << 20;
    std::size_t map_threshold = std::size_t{16} << 20;
    std::size_t archive_read_ahead = std::size_t{64} << 20;
    std::size_t archive_link_cache = std::size_t{64} << 20;
};

// Output arrays for up to `capacity` rows (caller-owned).
struct BatchOutputs {
    std::size_t capacity = 0;
    float* triplets = nullptr;       // capacity x 63 x 63 x 3
    float* metadata = nullptr;       // capacity x 25
    std::int64_t* candid = nullptr;  // valid where flags & kRowHasCandid
    double* info = nullptr;          // capacity x kRowInfoColumns: the candidate's kRowInfo values (NaN: null)
    std::uint16_t* bts = nullptr;    // BTS filter verdict (bts_filter.hpp BtsVerdict)
    std::uint8_t* status = nullptr;  // Status
    std::uint8_t* reason = nullptr;  // RowReason
    std::uint8_t* flags = nullptr;
    std::int64_t* record_index = nullptr;  // index of the record in its source
    std::int32_t* source = nullptr;        // index into BatchInfo::sources
};

struct ObjectId {
    std::string text;      // validated UTF-8 (a copy: decompressed blocks do not outlive the batch)
    bool present = false;  // false: None in Python
};

// A source handed back to the caller (Stop::Fallback).
struct FallbackSource {
    std::string name;
    BufferRef bytes;
    std::shared_ptr<void> owner;  // keeps `bytes` alive (a Python object for buffers added by the caller)
};

struct BatchInfo {
    enum class Stop { Full, End, NeedSchemas, Fallback };
    std::size_t n_rows = 0;
    Stop stop = Stop::End;
    std::vector<std::string> sources;   // names of the sources of this batch's rows
    std::vector<std::string> messages;  // per row: preprocessing message, or the RowReason detail
    std::vector<ObjectId> object_ids;
    std::vector<std::string> schemas;  // NeedSchemas: schema texts without a program yet
    FallbackSource fallback;           // Fallback: the source to read another way (already consumed here)
};

class Reader {
public:
    explicit Reader(const ReaderOptions& options);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    void add_buffer(std::string name, BufferRef bytes, std::shared_ptr<void> owner);
    void add_file(std::string name, std::string path);
    void add_archive(std::string name, std::string path);
    // One DECODE_ERROR row (ReadError) with this detail, in order.
    void add_error(std::string name, std::string detail);

    // The program for a schema text (from NeedSchemas); `program` null: the schema cannot be read
    // natively, its sources are handed back (Fallback).
    void set_program(const std::string& schema_text, std::unique_ptr<Program> program, std::string schema_name);

    // Fills up to out.capacity rows. Stops early at the end of the input, when the schema of the next
    // source has no program yet (NeedSchemas: call set_program, then again), or before a source to read
    // another way (Fallback; rows before it are returned first, the source itself when it is next).
    void next_batch(const BatchOutputs& out, BatchInfo& info, int n_threads);

    // Owners of consumed sources (Python objects): the caller drops them while holding the GIL.
    std::vector<std::shared_ptr<void>> take_retired();

    // Inputs not consumed yet (an archive counts as one).
    std::size_t pending() const noexcept { return queue_.size(); }
    std::size_t bytes_held() const noexcept { return budget_.used(); }
    std::size_t peak_bytes_held() const noexcept { return budget_.peak(); }
    std::size_t max_inflight_bytes() const noexcept { return budget_.limit(); }

    struct Source;
    struct Task;
    struct Row;

private:
    void materialize_archive(std::size_t i);
    void load_files(std::size_t first, std::size_t max_files, bool must_load_first, int n_threads);
    // A loaded file back to unread: its bytes and its budget go, its header is parsed again when it is read.
    void unload_file(Source& s);
    void parse_header(Source& s);
    void retire_front(std::size_t n);

    ReaderOptions options_;
    ByteBudget budget_;
    std::deque<std::unique_ptr<Source>> queue_;  // front: the source the next row comes from
    std::unordered_map<std::string, std::shared_ptr<ProgramEntry>> programs_;  // by schema text
    std::shared_ptr<ProgramEntry> last_program_;  // the last lookup (most sources share a schema)
    std::string last_schema_;
    std::vector<std::shared_ptr<void>> retired_;
};

}  // namespace btsbot::avro
