#include "batch.hpp"

#include <cstring>
#include <exception>
#include <limits>

#include "pool.hpp"

namespace btsbot {

namespace {

constexpr std::size_t kCutoutChunk = 4;

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

struct NoScratch {};

}  // namespace

History AlertColumns::history(std::size_t i) const {
    const std::int64_t b = hist_offsets[i];
    const std::int64_t e = hist_offsets[i + 1];
    return History{hist_jd + b, hist_magpsf + b, hist_fid + b, hist_flags + b, static_cast<std::size_t>(e - b)};
}

AlertInput AlertColumns::alert(std::size_t i) const {
    AlertInput a;
    for (std::size_t ch = 0; ch < kChannels; ++ch) a.stamps[ch] = stamps[ch][i];
    a.candidate = candidate + i * kNumCandidateColumns;
    a.present = present[i];
    a.history = history(i);
    return a;
}

void zero_outputs(float* triplet, float* metadata) {
    std::memset(triplet, 0, kTripletFloats * sizeof(float));
    std::memset(metadata, 0, kNumFeatures * sizeof(float));
}

Status preprocess_alert(const AlertInput& alert, StampScratch& scratch, float* triplet, float* metadata,
                        BtsVerdict& bts, std::string& message) {
    bts = bts_verdict(alert.candidate, alert.present, alert.history);
    Status st;
    if (!(alert.present & kCandidateRecordBit)) {
        message = "missing field: candidate";
        st = Status::MissingField;
    } else {
        st = guarded(
            [&] {
                return prepare_triplet(alert.stamps[0], alert.stamps[1], alert.stamps[2], scratch, triplet, message);
            },
            message);
        if (st == Status::Ok) {
            st = guarded(
                [&] { return compute_features(alert.candidate, alert.present, alert.history, metadata, message); },
                message);
        }
    }
    if (st != Status::Ok) zero_outputs(triplet, metadata);
    return st;
}

void preprocess_batch(const AlertColumns& alerts, float* triplets_out, float* metadata_out, BtsVerdict* bts_out,
                      BatchResult result, int n_threads) {
    result.messages->assign(alerts.n, std::string());
    parallel_for<StampScratch>(alerts.n, n_threads, kCutoutChunk, [&](std::size_t b, std::size_t e, StampScratch& s) {
        for (std::size_t i = b; i < e; ++i) {
            const Status st = preprocess_alert(alerts.alert(i), s, triplets_out + i * kTripletFloats,
                                               metadata_out + i * kNumFeatures, bts_out[i], (*result.messages)[i]);
            result.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

void prepare_triplets_batch(const AlertColumns& alerts, float* out, BatchResult result, int n_threads) {
    result.messages->assign(alerts.n, std::string());
    parallel_for<StampScratch>(alerts.n, n_threads, kCutoutChunk, [&](std::size_t b, std::size_t e, StampScratch& s) {
        for (std::size_t i = b; i < e; ++i) {
            std::string& msg = (*result.messages)[i];
            float* slot = out + i * kTripletFloats;
            const Status st = guarded(
                [&] {
                    return prepare_triplet(alerts.stamps[0][i], alerts.stamps[1][i], alerts.stamps[2][i], s, slot, msg);
                },
                msg);
            result.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

void compute_features_batch(const AlertColumns& alerts, float* out, BatchResult result) {
    result.messages->assign(alerts.n, std::string());
    for (std::size_t i = 0; i < alerts.n; ++i) {
        std::string& msg = (*result.messages)[i];
        const double* cand = alerts.candidate + i * kNumCandidateColumns;
        const History h = alerts.history(i);
        const Status st =
            guarded([&] { return compute_features(cand, alerts.present[i], h, out + i * kNumFeatures, msg); }, msg);
        result.status[i] = static_cast<std::uint8_t>(st);
    }
}

}  // namespace btsbot
