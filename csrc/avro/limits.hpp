// Resource bounds for decoding untrusted Avro data. Exceeding one is a per-buffer DECODE_ERROR naming
// the limit, never an allocation or a loop proportional to a number read from the input.
#pragma once

#include <cstddef>
#include <cstdint>

namespace btsbot::avro {

struct Limits {
    // Decompressed bytes of one OCF block (deflate / snappy).
    std::size_t max_block_bytes = std::size_t{64} << 20;
    // Records one OCF block may declare.
    std::int64_t max_block_records = std::int64_t{1} << 20;
    // Nesting depth of records/arrays/maps/unions inside one record (recursive schemas).
    int max_depth = 64;
    // Array/map items one record may hold in total (bounds CPU for zero-byte items such as nulls).
    std::int64_t max_items_per_record = std::int64_t{1} << 22;
    // Entries of the OCF header's metadata map.
    std::int64_t max_metadata_entries = 1024;
};

}  // namespace btsbot::avro
