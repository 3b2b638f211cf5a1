// Preprocessing: cutouts + features + BTS verdicts of N alerts in one GIL-free pass (preprocess), the
// candidate/history layout constants prep/ fills the arrays by, and the per-stage hooks (one stamp, one
// channel, cutouts or features alone).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "batch.hpp"
#include "cutout.hpp"
#include "features.hpp"
#include "fits.hpp"
#include "py_glue.hpp"
#include "register.hpp"
#include "status.hpp"

namespace btsbot::python {

namespace {

// One channel of stamps: a sequence of bytes/None, or an Arrow binary column given as (offsets int64
// (N+1), values uint8, valid uint8 (N)) numpy views (zero-copy).
struct StampChannel {
    PinnedBlobs pinned;
    std::vector<py::object> arrays;
};

StampChannel pin_channel(const py::object& obj, const char* name, std::size_t n) {
    StampChannel c;
    if (py::isinstance<py::tuple>(obj) && py::len(obj) == 3 && py::isinstance<py::array>(py::tuple(obj)[0])) {
        const py::tuple t(obj);
        const py::array offsets = t[0], values = t[1], valid = t[2];
        require_array<std::int64_t>(offsets, "stamp offsets", "int64", {static_cast<py::ssize_t>(n + 1)}, false);
        require_array<std::uint8_t>(values, "stamp values", "uint8", {-1}, false);
        require_array<std::uint8_t>(valid, "stamp valid", "uint8", {static_cast<py::ssize_t>(n)}, false);
        const auto* off = ptr<std::int64_t>(offsets);
        const auto* val = ptr<std::uint8_t>(values);
        const auto* ok = ptr<std::uint8_t>(valid);
        const std::int64_t m = static_cast<std::int64_t>(values.shape(0));
        c.pinned.blobs.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > m) {
                throw py::value_error(std::string(name) + ": stamp offsets out of range at " + std::to_string(i));
            }
            Blob& b = c.pinned.blobs[i];
            b.present = ok[i] != 0;
            b.data = val + off[i];
            b.size = static_cast<std::size_t>(off[i + 1] - off[i]);
        }
        c.arrays = {offsets, values, valid};
        return c;
    }
    c.pinned = pin_blobs(py::reinterpret_borrow<py::sequence>(obj), name);
    if (c.pinned.blobs.size() != n) {
        throw py::value_error(std::string(name) + ": expected N = " + std::to_string(n) + " stamps, got " +
                              std::to_string(c.pinned.blobs.size()));
    }
    return c;
}

struct AlertArrays {
    StampChannel channels[kChannels];
    AlertColumns columns;
};

// The three stamp channels of N alerts, pinned into a.columns.stamps.
void pin_stamps(AlertArrays& a, const py::object& sci, const py::object& tmpl, const py::object& diff, std::size_t n) {
    a.channels[0] = pin_channel(sci, "science", n);
    a.channels[1] = pin_channel(tmpl, "template", n);
    a.channels[2] = pin_channel(diff, "difference", n);
    a.columns.n = n;
    for (std::size_t ch = 0; ch < kChannels; ++ch) a.columns.stamps[ch] = a.channels[ch].pinned.blobs.data();
}

// The candidate matrix and history columns of N alerts, validated into c (stamps untouched).
void require_columns(AlertColumns& c, const py::array& candidate, const py::array& present, const py::array& offsets,
                     const py::array& jd, const py::array& magpsf, const py::array& fid, const py::array& flags,
                     py::ssize_t n) {
    require_array<double>(candidate, "candidate", "float64", {n, static_cast<py::ssize_t>(kNumCandidateColumns)},
                          false);
    require_array<std::uint64_t>(present, "present", "uint64", {n}, false);
    require_array<std::int64_t>(offsets, "hist_offsets", "int64", {n + 1}, false);
    require_array<double>(jd, "hist_jd", "float64", {-1}, false);
    require_array<double>(magpsf, "hist_magpsf", "float64", {jd.shape(0)}, false);
    require_array<double>(fid, "hist_fid", "float64", {jd.shape(0)}, false);
    require_array<std::uint8_t>(flags, "hist_flags", "uint8", {jd.shape(0)}, false);
    const auto* off = ptr<std::int64_t>(offsets);
    const std::int64_t m = static_cast<std::int64_t>(jd.shape(0));
    for (py::ssize_t i = 0; i <= n; ++i) {
        if (off[i] < 0 || off[i] > m || (i > 0 && off[i] < off[i - 1])) {
            throw py::value_error("hist_offsets must be non-decreasing within [0, " + std::to_string(m) +
                                  "]; bad value " + std::to_string(off[i]) + " at index " + std::to_string(i));
        }
    }
    c.n = static_cast<std::size_t>(n);
    c.candidate = ptr<double>(candidate);
    c.present = ptr<std::uint64_t>(present);
    c.hist_offsets = off;
    c.hist_jd = ptr<double>(jd);
    c.hist_magpsf = ptr<double>(magpsf);
    c.hist_fid = ptr<double>(fid);
    c.hist_flags = ptr<std::uint8_t>(flags);
}

