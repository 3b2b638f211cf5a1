// pybind11 glue for btsbot_fast._core (the only file that includes pybind11). Validates arrays (a wrong
// array is a programming error -> ValueError/TypeError), pins the Python byte strings, and releases the
// GIL around the batch work; a bad alert never raises, it gets a status and a message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "avro/decode.hpp"
#include "avro/ocf.hpp"
#include "avro/program.hpp"
#include "batch.hpp"
#include "cutout.hpp"
#include "features.hpp"
#include "inflate.hpp"
#include "status.hpp"

namespace py = pybind11;
using namespace btsbot;

namespace {

// Holds a Python buffer view (PyBUF_SIMPLE) so the bytes stay put while the GIL is released.
struct BufferView {
    Py_buffer view{};
    bool held = false;
    BufferView() = default;
    BufferView(const BufferView&) = delete;
    BufferView& operator=(const BufferView&) = delete;
    ~BufferView() {
        if (held) PyBuffer_Release(&view);
    }
};

// The cutouts of one channel, pinned. `refs` keeps a strong reference to every element (the caller's
// list may be mutated by another thread while the GIL is released).
struct PinnedBlobs {
    std::vector<Blob> blobs;
    std::vector<py::object> refs;
    std::vector<std::unique_ptr<BufferView>> views;
};

PinnedBlobs pin_blobs(const py::sequence& seq, const char* name) {
    PinnedBlobs p;
    const std::size_t n = py::len(seq);
    p.blobs.resize(n);
    p.refs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        py::object item = seq[i];
        Blob& b = p.blobs[i];
        if (item.is_none()) {
            b.present = false;
        } else if (PyBytes_Check(item.ptr())) {
            b.data = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(item.ptr()));
            b.size = static_cast<std::size_t>(PyBytes_GET_SIZE(item.ptr()));
            b.present = true;
        } else if (PyObject_CheckBuffer(item.ptr())) {
            auto v = std::make_unique<BufferView>();
            if (PyObject_GetBuffer(item.ptr(), &v->view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
            v->held = true;
            b.data = static_cast<const std::uint8_t*>(v->view.buf);
            b.size = static_cast<std::size_t>(v->view.len);
            b.present = true;
            p.views.push_back(std::move(v));
        } else {
            throw py::type_error(std::string(name) + "[" + std::to_string(i) +
                                 "]: expected bytes or None, got " +
                                 std::string(py::str(py::type::of(item).attr("__name__"))));
        }
        p.refs.push_back(std::move(item));
    }
    return p;
}

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

template <class T>
void require_array(const py::array& a, const char* name, const char* dtype_name,
                   const std::vector<py::ssize_t>& shape, bool writeable) {
    if (!a.dtype().equal(py::dtype::of<T>())) {
        throw py::value_error(std::string(name) + ": expected dtype " + dtype_name + " (native byte order), got " +
                              std::string(py::str(a.dtype())));
    }
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    for (std::size_t d = 0; ok && d < shape.size(); ++d) ok = shape[d] < 0 || a.shape(d) == shape[d];
    if (!ok) {
        std::string want = "(";
        for (std::size_t d = 0; d < shape.size(); ++d)
            want += (d ? ", " : "") + (shape[d] < 0 ? std::string("?") : std::to_string(shape[d]));
        want += shape.size() == 1 ? ",)" : ")";
        throw py::value_error(std::string(name) + ": expected shape " + want + ", got " + shape_str(a));
    }
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + ": must be C-contiguous");
    if (writeable && !a.writeable()) throw py::value_error(std::string(name) + ": must be writeable");
}

py::tuple make_result(const std::vector<std::uint8_t>& status, std::vector<std::string>& messages) {
    py::array_t<std::uint8_t> codes(static_cast<py::ssize_t>(status.size()));
    std::copy(status.begin(), status.end(), codes.mutable_data());
    py::list msgs(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) msgs[i] = py::str(messages[i]);
    return py::make_tuple(codes, msgs);
}

struct Stamps {
    PinnedBlobs sci, tmpl, diff;
};

