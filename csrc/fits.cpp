#include "fits.hpp"

#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace btsbot {

namespace {

// Largest accepted NAXISn; keeps size arithmetic far from overflow. Real stamps are 63.
constexpr long long kMaxAxis = 1 << 20;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\0')) s.remove_suffix(1);
    return s;
}

struct Card {
    std::string_view keyword;
    std::string_view value;  // text after '=' up to a '/' comment, trimmed; empty if no value
    bool has_value = false;
};

Card split_card(const char* p) {
    const std::string_view card(p, kFitsCard);
    Card c;
    // Standard: keyword in columns 1-8, "= " in 9-10. Lenient: accept '=' anywhere in columns 1-10.
    const std::size_t eq = card.substr(0, 10).find('=');
    if (eq == std::string_view::npos) {
        c.keyword = trim(card.substr(0, 8));
        return c;
    }
    c.keyword = trim(card.substr(0, eq));
    std::string_view v = card.substr(eq + 1);
    v = trim(v);
    if (!v.empty() && v.front() != '\'') {  // numbers/logicals: drop an inline comment
        const std::size_t slash = v.find('/');
        if (slash != std::string_view::npos) v = trim(v.substr(0, slash));
    }
    c.value = v;
    c.has_value = true;
    return c;
}

std::optional<long long> parse_int(std::string_view v) {
    if (!v.empty() && v.front() == '+') v.remove_prefix(1);
    long long out = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || ptr != v.data() + v.size()) return std::nullopt;
    return out;
}

std::optional<double> parse_real(std::string_view v) {
    if (!v.empty() && v.front() == '+') v.remove_prefix(1);
    if (v.empty() || v.size() > 64) return std::nullopt;
    char buf[65];
    std::memcpy(buf, v.data(), v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (buf[i] == 'D' || buf[i] == 'd') buf[i] = 'E';  // FITS allows a Fortran exponent
    }
    double out = 0;
    const auto [ptr, ec] = std::from_chars(buf, buf + v.size(), out);
    if (ec != std::errc() || ptr != buf + v.size()) return std::nullopt;
    return out;
}

std::string printable(std::string_view s) {
    std::string out;
    for (char ch : s) out += (ch >= 32 && ch < 127) ? ch : '?';
    return out;
}

}  // namespace

const char* sniff_format(const std::uint8_t* d, std::size_t n) noexcept {
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return "JPEG";
    if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) return "gzip";
    if (n >= 4 && (std::memcmp(d, "GIF8", 4) == 0)) return "GIF";
    if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 4 && std::memcmp(d, "BZh", 3) == 0) return "bzip2";
    if (n >= 5 && std::memcmp(d, "%PDF-", 5) == 0) return "PDF";
    return nullptr;
}

bool parse_fits_image(const std::uint8_t* data, std::size_t size, FitsImage& image, std::string& error) {
    image.height = image.width = 0;
    image.pixels.clear();
    const char* text = reinterpret_cast<const char*>(data);

    const bool simple_first = size >= kFitsCard && split_card(text).keyword == "SIMPLE";
    if (!simple_first) {
        const char* kind = sniff_format(data, size);
        if (size == 0) {
            error = "not a FITS file (empty)";
        } else if (kind != nullptr) {
            error = std::string("not a FITS file (") + kind + ")";
        } else {
            error = "not a FITS file (no SIMPLE card)";
        }
        return false;
    }

    std::optional<long long> bitpix, naxis, naxis1, naxis2;
    std::optional<double> bscale, bzero;
    std::size_t header_end = 0;
    for (std::size_t off = 0; off + kFitsCard <= size; off += kFitsCard) {
        const Card c = split_card(text + off);
        if (c.keyword == "END" && !c.has_value) {
            header_end = off + kFitsCard;
            break;
        }
        if (!c.has_value) continue;
        auto want_int = [&](const char* name, std::optional<long long>& slot) -> bool {
            if (c.keyword != name || slot) return true;  // first occurrence wins, like astropy
            slot = parse_int(c.value);
            if (!slot) {
                error = std::string("bad FITS ") + name + " value '" + printable(c.value) + "'";
                return false;
            }
            return true;
        };
        auto want_real = [&](const char* name, std::optional<double>& slot) -> bool {
            if (c.keyword != name || slot) return true;
            slot = parse_real(c.value);
            if (!slot) {
                error = std::string("bad FITS ") + name + " value '" + printable(c.value) + "'";
                return false;
            }
            return true;
        };
        if (!want_int("BITPIX", bitpix) || !want_int("NAXIS", naxis) || !want_int("NAXIS1", naxis1) ||
            !want_int("NAXIS2", naxis2) || !want_real("BSCALE", bscale) || !want_real("BZERO", bzero)) {
            return false;
        }
    }
    if (header_end == 0) {
        error = "truncated FITS header (no END card)";
        return false;
    }
    if (!bitpix) {
        error = "FITS header has no BITPIX";
        return false;
    }
    if (*bitpix != -32) {
        error = "unsupported FITS BITPIX " + std::to_string(*bitpix) + " (need -32, float32)";
        return false;
    }
    if (!naxis) {
        error = "FITS header has no NAXIS";
        return false;
    }
    if (*naxis != 2) {
        error = "unsupported FITS NAXIS " + std::to_string(*naxis) + " (need a 2-D image)";
        return false;
    }
    if (!naxis1 || !naxis2) {
        error = naxis1 ? "FITS header has no NAXIS2" : "FITS header has no NAXIS1";
        return false;
    }
    if (*naxis1 < 1 || *naxis2 < 1 || *naxis1 > kMaxAxis || *naxis2 > kMaxAxis) {
        error = "bad FITS image size " + std::to_string(*naxis2) + "x" + std::to_string(*naxis1) + " (NAXIS2 x NAXIS1)";
        return false;
    }
    const std::size_t width = static_cast<std::size_t>(*naxis1);
    const std::size_t height = static_cast<std::size_t>(*naxis2);
    const std::size_t count = width * height;
    const std::size_t nbytes = count * sizeof(float);
    const std::size_t data_start = (header_end + kFitsBlock - 1) / kFitsBlock * kFitsBlock;
    const std::size_t available = size > data_start ? size - data_start : 0;
    if (available < nbytes) {
        error = "truncated FITS data (" + std::to_string(height) + "x" + std::to_string(width) + " float32 needs " +
                std::to_string(nbytes) + " bytes, " + std::to_string(available) + " present)";
        return false;
    }

    image.height = height;
    image.width = width;
    image.pixels.resize(count);
    const std::uint8_t* src = data + data_start;
    float* dst = image.pixels.data();
    for (std::size_t i = 0; i < count; ++i, src += 4) {
        const std::uint32_t bits = (std::uint32_t(src[0]) << 24) | (std::uint32_t(src[1]) << 16) |
                                   (std::uint32_t(src[2]) << 8) | std::uint32_t(src[3]);
        std::memcpy(dst + i, &bits, sizeof(float));
    }
    // astropy scales float images in place in float32: data *= BSCALE, then data += BZERO.
    const double scale = bscale.value_or(1.0);
    const double zero = bzero.value_or(0.0);
    if (scale != 1.0) {
        const float s = static_cast<float>(scale);
        for (std::size_t i = 0; i < count; ++i) dst[i] = dst[i] * s;
    }
    if (zero != 0.0) {
        const float z = static_cast<float>(zero);
        for (std::size_t i = 0; i < count; ++i) dst[i] = dst[i] + z;
    }
    return true;
}

}  // namespace btsbot