AlertArrays require_alerts(const py::object& sci, const py::object& tmpl, const py::object& diff,
                           const py::array& candidate, const py::array& present, const py::array& offsets,
                           const py::array& jd, const py::array& magpsf, const py::array& fid, const py::array& flags,
                           py::ssize_t n) {
    AlertArrays a;
    pin_stamps(a, sci, tmpl, diff, static_cast<std::size_t>(n));
    require_columns(a.columns, candidate, present, offsets, jd, magpsf, fid, flags, n);
    return a;
}

py::tuple py_preprocess(const py::object& science, const py::object& tmpl, const py::object& diff,
                        const py::array& candidate, const py::array& present, const py::array& offsets,
                        const py::array& jd, const py::array& magpsf, const py::array& fid, const py::array& flags,
                        const py::array& triplets_out, const py::array& metadata_out, const py::array& bts_out,
                        int n_threads) {
    require_triplets_out(triplets_out);
    const py::ssize_t n = triplets_out.shape(0);
    require_array<float>(metadata_out, "metadata out", "float32", {n, static_cast<py::ssize_t>(kNumFeatures)}, true);
    require_array<std::uint16_t>(bts_out, "bts out", "uint16", {n}, true);
    AlertArrays a = require_alerts(science, tmpl, diff, candidate, present, offsets, jd, magpsf, fid, flags, n);
    std::vector<std::uint8_t> status(static_cast<std::size_t>(n));
    std::vector<std::string> messages;
    {
        NativeSection section;
        preprocess_batch(a.columns, mutable_ptr<float>(triplets_out), mutable_ptr<float>(metadata_out),
                         mutable_ptr<std::uint16_t>(bts_out), BatchResult{status.data(), &messages}, n_threads);
    }
    return make_result(status, messages);
}

py::array_t<float> py_decode_stamp(const py::bytes& data) {
    char* p = nullptr;
    py::ssize_t len = 0;
    if (PYBIND11_BYTES_AS_STRING_AND_SIZE(data.ptr(), &p, &len) != 0) throw py::error_already_set();
    StampScratch scratch;
    std::string error;
    Status st;
    {
        py::gil_scoped_release release;
        st = decode_stamp(reinterpret_cast<const std::uint8_t*>(p), static_cast<std::size_t>(len), scratch, error);
    }
    if (st != Status::Ok) throw py::value_error(error);
    py::array_t<float> out(
        {static_cast<py::ssize_t>(scratch.image.height), static_cast<py::ssize_t>(scratch.image.width)});
    std::copy(scratch.image.pixels.begin(), scratch.image.pixels.end(), out.mutable_data());
    return out;
}

py::array_t<float> py_normalise_channel(const py::array_t<float, py::array::c_style>& image) {
    if (image.ndim() != 2) throw py::value_error("image: expected a 2-D array, got " + shape_str(image));
    FitsImage img;
    img.height = static_cast<std::size_t>(image.shape(0));
    img.width = static_cast<std::size_t>(image.shape(1));
    img.pixels.assign(image.data(), image.data() + img.height * img.width);
    py::array_t<float> out({static_cast<py::ssize_t>(kStampSize), static_cast<py::ssize_t>(kStampSize)});
    std::string error;
    const Status st = normalise_channel(img, out.mutable_data(), 1, error);
    if (st != Status::Ok) throw py::value_error(error);
    return out;
}

