#include "inflate.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include <zlib.h>
#if defined(BTSBOT_FAST_HAVE_LIBDEFLATE)
#include <libdeflate.h>
#endif

namespace btsbot {

namespace {

enum class MemberResult { Ok, TooLarge, Truncated, BadData, NoMemory };

std::string too_large_message(std::size_t limit) {
    return "decompressed stamp too large (over " + std::to_string(limit) + " bytes)";
}

}  // namespace

#if defined(BTSBOT_FAST_HAVE_LIBDEFLATE)

const char* inflater_name() noexcept { return "libdeflate"; }

struct Inflater::Impl {
    libdeflate_decompressor* decompressor = nullptr;
    Impl() : decompressor(libdeflate_alloc_decompressor()) {}
    ~Impl() {
        if (decompressor != nullptr) libdeflate_free_decompressor(decompressor);
    }

    // One gzip member: consumes `*in_used` input bytes and writes `*out_used` output bytes.
    MemberResult member(const std::uint8_t* in, std::size_t in_size, std::uint8_t* out,
                        std::size_t out_avail, std::size_t* in_used, std::size_t* out_used,
                        std::string& detail) {
        if (decompressor == nullptr) return MemberResult::NoMemory;
        const libdeflate_result r = libdeflate_gzip_decompress_ex(
            decompressor, in, in_size, out, out_avail, in_used, out_used);
        switch (r) {
            case LIBDEFLATE_SUCCESS: return MemberResult::Ok;
            case LIBDEFLATE_INSUFFICIENT_SPACE: return MemberResult::TooLarge;
            default: detail = "invalid or truncated gzip data"; return MemberResult::BadData;
        }
    }
};


bool Inflater::inflate_raw(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                           std::size_t max_output, std::string& error) {
    libdeflate_decompressor* d = impl_->decompressor;
    if (d == nullptr) {
        out.clear();
        error = "deflate inflater: out of memory";
        return false;
    }
    // Unknown output size: start at 4x the input, grow 4x per retry up to the cap (<= 2x the work overall).
    std::size_t cap = size < max_output / 4 ? std::max<std::size_t>(size * 4, 64 * 1024) : max_output;
    if (cap > max_output) cap = max_output;
    while (true) {
        out.resize(cap);
        std::size_t in_used = 0;
        std::size_t out_used = 0;
        const libdeflate_result r =
            libdeflate_deflate_decompress_ex(d, data, size, out.data(), cap, &in_used, &out_used);
        if (r == LIBDEFLATE_SUCCESS) {
            out.resize(out_used);
            return true;
        }
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap < max_output) {
            cap = cap <= max_output / 4 ? cap * 4 : max_output;
            continue;
        }
        out.clear();
        error = r == LIBDEFLATE_INSUFFICIENT_SPACE
                    ? "decompressed block too large (over " + std::to_string(max_output) + " bytes)"
                    : std::string("invalid or truncated deflate data");
        return false;
    }
}

#else

const char* inflater_name() noexcept { return "zlib"; }

struct Inflater::Impl {
    z_stream zs{};
    bool initialised = false;
    ~Impl() {
        if (initialised) inflateEnd(&zs);
    }

    MemberResult member(const std::uint8_t* in, std::size_t in_size, std::uint8_t* out,
                        std::size_t out_avail, std::size_t* in_used, std::size_t* out_used,
                        std::string& detail) {
        if (!initialised) {
            std::memset(&zs, 0, sizeof(zs));
            if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return MemberResult::NoMemory;  // gzip only
            initialised = true;
        } else if (inflateReset(&zs) != Z_OK) {
            return MemberResult::NoMemory;
        }
        if (in_size > UINT_MAX) in_size = UINT_MAX;  // stamps are tiny; larger input is truncated here
        if (out_avail > UINT_MAX) out_avail = UINT_MAX;
        zs.next_in = const_cast<Bytef*>(in);
        zs.avail_in = static_cast<uInt>(in_size);
        zs.next_out = out;
        zs.avail_out = static_cast<uInt>(out_avail);
        const int rc = inflate(&zs, Z_FINISH);
        *in_used = in_size - zs.avail_in;
        *out_used = out_avail - zs.avail_out;
        switch (rc) {
            case Z_STREAM_END: return MemberResult::Ok;
            case Z_OK:
            case Z_BUF_ERROR:
                if (zs.avail_out == 0) return MemberResult::TooLarge;
                return MemberResult::Truncated;
            case Z_MEM_ERROR: return MemberResult::NoMemory;
            default:
                detail = zs.msg != nullptr ? zs.msg : "invalid gzip data";
                return MemberResult::BadData;
        }
    }
};

