// gzip stamps and raw-deflate Avro blocks -> bytes, with libdeflate (vendored in third_party/libdeflate,
// so every build has it). One Inflater per thread.
//
// gunzip follows Python's gzip.decompress, which the production path uses: several concatenated members
// are decoded one after another, trailing zero bytes are ignored, any other trailing bytes are an error.
// Output is bounded (a decompression-bomb guard). Avro blocks are inflated against a ByteBudget: the hard
// cap on decompressed bytes one reading call holds at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace btsbot {

// A 63x63 float32 stamp decompresses to 20,160 bytes; FITS stamps up to this size are accepted.
inline constexpr std::size_t kMaxStampBytes = 64 * 1024;

// "libdeflate <version> (vendored)".
const char* inflater_name() noexcept;

// CRC-32 (ISO-HDLC, as zlib.crc32 / java.util.zip.CRC32), continuing from `crc`.
std::uint32_t crc32(std::uint32_t crc, const std::uint8_t* data, std::size_t size) noexcept;

inline bool has_gzip_magic(const std::uint8_t* data, std::size_t size) noexcept {
    return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

// Bytes held at once by one reader (file contents it read, decompressed blocks), with a hard limit.
// reserve() either takes the bytes or, when they would exceed the limit, takes nothing.
class ByteBudget {
public:
    explicit ByteBudget(std::size_t limit) : limit_(limit) {}
    bool reserve(std::size_t n) noexcept;
    void release(std::size_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }
    std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
    std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
    std::size_t limit() const noexcept { return limit_; }

private:
    std::size_t limit_;
    std::atomic<std::size_t> used_{0};
    std::atomic<std::size_t> peak_{0};
};

// A byte buffer whose capacity is reserved from a ByteBudget (released when it is cleared or destroyed).
class BudgetedBytes {
public:
    BudgetedBytes() = default;
    explicit BudgetedBytes(ByteBudget* budget) : budget_(budget) {}
    BudgetedBytes(BudgetedBytes&& o) noexcept { *this = std::move(o); }
    BudgetedBytes& operator=(BudgetedBytes&& o) noexcept;
    BudgetedBytes(const BudgetedBytes&) = delete;
    BudgetedBytes& operator=(const BudgetedBytes&) = delete;
    ~BudgetedBytes() { clear(); }

    // Resizes to n bytes (contents up to min(old, n) kept); false, with nothing changed, when the budget
    // cannot cover the new capacity.
    bool resize(std::size_t n);
    // Like resize, but the contents need not survive: the old buffer is freed before the new one is
    // taken (never both at once). False, with the buffer cleared, when the budget cannot cover n bytes.
    bool reset_size(std::size_t n);
    void clear() noexcept;
    std::uint8_t* data() noexcept { return bytes_.data(); }
    const std::uint8_t* data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return bytes_.size(); }
    std::size_t reserved() const noexcept { return reserved_; }

private:
    ByteBudget* budget_ = nullptr;
    std::vector<std::uint8_t> bytes_;
    std::size_t reserved_ = 0;
};

enum class InflateResult { Ok, Error, OverBudget };

class Inflater {
public:
    Inflater();
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    // Decompresses a gzip stamp into `out` (resized to the decompressed size, at most kMaxStampBytes).
    // Returns false with a human-readable reason in `error`; never throws (except std::bad_alloc).
    bool gunzip(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out, std::string& error);

    // Raw deflate (RFC 1951), as in Avro "deflate" blocks: like Python's zlib.decompress(data, -15),
    // bytes after the end of the stream are ignored and a truncated stream is an error. `out` grows as
    // needed up to `max_output` bytes (a decompression-bomb guard), its capacity taken from its budget:
    // OverBudget (out cleared) when the budget cannot cover it.
    InflateResult inflate_raw(const std::uint8_t* data, std::size_t size, BudgetedBytes& out, std::size_t max_output,
                              std::string& error);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace btsbot
