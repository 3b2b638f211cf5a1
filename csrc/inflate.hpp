// gzip (RFC 1952) -> bytes, into a reusable, bounded buffer. One Inflater per thread.
//
// Semantics follow Python's gzip.decompress, which the production path uses: several concatenated
// members are decoded one after another, trailing zero bytes are ignored, any other trailing bytes
// are an error. The total output is bounded (a decompression-bomb guard).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace btsbot {

// A 63x63 float32 stamp decompresses to 20,160 bytes; FITS stamps up to this size are accepted.
inline constexpr std::size_t kMaxStampBytes = 64 * 1024;

// The backend selected at build time: "libdeflate" or "zlib".
const char* inflater_name() noexcept;

inline bool has_gzip_magic(const std::uint8_t* data, std::size_t size) noexcept {
    return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

class Inflater {
public:
    explicit Inflater(std::size_t max_output = kMaxStampBytes);
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    // Decompresses `data` into `out` (resized to the decompressed size). Returns false with a
    // human-readable reason in `error` on failure; never throws (except std::bad_alloc).
    bool gunzip(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                std::string& error);

    // Raw deflate (RFC 1951, no zlib/gzip wrapper), as in Avro "deflate" blocks: like Python's
    // zlib.decompress(data, -15), bytes after the end of the stream are ignored and a truncated stream
    // is an error. `out` grows as needed up to `max_output` bytes (a decompression-bomb guard).
    bool inflate_raw(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                     std::size_t max_output, std::string& error);

    std::size_t max_output() const noexcept { return max_output_; }

private:
    struct Impl;
    std::size_t max_output_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace btsbot
