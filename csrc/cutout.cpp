#include "cutout.hpp"

#include <cmath>
#include <limits>

namespace btsbot {

const char* const kCutoutNames[kChannels] = {"cutoutScience", "cutoutTemplate", "cutoutDifference"};

Status decode_stamp(const std::uint8_t* data, std::size_t size, StampScratch& scratch, std::string& error) {
    if (!has_gzip_magic(data, size)) {
        // Not gzip: name what it is (2017-era packets carry raw JPEG stamps).
        const char* kind = sniff_format(data, size);
        if (size == 0) {
            error = "empty stampData";
        } else if (kind != nullptr) {
            error = std::string("not a FITS file (") + kind + ")";
        } else if (size >= 6 && std::string(reinterpret_cast<const char*>(data), 6) == "SIMPLE") {
            error = "not gzip-compressed (plain FITS)";
        } else {
            error = "not gzip data";
        }
        return Status::BadCutout;
    }
    std::string why;
    if (!scratch.inflater.gunzip(data, size, scratch.raw, why)) {
        error = why;
        return Status::BadCutout;
    }
    if (!parse_fits_image(scratch.raw.data(), scratch.raw.size(), scratch.image, why)) {
        error = why;
        return Status::BadCutout;
    }
    return Status::Ok;
}

Status normalise_channel(const FitsImage& image, float* out, std::size_t pixel_stride, std::string& error) {
    const std::size_t h = image.height;
    const std::size_t w = image.width;
    if (h > kStampSize || w > kStampSize) {
        error = "stamp larger than 63x63: " + std::to_string(h) + "x" + std::to_string(w);
        return Status::BadCutout;
    }
    if (h == 0 || w == 0) {
        error = "empty stamp (0 pixels)";
        return Status::BadCutout;
    }
    constexpr float kMax = std::numeric_limits<float>::max();
    const float* src = image.pixels.data();

    // Pass 1: NaN/inf rule into the destination, sum of squares in float64 (exact products).
    double sum = 0.0;
    for (std::size_t r = 0; r < h; ++r) {
        float* row = out + r * kStampSize * pixel_stride;
        for (std::size_t c = 0; c < w; ++c) {
            float v = src[r * w + c];
            if (std::isnan(v)) {
                v = 0.0f;
            } else if (std::isinf(v)) {
                v = v > 0 ? kMax : -kMax;
            }
            row[c * pixel_stride] = v;
            sum += static_cast<double>(v) * static_cast<double>(v);
        }
    }
    // The norm is rounded to float32; beyond FLT_MAX it becomes inf and the channel signed zeros.
    const float norm = static_cast<float>(std::sqrt(sum));
    if (norm == 0.0f) {
        error = "empty cutout (all-zero channel)";
        return Status::EmptyCutout;
    }
    // Pass 2: divide in float32; pad bottom/right.
    for (std::size_t r = 0; r < kStampSize; ++r) {
        float* row = out + r * kStampSize * pixel_stride;
        if (r < h) {
            for (std::size_t c = 0; c < w; ++c) row[c * pixel_stride] = row[c * pixel_stride] / norm;
            for (std::size_t c = w; c < kStampSize; ++c) row[c * pixel_stride] = kPadValue;
        } else {
            for (std::size_t c = 0; c < kStampSize; ++c) row[c * pixel_stride] = kPadValue;
        }
    }
    return Status::Ok;
}

Status prepare_triplet(const Blob& science, const Blob& tmpl, const Blob& difference, StampScratch& scratch, float* out,
                       std::string& error) {
    const Blob* blobs[kChannels] = {&science, &tmpl, &difference};
    Status status = Status::Ok;
    std::string why;
    for (std::size_t ch = 0; ch < kChannels && status == Status::Ok; ++ch) {
        const Blob& b = *blobs[ch];
        if (!b.present) {
            status = Status::MissingCutout;
            why = "missing cutout";
        } else {
            status = decode_stamp(b.data, b.size, scratch, why);
            if (status == Status::Ok) status = normalise_channel(scratch.image, out + ch, kChannels, why);
        }
        if (status != Status::Ok) error = std::string(kCutoutNames[ch]) + ": " + why;
    }
    if (status != Status::Ok) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        for (std::size_t i = 0; i < kTripletFloats; ++i) out[i] = nan;
    }
    return status;
}

}  // namespace btsbot
