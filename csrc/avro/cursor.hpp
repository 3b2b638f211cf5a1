// Bounds-checked reading of Avro binary encoding (Avro 1.11 spec, "Binary Encoding").
//
// Every read checks the remaining bytes first; malformed input throws AvroError (caught per record or
// per buffer by the callers, which turn it into a DECODE_ERROR row). Nothing here reads past `end`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace btsbot::avro {

// A malformed Avro byte stream (or a limit it exceeds). The message names the problem.
class AvroError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& what) { throw AvroError(what); }

// Error paths kept out of line, so the hot decoding loops stay small.
#if defined(__GNUC__)
#define BTSBOT_AVRO_COLD [[gnu::cold, gnu::noinline]]
#else
#define BTSBOT_AVRO_COLD
#endif

[[noreturn]] BTSBOT_AVRO_COLD inline void fail_truncated(const char* what, std::size_t n, std::size_t left) {
    fail(std::string("truncated data: ") + what + " needs " + std::to_string(n) + " byte(s), " + std::to_string(left) +
         " left");
}

[[noreturn]] BTSBOT_AVRO_COLD inline void fail_length(const char* what, std::int64_t n, std::size_t left) {
    if (n < 0) fail(std::string("negative ") + what + " length " + std::to_string(n));
    fail(std::string(what) + " length " + std::to_string(n) + " exceeds the " + std::to_string(left) + " byte(s) left");
}

struct Cursor {
    const std::uint8_t* p = nullptr;
    const std::uint8_t* end = nullptr;

    Cursor() = default;
    Cursor(const std::uint8_t* data, std::size_t size) : p(data), end(data + size) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end - p); }
    bool at_end() const noexcept { return p == end; }

    void need(std::size_t n, const char* what) const {
        if (n > remaining()) fail_truncated(what, n, remaining());
    }

    // Zig-zag varint (int and long). At most 10 bytes; bits beyond 64 are an error.
    std::int64_t read_long() {
        if (p != end && *p < 0x80) {  // one byte: most union indexes, counts and small ints
            const std::uint64_t n = *p++;
            return static_cast<std::int64_t>((n >> 1) ^ (~(n & 1) + 1));
        }
        return read_long_slow();
    }

    void skip_long() {
        if (p != end && *p < 0x80) {
            ++p;
            return;
        }
        (void)read_long_slow();
    }

#if defined(__GNUC__)
    [[gnu::noinline]]
#endif
    std::int64_t
    read_long_slow() {
        std::uint64_t n = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (p == end) fail("truncated data: varint runs past the end");
            const std::uint8_t b = *p++;
            if (shift == 63 && (b & 0x7e) != 0) fail("varint overflows 64 bits");
            n |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return static_cast<std::int64_t>((n >> 1) ^ (~(n & 1) + 1));
        }
        fail("varint longer than 10 bytes");
    }

    // A byte/string length: non-negative and within the data.
    std::size_t read_length(const char* what) {
        const std::int64_t n = read_long();
        if (n < 0 || static_cast<std::uint64_t>(n) > remaining()) fail_length(what, n, remaining());
        return static_cast<std::size_t>(n);
    }

    const std::uint8_t* take(std::size_t n, const char* what) {
        need(n, what);
        const std::uint8_t* q = p;
        p += n;
        return q;
    }

    void skip(std::size_t n, const char* what) { (void)take(n, what); }

    float read_float() {
        const std::uint8_t* q = take(4, "float");
        const std::uint32_t u = static_cast<std::uint32_t>(q[0]) | (static_cast<std::uint32_t>(q[1]) << 8) |
                                (static_cast<std::uint32_t>(q[2]) << 16) | (static_cast<std::uint32_t>(q[3]) << 24);
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }

    double read_double() {
        const std::uint8_t* q = take(8, "double");
        std::uint64_t u = 0;
        for (int i = 7; i >= 0; --i) u = (u << 8) | q[i];
        double d;
        std::memcpy(&d, &u, sizeof d);
        return d;
    }
};

// Strict UTF-8 validation with Python's rules (no overlongs, no surrogates, max U+10FFFF): fastavro
// decodes every string with str.decode('utf-8'), so a packet it rejects is rejected here too.
inline bool valid_utf8(const std::uint8_t* s, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
        // ASCII fast path, 8 bytes at a time
        while (i + 8 <= n) {
            std::uint64_t w;
            std::memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        const std::uint8_t c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;  // no surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (n - i < len) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (std::size_t k = 2; k < len; ++k) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
        }
        i += len;
    }
    return true;
}

}  // namespace btsbot::avro