Stamps pin_stamps(const py::sequence& s, const py::sequence& t, const py::sequence& d, std::size_t n) {
    Stamps out{pin_blobs(s, "science"), pin_blobs(t, "template"), pin_blobs(d, "difference")};
    if (out.sci.blobs.size() != n || out.tmpl.blobs.size() != n || out.diff.blobs.size() != n) {
        throw py::value_error("science/template/difference must each have N = " + std::to_string(n) +
                              " items (got " + std::to_string(out.sci.blobs.size()) + ", " +
                              std::to_string(out.tmpl.blobs.size()) + ", " +
                              std::to_string(out.diff.blobs.size()) + ")");
    }
    return out;
}

void require_triplets_out(const py::array& out) {
    const py::ssize_t s = static_cast<py::ssize_t>(kStampSize);
    require_array<float>(out, "triplets out", "float32", {-1, s, s, static_cast<py::ssize_t>(kChannels)}, true);
}

// Validates the feature inputs for N alerts and returns the history view.
HistoryView require_feature_inputs(const py::array& candidate, const py::array& offsets, const py::array& jd,
                                   const py::array& magpsf, const py::array& out, py::ssize_t n) {
    require_array<double>(candidate, "candidate", "float64", {n, static_cast<py::ssize_t>(kNumCandidateColumns)},
                          false);
    require_array<std::int64_t>(offsets, "hist_offsets", "int64", {n + 1}, false);
    require_array<double>(jd, "hist_jd", "float64", {-1}, false);
    require_array<double>(magpsf, "hist_magpsf", "float64", {jd.shape(0)}, false);
    require_array<float>(out, "metadata out", "float32", {n, static_cast<py::ssize_t>(kNumFeatures)}, true);
    const auto* off = static_cast<const std::int64_t*>(offsets.data());
    const std::int64_t m = static_cast<std::int64_t>(jd.shape(0));
    for (py::ssize_t i = 0; i <= n; ++i) {
        if (off[i] < 0 || off[i] > m || (i > 0 && off[i] < off[i - 1])) {
            throw py::value_error("hist_offsets must be non-decreasing within [0, " + std::to_string(m) +
                                  "]; bad value " + std::to_string(off[i]) + " at index " + std::to_string(i));
        }
    }
    return HistoryView{off, static_cast<const double*>(jd.data()), static_cast<const double*>(magpsf.data())};
}

