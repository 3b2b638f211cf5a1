#include "avro/ocf.hpp"

#include <algorithm>
#include <cstring>

#if defined(BTSBOT_FAST_HAVE_SNAPPY)
#include <snappy.h>
#endif

namespace btsbot::avro {

namespace {

constexpr std::uint8_t kMagic[4] = {'O', 'b', 'j', 1};

std::string_view as_view(const std::uint8_t* p, std::size_t n) {
    return std::string_view(reinterpret_cast<const char*>(p), n);
}

Codec codec_of(std::string_view name) {
    if (name == "null") return Codec::Null;
    if (name == "deflate") return Codec::Deflate;
    if (name == "snappy") return snappy_available() ? Codec::Snappy : Codec::SnappyUnavailable;
    return Codec::Unknown;
}

}  // namespace

bool snappy_available() noexcept {
#if defined(BTSBOT_FAST_HAVE_SNAPPY)
    return true;
#else
    return false;
#endif
}

OcfHeader parse_header(const std::uint8_t* data, std::size_t size, const Limits& limits) {
    if (size < 4 || std::memcmp(data, kMagic, 4) != 0) {
        fail(size == 0 ? "empty file" : "not an Avro object container file (bad magic)");
    }
    Cursor c(data + 4, size - 4);
    OcfHeader h;
    bool have_schema = false;
    bool have_codec = false;
    std::int64_t entries = 0;
    try {
        // metadata: map<bytes>, a series of blocks ended by a zero count
        while (true) {
            std::int64_t count = c.read_long();
            if (count == 0) break;
            if (count < 0) {
                if (count == INT64_MIN) fail("bad metadata map block count");
                count = -count;
                c.skip_long();  // block byte size (unused)
            }
            if (count > limits.max_metadata_entries - entries) {
                fail("header metadata has more than " + std::to_string(limits.max_metadata_entries) + " entries");
            }
            entries += count;
            for (std::int64_t i = 0; i < count; ++i) {
                const std::size_t klen = c.read_length("metadata key");
                const std::uint8_t* key = c.take(klen, "metadata key");
                const std::size_t vlen = c.read_length("metadata value");
                const std::uint8_t* val = c.take(vlen, "metadata value");
                const std::string_view k = as_view(key, klen);
                if (k == "avro.schema") {
                    h.schema = as_view(val, vlen);
                    have_schema = true;
                } else if (k == "avro.codec") {
                    h.codec_name = as_view(val, vlen);
                    have_codec = true;
                }
            }
        }
        h.sync = c.take(kSyncSize, "sync marker");
    } catch (const AvroError& e) {
        fail(std::string("cannot read header: ") + e.what());
    }
    if (!have_schema) fail("header has no avro.schema");
    if (!have_codec) h.codec_name = "null";
    h.codec = codec_of(h.codec_name);
    h.data_offset = size - c.remaining();
    return h;
}

BlockFrame read_block_frame(const std::uint8_t* data, std::size_t size, std::size_t offset, const OcfHeader& h,
                            const Limits& limits) {
    if (offset >= size) fail("block offset beyond the end of the buffer");
    Cursor c(data + offset, size - offset);
    BlockFrame b;
    b.offset = offset;
    b.count = c.read_long();
    if (b.count < 0) fail("negative block record count " + std::to_string(b.count));
    if (b.count > limits.max_block_records) {
        fail("block record count " + std::to_string(b.count) + " exceeds the limit of " +
             std::to_string(limits.max_block_records));
    }
    const std::int64_t n = c.read_long();
    if (n < 0) fail("negative block size " + std::to_string(n));
    if (static_cast<std::uint64_t>(n) > c.remaining()) {
        fail("truncated block: its size is " + std::to_string(n) + " byte(s), " + std::to_string(c.remaining()) +
             " left");
    }
    b.size = static_cast<std::size_t>(n);
    b.data = c.take(b.size, "block data");
    if (c.remaining() < kSyncSize) fail("truncated block: sync marker missing");
    if (std::memcmp(c.p, h.sync, kSyncSize) != 0) fail("expected sync marker not found");
    c.p += kSyncSize;
    b.next = size - c.remaining();
    return b;
}

bool decompress_block(const BlockFrame& block, Codec codec, Inflater& inflater, BudgetedBytes& out,
                      const Limits& limits, ByteView& view) {
    switch (codec) {
        case Codec::Null: view = ByteView{block.data, block.size}; return true;
        case Codec::Deflate: {
            std::string error;
            const InflateResult r = inflater.inflate_raw(block.data, block.size, out, limits.max_block_bytes, error);
            if (r == InflateResult::OverBudget) return false;
            if (r == InflateResult::Error) fail("deflate block: " + error);
            view = ByteView{out.data(), out.size()};
            return true;
        }
        case Codec::Snappy: {
#if defined(BTSBOT_FAST_HAVE_SNAPPY)
            if (block.size < 4) fail("snappy block shorter than its 4-byte CRC");
            const char* comp = reinterpret_cast<const char*>(block.data);
            const std::size_t comp_size = block.size - 4;
            std::size_t raw_size = 0;
            if (!snappy::GetUncompressedLength(comp, comp_size, &raw_size)) fail("snappy block: corrupt header");
            if (raw_size > limits.max_block_bytes) {
                fail("decompressed block too large (" + std::to_string(raw_size) + " bytes, over " +
                     std::to_string(limits.max_block_bytes) + ")");
            }
            if (!out.resize(raw_size)) return false;
            if (!snappy::RawUncompress(comp, comp_size, reinterpret_cast<char*>(out.data()))) {
                out.clear();
                fail("snappy block: corrupt compressed data");
            }
            const std::uint8_t* q = block.data + comp_size;
            const std::uint32_t want = (static_cast<std::uint32_t>(q[0]) << 24) |
                                       (static_cast<std::uint32_t>(q[1]) << 16) |
                                       (static_cast<std::uint32_t>(q[2]) << 8) | static_cast<std::uint32_t>(q[3]);
            if (btsbot::crc32(0, out.data(), raw_size) != want) {
                out.clear();
                fail("snappy block: CRC32 mismatch");
            }
            view = ByteView{out.data(), out.size()};
            return true;
#else
            fail("codec snappy not compiled in");
#endif
        }
        case Codec::SnappyUnavailable: fail("codec snappy not compiled in");
        case Codec::Unknown:
        default: fail("unsupported codec");
    }
}

}  // namespace btsbot::avro
