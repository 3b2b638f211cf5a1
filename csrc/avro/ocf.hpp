// Avro Object Container Files (Avro 1.11 spec, "Object Container Files"): the header (magic "Obj\x01",
// metadata map with avro.schema / avro.codec, 16-byte sync marker) and the data blocks (record count,
// byte size, data, sync marker). Codecs: null, deflate (raw RFC 1951) and, when built with libsnappy,
// snappy (compressed bytes + 4-byte big-endian CRC32 of the uncompressed data, which is verified).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "avro/cursor.hpp"
#include "avro/limits.hpp"
#include "inflate.hpp"

namespace btsbot::avro {

inline constexpr std::size_t kSyncSize = 16;

enum class Codec : std::int8_t {
    Null = 0,
    Deflate = 1,
    Snappy = 2,
    SnappyUnavailable = 3,  // snappy, but this build has no libsnappy: read the buffer another way
    Unknown = 4,            // a codec this reader does not implement
};

// True when the extension was built with libsnappy.
bool snappy_available() noexcept;

struct OcfHeader {
    std::string_view schema;      // avro.schema (JSON text), a view into the buffer
    std::string_view codec_name;  // avro.codec, "null" when absent
    Codec codec = Codec::Null;
    const std::uint8_t* sync = nullptr;  // 16 bytes inside the buffer
    std::size_t data_offset = 0;         // first block
};

// Parses the header; throws AvroError naming the problem (bad magic, truncated, no avro.schema ...).
OcfHeader parse_header(const std::uint8_t* data, std::size_t size, const Limits& limits);

// One data block's framing: `data`/`size` are the stored (possibly compressed) bytes.
struct BlockFrame {
    std::size_t offset = 0;  // of the block's count varint in the buffer
    std::int64_t count = 0;
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    std::size_t next = 0;  // offset just after the sync marker
};

// Reads the block starting at `offset` (which must be < size) and checks its sync marker; throws
// AvroError when the framing is broken. Does not decompress.
BlockFrame read_block_frame(const std::uint8_t* data, std::size_t size, std::size_t offset, const OcfHeader& h,
                            const Limits& limits);

// Decompresses a block's stored bytes into `out` (bounded by limits.max_block_bytes, its capacity taken
// from out's budget) and sets `view` to the record bytes: for codec null that is the stored bytes
// themselves (no copy). Returns false (nothing held) when the budget cannot cover the block; throws
// AvroError for bad data.
struct ByteView {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
};
bool decompress_block(const BlockFrame& block, Codec codec, Inflater& inflater, BudgetedBytes& out,
                      const Limits& limits, ByteView& view);

}  // namespace btsbot::avro
