// One cutout -> one normalised 63x63 channel, and three cutouts -> one NHWC triplet (spec section 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fits.hpp"
#include "inflate.hpp"
#include "status.hpp"

namespace btsbot {

inline constexpr std::size_t kStampSize = 63;
inline constexpr std::size_t kChannels = 3;  // 0 science, 1 template, 2 difference
inline constexpr std::size_t kTripletFloats = kStampSize * kStampSize * kChannels;
inline constexpr float kPadValue = 1e-9f;

// Field names of the three channels, in channel order.
extern const char* const kCutoutNames[kChannels];

// A borrowed byte string; `present == false` means the cutout (or its stampData) is null.
struct Blob {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    bool present = false;
};

// Per-thread scratch reused across alerts.
struct StampScratch {
    Inflater inflater;
    std::vector<std::uint8_t> raw;
    FitsImage image;
};

// gunzip + FITS parse into scratch.image (BSCALE/BZERO applied, before the NaN/inf rule).
// BAD_CUTOUT with a reason on failure.
Status decode_stamp(const std::uint8_t* data, std::size_t size, StampScratch& scratch, std::string& error);

// NaN -> 0, +-inf -> +-FLT_MAX, divide by the float32-rounded L2 norm (sum in float64), pad bottom/right
// with kPadValue to 63x63. Writes out[(r * 63 + c) * pixel_stride]. EMPTY_CUTOUT for an all-zero channel,
// BAD_CUTOUT for an image larger than 63 in either dimension (nothing written then).
Status normalise_channel(const FitsImage& image, float* out, std::size_t pixel_stride, std::string& error);

// The three cutouts of one alert -> out[63][63][3]. The first failing channel wins; its message is
// prefixed with the cutout name ("cutoutTemplate: ..."). On failure `out` is filled with NaN.
Status prepare_triplet(const Blob& science, const Blob& tmpl, const Blob& difference, StampScratch& scratch, float* out,
                       std::string& error);

}  // namespace btsbot