py::tuple py_prepare_triplets(const py::object& science, const py::object& tmpl, const py::object& diff,
                              const py::array& out, int n_threads) {
    require_triplets_out(out);
    const std::size_t n = static_cast<std::size_t>(out.shape(0));
    AlertArrays a;
    pin_stamps(a, science, tmpl, diff, n);
    std::vector<std::uint8_t> status(n);
    std::vector<std::string> messages;
    {
        NativeSection section;
        prepare_triplets_batch(a.columns, mutable_ptr<float>(out), BatchResult{status.data(), &messages}, n_threads);
    }
    return make_result(status, messages);
}

py::tuple py_compute_features(const py::array& candidate, const py::array& present, const py::array& offsets,
                              const py::array& jd, const py::array& magpsf, const py::array& fid,
                              const py::array& flags, const py::array& out) {
    if (out.ndim() < 1) throw py::value_error("metadata out: expected shape (N, 25)");
    const py::ssize_t n = out.shape(0);
    require_array<float>(out, "metadata out", "float32", {n, static_cast<py::ssize_t>(kNumFeatures)}, true);
    AlertColumns cols;  // no stamps: compute_features_batch reads none
    require_columns(cols, candidate, present, offsets, jd, magpsf, fid, flags, n);
    std::vector<std::uint8_t> status(static_cast<std::size_t>(n));
    std::vector<std::string> messages;
    {
        NativeSection section;
        compute_features_batch(cols, mutable_ptr<float>(out), BatchResult{status.data(), &messages});
    }
    return make_result(status, messages);
}

}  // namespace

void register_preprocess(py::module_& m, py::module_& testing) {
    m.attr("STAMP_SIZE") = static_cast<int>(kStampSize);
    m.attr("N_FEATURES") = static_cast<int>(kNumFeatures);
    m.attr("N_CANDIDATE_COLUMNS") = static_cast<int>(kNumCandidateColumns);
    m.attr("CANDIDATE_RECORD_BIT") = kCandidateRecordBit;
    m.attr("HIST_ITEM") = static_cast<int>(kHistItem);
    m.attr("HIST_JD") = static_cast<int>(kHistJd);
    m.attr("HIST_MAG") = static_cast<int>(kHistMag);
    m.attr("HIST_POSITIVE") = static_cast<int>(kHistPositive);
    m.attr("HIST_FID") = static_cast<int>(kHistFid);
    m.attr("PRV_LACKS_SHIFT") = static_cast<int>(kPrvLacksShift);
    {
        py::list columns;
        for (const char* name : kCandidateColumnNames) columns.append(name);
        m.attr("CANDIDATE_COLUMNS") = py::tuple(columns);
    }

    m.def("preprocess", &py_preprocess, py::arg("science"), py::arg("template"), py::arg("difference"),
          py::arg("candidate"), py::arg("present"), py::arg("hist_offsets"), py::arg("hist_jd"), py::arg("hist_magpsf"),
          py::arg("hist_fid"), py::arg("hist_flags"), py::arg("triplets_out"), py::arg("metadata_out"),
          py::arg("bts_out"), py::arg("n_threads") = 0,
          "Cutouts + features + BTS filter verdicts of N alerts in one GIL-free pass on the thread pool; returns "
          "(status uint8[N], messages). Stamps per channel: a sequence of bytes/None, or (offsets int64[N+1], "
          "values uint8, valid uint8[N]) views of an Arrow binary column. Failed rows are zero-filled.");

    testing.def("decode_stamp", &py_decode_stamp, py::arg("data"));
    testing.def("normalise_channel", &py_normalise_channel, py::arg("image"));
    testing.def("prepare_triplets", &py_prepare_triplets, py::arg("science"), py::arg("template"),
                py::arg("difference"), py::arg("out"), py::arg("n_threads") = 0);
    testing.def("compute_features", &py_compute_features, py::arg("candidate"), py::arg("present"),
                py::arg("hist_offsets"), py::arg("hist_jd"), py::arg("hist_magpsf"), py::arg("hist_fid"),
                py::arg("hist_flags"), py::arg("out"));
}

}  // namespace btsbot::python
