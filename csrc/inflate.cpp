#include "inflate.hpp"

#include <algorithm>

#include "libdeflate.h"

namespace btsbot {

namespace {

std::string too_large_message(std::size_t limit) {
    return "decompressed stamp too large (over " + std::to_string(limit) + " bytes)";
}

}  // namespace

const char* inflater_name() noexcept { return "libdeflate " LIBDEFLATE_VERSION_STRING " (vendored)"; }

std::uint32_t crc32(std::uint32_t crc, const std::uint8_t* data, std::size_t size) noexcept {
    return libdeflate_crc32(crc, data, size);
}

bool ByteBudget::reserve(std::size_t n) noexcept {
    std::size_t used = used_.load(std::memory_order_relaxed);
    do {
        if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    std::size_t peak = peak_.load(std::memory_order_relaxed);
    while (used + n > peak && !peak_.compare_exchange_weak(peak, used + n, std::memory_order_relaxed)) {}
    return true;
}

BudgetedBytes& BudgetedBytes::operator=(BudgetedBytes&& o) noexcept {
    if (this != &o) {
        clear();
        budget_ = o.budget_;
        bytes_ = std::move(o.bytes_);
        reserved_ = o.reserved_;
        o.reserved_ = 0;
        o.bytes_.clear();
    }
    return *this;
}

bool BudgetedBytes::resize(std::size_t n) {
    if (n > reserved_) {
        if (budget_ != nullptr && !budget_->reserve(n - reserved_)) return false;
        try {
            std::vector<std::uint8_t> grown;
            grown.reserve(n);
            grown.assign(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(std::min(bytes_.size(), n)));
            bytes_.swap(grown);
        } catch (...) {
            if (budget_ != nullptr) budget_->release(n - reserved_);
            throw;
        }
        reserved_ = n;
    }
    bytes_.resize(n);
    return true;
}

bool BudgetedBytes::reset_size(std::size_t n) {
    if (n > reserved_) clear();
    return resize(n);
}

void BudgetedBytes::clear() noexcept {
    if (budget_ != nullptr && reserved_ > 0) budget_->release(reserved_);
    reserved_ = 0;
    std::vector<std::uint8_t>().swap(bytes_);
}

struct Inflater::Impl {
    libdeflate_decompressor* decompressor = libdeflate_alloc_decompressor();
    ~Impl() {
        if (decompressor != nullptr) libdeflate_free_decompressor(decompressor);
    }
};

Inflater::Inflater() : impl_(new Impl()) {}
Inflater::~Inflater() = default;

InflateResult Inflater::inflate_raw(const std::uint8_t* data, std::size_t size, BudgetedBytes& out,
                                    std::size_t max_output, std::string& error) {
    libdeflate_decompressor* d = impl_->decompressor;
    if (d == nullptr) {
        out.clear();
        error = "deflate inflater: out of memory";
        return InflateResult::Error;
    }
    // Unknown output size: start at 4x the input (Avro blocks of gzip stamps barely shrink), grow 4x per
    // retry up to the cap (<= 2x the work overall).
    std::size_t cap = size < max_output / 4 ? std::max<std::size_t>(size * 4, 64 * 1024) : max_output;
    cap = std::min(cap, max_output);
    while (true) {
        if (!out.reset_size(cap)) {  // each try starts over: nothing to keep from the last one
            out.clear();
            return InflateResult::OverBudget;
        }
        std::size_t in_used = 0;
        std::size_t out_used = 0;
        const libdeflate_result r =
            libdeflate_deflate_decompress_ex(d, data, size, out.data(), cap, &in_used, &out_used);
        if (r == LIBDEFLATE_SUCCESS) {
            out.resize(out_used);  // shrinking keeps the reservation (capacity is what counts)
            return InflateResult::Ok;
        }
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap < max_output) {
            cap = cap <= max_output / 4 ? cap * 4 : max_output;
            continue;
        }
        out.clear();
        error = r == LIBDEFLATE_INSUFFICIENT_SPACE
                    ? "decompressed block too large (over " + std::to_string(max_output) + " bytes)"
                    : std::string("invalid or truncated deflate data");
        return InflateResult::Error;
    }
}

bool Inflater::gunzip(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out, std::string& error) {
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
    libdeflate_decompressor* d = impl_->decompressor;
    if (d == nullptr) {
        out.clear();
        error = "gzip inflater: out of memory";
        return false;
    }
    out.resize(kMaxStampBytes);
    std::size_t pos = 0;
    std::size_t produced = 0;
    int member_index = 0;
    while (true) {
        std::size_t in_used = 0;
        std::size_t out_used = 0;
        const libdeflate_result r = libdeflate_gzip_decompress_ex(d, data + pos, size - pos, out.data() + produced,
                                                                  kMaxStampBytes - produced, &in_used, &out_used);
        if (r != LIBDEFLATE_SUCCESS) {
            out.clear();
            const std::string where =
                member_index == 0 ? std::string() : " (gzip member " + std::to_string(member_index + 1) + ")";
            error = r == LIBDEFLATE_INSUFFICIENT_SPACE ? too_large_message(kMaxStampBytes)
                                                       : "bad gzip data: invalid or truncated gzip data" + where;
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