py::array_t<float> py_decode_stamp(const py::bytes& data) {
    char* ptr = nullptr;
    py::ssize_t len = 0;
    if (PYBIND11_BYTES_AS_STRING_AND_SIZE(data.ptr(), &ptr, &len) != 0) throw py::error_already_set();
    StampScratch scratch;
    std::string error;
    Status st;
    {
        py::gil_scoped_release release;
        st = decode_stamp(reinterpret_cast<const std::uint8_t*>(ptr), static_cast<std::size_t>(len), scratch, error);
    }
    if (st != Status::Ok) throw py::value_error(error);
    py::array_t<float> out({static_cast<py::ssize_t>(scratch.image.height),
                            static_cast<py::ssize_t>(scratch.image.width)});
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

py::tuple py_prepare_triplets(const py::sequence& science, const py::sequence& tmpl, const py::sequence& diff,
                              const py::array& out, int n_threads) {
    require_triplets_out(out);
    const std::size_t n = static_cast<std::size_t>(out.shape(0));
    Stamps st = pin_stamps(science, tmpl, diff, n);
    std::vector<std::uint8_t> status(n);
    std::vector<std::string> messages;
    float* dst = static_cast<float*>(const_cast<void*>(out.data()));
    {
        py::gil_scoped_release release;
        prepare_triplets_batch(st.sci.blobs.data(), st.tmpl.blobs.data(), st.diff.blobs.data(), n, dst,
                               BatchResult{status.data(), &messages}, n_threads);
    }
    return make_result(status, messages);
}

py::tuple py_compute_features(const py::array& candidate, const py::array& offsets, const py::array& jd,
                              const py::array& magpsf, const py::array& out) {
    if (out.ndim() < 1) throw py::value_error("metadata out: expected shape (N, 25)");
    const py::ssize_t n = out.shape(0);
    const HistoryView h = require_feature_inputs(candidate, offsets, jd, magpsf, out, n);
    std::vector<std::uint8_t> status(static_cast<std::size_t>(n));
    std::vector<std::string> messages;
    float* dst = static_cast<float*>(const_cast<void*>(out.data()));
    {
        py::gil_scoped_release release;
        compute_features_batch(static_cast<const double*>(candidate.data()), h, static_cast<std::size_t>(n), dst,
                               BatchResult{status.data(), &messages}, 1);
    }
    return make_result(status, messages);
}

py::tuple py_preprocess(const py::sequence& science, const py::sequence& tmpl, const py::sequence& diff,
                        const py::array& candidate, const py::array& offsets, const py::array& jd,
                        const py::array& magpsf, const py::array& triplets_out, const py::array& metadata_out,
                        int n_threads) {
    require_triplets_out(triplets_out);
    const py::ssize_t n = triplets_out.shape(0);
    const HistoryView h = require_feature_inputs(candidate, offsets, jd, magpsf, metadata_out, n);
    Stamps st = pin_stamps(science, tmpl, diff, static_cast<std::size_t>(n));
    std::vector<std::uint8_t> status(static_cast<std::size_t>(n));
    std::vector<std::string> messages;
    float* tdst = static_cast<float*>(const_cast<void*>(triplets_out.data()));
    float* mdst = static_cast<float*>(const_cast<void*>(metadata_out.data()));
    {
        py::gil_scoped_release release;
        preprocess_batch(st.sci.blobs.data(), st.tmpl.blobs.data(), st.diff.blobs.data(),
                         static_cast<const double*>(candidate.data()), h, static_cast<std::size_t>(n), tdst, mdst,
                         BatchResult{status.data(), &messages}, n_threads);
    }
    return make_result(status, messages);
}


// ---- native Avro (csrc/avro) ----------------------------------------------------------------------

// Messages may quote bytes of the input (e.g. an unknown codec name): never fail on bad UTF-8.
py::str lenient_str(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace");
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

avro::Limits make_limits(std::int64_t max_block_bytes, std::int64_t max_block_records, int max_depth,
                         std::int64_t max_items) {
    if (max_block_bytes < 1 || max_block_records < 1 || max_depth < 1 || max_items < 1) {
        throw py::value_error("limits must be positive");
    }
    avro::Limits l;
    l.max_block_bytes = static_cast<std::size_t>(max_block_bytes);
    l.max_block_records = max_block_records;
    l.max_depth = max_depth;
    l.max_items_per_record = max_items;
    return l;
}

// The OCF buffers, pinned (bytes, bytearray, memoryview ...; None is not a buffer).
struct PinnedBuffers {
    PinnedBlobs pinned;
    std::vector<avro::BufferRef> refs;
};

PinnedBuffers pin_buffers(const py::sequence& seq) {
    PinnedBuffers p{pin_blobs(seq, "buffers"), {}};
    p.refs.resize(p.pinned.blobs.size());
    for (std::size_t i = 0; i < p.refs.size(); ++i) {
        const Blob& b = p.pinned.blobs[i];
        if (!b.present) throw py::type_error("buffers[" + std::to_string(i) + "]: expected bytes, got None");
        p.refs[i] = avro::BufferRef{b.data, b.size};
    }
    return p;
}

py::tuple py_scan_ocf(const py::sequence& buffers, std::int64_t max_block_bytes, std::int64_t max_block_records,
                      int max_depth, std::int64_t max_items) {
    const avro::Limits limits = make_limits(max_block_bytes, max_block_records, max_depth, max_items);
    PinnedBuffers bufs = pin_buffers(buffers);
    const std::size_t n = bufs.refs.size();
    std::vector<avro::ScanInfo> info;
    std::vector<avro::BlockEntry> blocks;
    std::vector<std::int64_t> schema_index(n, -1);
    std::vector<std::string_view> schemas;
    {
        py::gil_scoped_release release;
        avro::scan_buffers(bufs.refs.data(), n, limits, info, blocks);
        // the distinct schema texts of this call (usually one): the last match is tried first
        std::unordered_map<std::string_view, std::int64_t> by_text;
        std::int64_t last = -1;
        for (std::size_t i = 0; i < n; ++i) {
            const avro::ScanInfo& s = info[i];
            if (s.state == avro::ScanState::HeaderError) continue;
            if (last >= 0 && schemas[static_cast<std::size_t>(last)] == s.schema) {
                schema_index[i] = last;
                continue;
            }
            const auto it = by_text.find(s.schema);
            if (it != by_text.end()) {
                last = it->second;
            } else {
                last = static_cast<std::int64_t>(schemas.size());
                schemas.push_back(s.schema);
                by_text.emplace(s.schema, last);
            }
            schema_index[i] = last;
        }
    }
    py::list py_schemas(schemas.size());
    for (std::size_t k = 0; k < schemas.size(); ++k) py_schemas[k] = py::bytes(schemas[k].data(), schemas[k].size());
    py::array_t<std::int64_t> table({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(5)});
    std::int64_t* t = table.mutable_data();
    py::list messages(n);
    for (std::size_t i = 0; i < n; ++i) {
        const avro::ScanInfo& s = info[i];
        t[i * 5 + 0] = schema_index[i];
        t[i * 5 + 1] = static_cast<std::int64_t>(s.codec);
        t[i * 5 + 2] = static_cast<std::int64_t>(s.state);
        t[i * 5 + 3] = s.n_records;
        t[i * 5 + 4] = static_cast<std::int64_t>(s.n_blocks);
        messages[i] = lenient_str(s.message);
    }
    py::array_t<std::int64_t> block_table({static_cast<py::ssize_t>(blocks.size()), static_cast<py::ssize_t>(2)});
    std::int64_t* bt = block_table.mutable_data();
    for (std::size_t k = 0; k < blocks.size(); ++k) {
        bt[k * 2] = blocks[k].offset;
        bt[k * 2 + 1] = blocks[k].count;
    }
    return py::make_tuple(py_schemas, table, block_table, messages);
}

py::tuple py_decode_preprocess(const py::sequence& buffers, const py::sequence& programs, const py::array& tasks,
                               const py::array& triplets_out, const py::array& metadata_out,
                               const py::array& candid_out, const py::array& info_out, const py::array& status_out,
                               const py::array& flags_out, int n_threads, std::int64_t max_block_bytes,
                               std::int64_t max_block_records, int max_depth, std::int64_t max_items) {
    const avro::Limits limits = make_limits(max_block_bytes, max_block_records, max_depth, max_items);
    require_triplets_out(triplets_out);
    const py::ssize_t n = triplets_out.shape(0);
    require_array<float>(metadata_out, "metadata out", "float32", {n, static_cast<py::ssize_t>(kNumFeatures)}, true);
    require_array<std::int64_t>(candid_out, "candid out", "int64", {n}, true);
    require_array<double>(info_out, "info out", "float64", {n, static_cast<py::ssize_t>(avro::kRowInfoColumns)}, true);
    require_array<std::uint8_t>(status_out, "status out", "uint8", {n}, true);
    require_array<std::uint8_t>(flags_out, "flags out", "uint8", {n}, true);
    require_array<std::int64_t>(tasks, "tasks", "int64", {-1, static_cast<py::ssize_t>(avro::kTaskColumns)}, false);

    PinnedBuffers bufs = pin_buffers(buffers);
    std::vector<avro::Program> progs;
    progs.reserve(py::len(programs));
    for (const py::handle& h : programs) {
        if (!py::isinstance<py::array>(h)) throw py::type_error("programs: expected int64 numpy arrays");
        const py::array a = py::reinterpret_borrow<py::array>(h);
        require_array<std::int64_t>(a, "program", "int64", {-1}, false);
        try {
            progs.push_back(avro::load_program(static_cast<const std::int64_t*>(a.data()),
                                               static_cast<std::size_t>(a.shape(0))));
        } catch (const std::invalid_argument& e) {
            throw py::value_error(e.what());
        }
    }
    const std::size_t n_tasks = static_cast<std::size_t>(tasks.shape(0));
    std::vector<avro::Task> task_list(n_tasks);
    const auto* tw = static_cast<const std::int64_t*>(tasks.data());
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
    ranges.reserve(n_tasks);
    for (std::size_t k = 0; k < n_tasks; ++k) {
        const std::int64_t* r = tw + k * avro::kTaskColumns;
        avro::Task t{r[0], r[1], r[2], r[3], r[4], r[5], r[6]};
        const std::string where = "tasks[" + std::to_string(k) + "]: ";
        if (t.buffer < 0 || static_cast<std::size_t>(t.buffer) >= bufs.refs.size()) {
            throw py::value_error(where + "buffer index out of range");
        }
        if (t.program < 0 || static_cast<std::size_t>(t.program) >= progs.size()) {
            throw py::value_error(where + "program index out of range");
        }
        if (t.block_offset < 0 || static_cast<std::size_t>(t.block_offset) >= bufs.refs[static_cast<std::size_t>(t.buffer)].size) {
            throw py::value_error(where + "block offset outside the buffer");
        }
        if (t.skip < 0 || t.n_rows < 1 || t.row_offset < 0 || t.first_record < 0 || t.row_offset > n - t.n_rows) {
            throw py::value_error(where + "bad skip / row range");
        }
        ranges.emplace_back(t.row_offset, t.row_offset + t.n_rows);
        task_list[k] = t;
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t k = 1; k < ranges.size(); ++k) {
        if (ranges[k].first < ranges[k - 1].second) throw py::value_error("tasks: overlapping row ranges");
    }

    std::vector<std::string> messages;
    std::vector<avro::ObjectId> object_ids;
    py::array_t<std::int64_t> task_errors(static_cast<py::ssize_t>(n_tasks));
    avro::DecodeOutputs out;
    out.n_rows = static_cast<std::size_t>(n);
    out.triplets = static_cast<float*>(const_cast<void*>(triplets_out.data()));
    out.metadata = static_cast<float*>(const_cast<void*>(metadata_out.data()));
    out.candid = static_cast<std::int64_t*>(const_cast<void*>(candid_out.data()));
    out.info = static_cast<double*>(const_cast<void*>(info_out.data()));
    out.status = static_cast<std::uint8_t*>(const_cast<void*>(status_out.data()));
    out.flags = static_cast<std::uint8_t*>(const_cast<void*>(flags_out.data()));
    out.messages = &messages;
    out.object_ids = &object_ids;
    out.task_errors = task_errors.mutable_data();
    {
        py::gil_scoped_release release;
        avro::decode_preprocess(bufs.refs.data(), progs.data(), task_list.data(), n_tasks, out, limits, n_threads);
    }
    py::list ids(static_cast<std::size_t>(n));
    py::list msgs(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
        const avro::ObjectId& v = object_ids[i];
        if (v.present) {
            PyObject* s = PyUnicode_DecodeUTF8(v.text.data(), static_cast<py::ssize_t>(v.text.size()),
                                               "replace");  // validated as UTF-8 while decoding
            if (s == nullptr) throw py::error_already_set();
            ids[i] = py::reinterpret_steal<py::object>(s);
        } else {
            ids[i] = py::none();
        }
        msgs[i] = lenient_str(messages[i]);
    }
    return py::make_tuple(ids, msgs, task_errors);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "btsbot-fast native preprocessing core (btsbot-v1): gzip/FITS cutouts -> triplets, 25 features";
    m.attr("STAMP_SIZE") = static_cast<int>(kStampSize);
    m.attr("N_FEATURES") = static_cast<int>(kNumFeatures);
    m.attr("N_CANDIDATE_COLUMNS") = static_cast<int>(kNumCandidateColumns);
    m.attr("inflater") = inflater_name();

    m.def("decode_stamp", &py_decode_stamp, py::arg("data"),
          "gunzip + lenient FITS parse of one stampData -> (NAXIS2, NAXIS1) float32 (BSCALE/BZERO applied, "
          "before the NaN/inf rule). Raises ValueError naming the reason.");
    m.def("normalise_channel", &py_normalise_channel, py::arg("image"),
          "NaN/inf rule, float32-rounded L2 norm, bottom/right 1e-9 padding -> (63, 63) float32. Raises "
          "ValueError for an empty (all-zero) channel or a stamp larger than 63.");
    m.def("prepare_triplets", &py_prepare_triplets, py::arg("science"), py::arg("template"),
          py::arg("difference"), py::arg("out"), py::arg("n_threads") = 0,
          "Cutouts of N alerts -> out (N, 63, 63, 3) float32 in place; returns (status uint8[N], messages). "
          "Releases the GIL; never raises for a bad alert (its slot is NaN-filled).");
    m.def("compute_features", &py_compute_features, py::arg("candidate"), py::arg("hist_offsets"),
          py::arg("hist_jd"), py::arg("hist_magpsf"), py::arg("out"),
          "The 25 btsbot-v1 features into out (N, 25) float32; returns (status uint8[N], messages).");
    m.def("preprocess", &py_preprocess, py::arg("science"), py::arg("template"), py::arg("difference"),
          py::arg("candidate"), py::arg("hist_offsets"), py::arg("hist_jd"), py::arg("hist_magpsf"),
          py::arg("triplets_out"), py::arg("metadata_out"), py::arg("n_threads") = 0,
          "prepare_triplets + compute_features in one threaded, GIL-free pass; first failure wins.");

    // native Avro
    m.attr("avro_snappy") = avro::snappy_available();
    m.attr("AVRO_PROGRAM_MAGIC") = avro::kProgramMagic;
    m.attr("AVRO_PROGRAM_VERSION") = avro::kProgramVersion;
    m.attr("AVRO_ROW_UNUSED") = static_cast<int>(avro::kRowUnused);
    const avro::Limits defaults;
    m.def("scan_ocf", &py_scan_ocf, py::arg("buffers"),
          py::arg("max_block_bytes") = static_cast<std::int64_t>(defaults.max_block_bytes),
          py::arg("max_block_records") = defaults.max_block_records, py::arg("max_depth") = defaults.max_depth,
          py::arg("max_items") = defaults.max_items_per_record,
          "Walk the header and block framing (sync-verified, no decompression) of Avro OCF buffers. Returns "
          "(schemas: list[bytes] (distinct), info: int64[N, 5] = (schema index or -1, codec, state, n_records, "
          "n_blocks), blocks: int64[B, 2] = (offset, record count) of the blocks with records, buffer after buffer, "
          "messages: list[str]). codec: 0 null, 1 deflate, 2 snappy, 3 snappy not compiled in, 4 unknown; "
          "state: 0 ok, 1 header error, 2 error after n_records, 3 codec not native.");
    m.def("decode_preprocess", &py_decode_preprocess, py::arg("buffers"), py::arg("programs"), py::arg("tasks"),
          py::arg("triplets_out"), py::arg("metadata_out"), py::arg("candid_out"), py::arg("info_out"),
          py::arg("status_out"), py::arg("flags_out"), py::arg("n_threads") = 0,
          py::arg("max_block_bytes") = static_cast<std::int64_t>(defaults.max_block_bytes),
          py::arg("max_block_records") = defaults.max_block_records, py::arg("max_depth") = defaults.max_depth,
          py::arg("max_items") = defaults.max_items_per_record,
          "Decode the records named by tasks (int64[T, 7] = buffer, program, block offset, skip, n_rows, row offset, "
          "first record index) with schema programs and preprocess them into the output rows, on native threads "
          "without the GIL. Returns (objectIds: list[str | None], messages: list[str], task_errors: int64[T] = "
          "record index of a task's failure or -1). Rows after a failure in a task get status AVRO_ROW_UNUSED; "
          "rows no task covers are left as they are.");
}
