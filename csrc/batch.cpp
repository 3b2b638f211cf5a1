#include "batch.hpp"

#include <exception>
#include <limits>

#include "parallel.hpp"

namespace btsbot {

namespace {

constexpr std::size_t kCutoutChunk = 8;
constexpr std::size_t kFeatureChunk = 1024;

struct NoScratch {};

void fill_nan(float* p, std::size_t count) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t i = 0; i < count; ++i) p[i] = nan;
}

// Runs one alert's work, turning an unexpected C++ exception (e.g. bad_alloc) into a per-alert error.
template <class Fn>
Status guarded(Fn&& fn, std::string& message) {
    try {
        return fn();
    } catch (const std::exception& e) {
        message = std::string("internal error: ") + e.what();
    } catch (...) {
        message = "internal error";
    }
    return Status::DecodeError;
}

Status one_features(const double* candidate, HistoryView h, std::size_t i, float* out, std::string& msg) {
    const std::int64_t b = h.offsets[i];
    const std::int64_t e = h.offsets[i + 1];
    return compute_features(candidate + i * kNumCandidateColumns, h.jd + b, h.magpsf + b,
                            static_cast<std::size_t>(e - b), out + i * kNumFeatures, msg);
}

}  // namespace

void prepare_triplets_batch(const Blob* science, const Blob* tmpl, const Blob* difference, std::size_t n,
                            float* out, BatchResult result, int n_threads) {
    result.messages->assign(n, std::string());
    parallel_for<StampScratch>(n, n_threads, kCutoutChunk, [&](std::size_t b, std::size_t e, StampScratch& s) {
        for (std::size_t i = b; i < e; ++i) {
            std::string& msg = (*result.messages)[i];
            float* slot = out + i * kTripletFloats;
            const Status st = guarded(
                [&] { return prepare_triplet(science[i], tmpl[i], difference[i], s, slot, msg); }, msg);
            if (st != Status::Ok) fill_nan(slot, kTripletFloats);
            result.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

void compute_features_batch(const double* candidate, HistoryView history, std::size_t n, float* out,
                            BatchResult result, int n_threads) {
    result.messages->assign(n, std::string());
    parallel_for<NoScratch>(n, n_threads, kFeatureChunk, [&](std::size_t b, std::size_t e, NoScratch&) {
        for (std::size_t i = b; i < e; ++i) {
            std::string& msg = (*result.messages)[i];
            const Status st = guarded([&] { return one_features(candidate, history, i, out, msg); }, msg);
            if (st != Status::Ok) fill_nan(out + i * kNumFeatures, kNumFeatures);
            result.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

void preprocess_batch(const Blob* science, const Blob* tmpl, const Blob* difference, const double* candidate,
                      HistoryView history, std::size_t n, float* triplets_out, float* metadata_out,
                      BatchResult result, int n_threads) {
    result.messages->assign(n, std::string());
    parallel_for<StampScratch>(n, n_threads, kCutoutChunk, [&](std::size_t b, std::size_t e, StampScratch& s) {
        for (std::size_t i = b; i < e; ++i) {
            std::string& msg = (*result.messages)[i];
            float* slot = triplets_out + i * kTripletFloats;
            Status st = guarded(
                [&] { return prepare_triplet(science[i], tmpl[i], difference[i], s, slot, msg); }, msg);
            if (st == Status::Ok) {
                st = guarded([&] { return one_features(candidate, history, i, metadata_out, msg); }, msg);
            }
            if (st != Status::Ok) {
                fill_nan(slot, kTripletFloats);
                fill_nan(metadata_out + i * kNumFeatures, kNumFeatures);
            }
            result.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

}  // namespace btsbot
