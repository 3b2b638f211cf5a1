// Minimal, lenient reader for the single-HDU float32 FITS images in ZTF cutouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace btsbot {

inline constexpr std::size_t kFitsBlock = 2880;
inline constexpr std::size_t kFitsCard = 80;

// A decoded image: `pixels` holds height*width host floats, row-major in stored order
// (shape (NAXIS2, NAXIS1)), BSCALE/BZERO applied.
struct FitsImage {
    std::size_t height = 0;  // NAXIS2
    std::size_t width = 0;   // NAXIS1
    std::vector<float> pixels;
};

// A short name for a recognisable non-FITS payload ("JPEG", "PNG", "gzip", ...), or nullptr.
const char* sniff_format(const std::uint8_t* data, std::size_t size) noexcept;

// Parses the primary HDU: 80-char cards in 2880-byte blocks up to END (keyword/value split is
// lenient: ZTF's SIMPLE card is not fixed-format), requires BITPIX = -32 and NAXIS = 2, applies
// BSCALE/BZERO in float32 like astropy. Returns false with a reason in `error`.
bool parse_fits_image(const std::uint8_t* data, std::size_t size, FitsImage& image, std::string& error);

}  // namespace btsbot