bool Inflater::inflate_raw(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                           std::size_t max_output, std::string& error) {
    z_stream zs;
    std::memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        out.clear();
        error = "deflate inflater: out of memory";
        return false;
    }
    std::size_t cap = size < max_output / 4 ? std::max<std::size_t>(size * 4, 64 * 1024) : max_output;
    if (cap > max_output) cap = max_output;
    out.resize(cap);
    std::size_t produced = 0;
    const std::uint8_t* in = data;
    std::size_t in_left = size;
    bool ok = false;
    while (true) {
        if (produced == out.size()) {
            if (out.size() >= max_output) {
                error = "decompressed block too large (over " + std::to_string(max_output) + " bytes)";
                break;
            }
            out.resize(out.size() <= max_output / 4 ? out.size() * 4 : max_output);
        }
        const uInt avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
        const uInt avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, UINT_MAX));
        zs.next_in = const_cast<Bytef*>(in);
        zs.avail_in = avail_in;
        zs.next_out = out.data() + produced;
        zs.avail_out = avail_out;
        const int rc = inflate(&zs, Z_NO_FLUSH);
        in += avail_in - zs.avail_in;
        in_left -= avail_in - zs.avail_in;
        produced += avail_out - zs.avail_out;
        if (rc == Z_STREAM_END) {
            ok = true;
            break;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // grow
        if (rc == Z_BUF_ERROR) {
            error = "invalid or truncated deflate data (incomplete stream)";
        } else if (rc == Z_MEM_ERROR) {
            error = "deflate inflater: out of memory";
        } else {
            error = std::string("invalid or truncated deflate data: ") + (zs.msg != nullptr ? zs.msg : "bad data");
        }
        break;
    }
    inflateEnd(&zs);
    if (!ok) {
        out.clear();
        return false;
    }
    out.resize(produced);
    return true;
}

#endif

Inflater::Inflater(std::size_t max_output) : max_output_(max_output), impl_(new Impl()) {}
Inflater::~Inflater() = default;

bool Inflater::gunzip(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                      std::string& error) {
    out.resize(max_output_);
    if (size == 0) {
        out.clear();
        error = "empty stampData";
        return false;
    }
    if (!has_gzip_magic(data, size)) {
        out.clear();
        error = "not gzip data";
        return false;
    }
    std::size_t pos = 0;
    std::size_t produced = 0;
    int member_index = 0;
    while (true) {
        std::size_t in_used = 0;
        std::size_t out_used = 0;
        std::string detail;
        const MemberResult r = impl_->member(data + pos, size - pos, out.data() + produced,
                                             max_output_ - produced, &in_used, &out_used, detail);
        if (r != MemberResult::Ok) {
            out.clear();
            const std::string where =
                member_index == 0 ? std::string() : " (gzip member " + std::to_string(member_index + 1) + ")";
            switch (r) {
                case MemberResult::TooLarge: error = too_large_message(max_output_); break;
                case MemberResult::Truncated: error = "truncated gzip stream" + where; break;
                case MemberResult::NoMemory: error = "gzip inflater: out of memory"; break;
                default: error = "bad gzip data: " + detail + where; break;
            }
            return false;
        }
        pos += in_used;
        produced += out_used;
        ++member_index;
        // Like Python's gzip: zero padding after a member is ignored; anything else must be a member.
        while (pos < size && data[pos] == 0) ++pos;
        if (pos == size) break;
        if (!has_gzip_magic(data + pos, size - pos)) {
            out.clear();
            error = "trailing garbage after gzip data (" + std::to_string(size - pos) + " bytes)";
            return false;
        }
    }
    out.resize(produced);
    return true;
}

}  // namespace btsbot
