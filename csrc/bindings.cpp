// pybind11 glue for btsbot_fast._core (the only file that includes pybind11). Validates arrays (a wrong
// array is a programming error -> ValueError/TypeError), pins the Python byte strings, and releases the
// GIL around the batch work; a bad alert never raises, it gets a status and a message.
//
// The public module is what btsbot_fast/prep drives; `_core._testing` holds the per-stage hooks the tests
// and benchmarks call (one stamp, one channel, cutouts or features alone, the tar reader, programs).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <zlib.h>

#include "archive.hpp"
#include "avro/ocf.hpp"
#include "avro/program.hpp"
#include "avro/reader.hpp"
#include "batch.hpp"
#include "bts_filter.hpp"
#include "cutout.hpp"
#include "features.hpp"
#include "inflate.hpp"
#include "pool.hpp"
#include "status.hpp"

namespace py = pybind11;
using namespace btsbot;

namespace {

// ---- GIL accounting: CPU time this thread spends in GIL-free native sections --------------------------

thread_local double t_native_user = 0.0;
thread_local double t_native_sys = 0.0;

// (user, system) CPU seconds of the calling thread so far.
std::pair<double, double> thread_cpu() {
    rusage ru{};
#if defined(RUSAGE_THREAD)
    getrusage(RUSAGE_THREAD, &ru);
#endif
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

// Releases the GIL for a scope and adds the calling thread's CPU time in it (user, system) to the
// thread's native totals: what the GIL accounting of benchmarks/bench_throughput.py subtracts.
class NativeSection {
public:
    NativeSection() : start_(thread_cpu()) {}
    ~NativeSection() {
        const auto now = thread_cpu();
        t_native_user += now.first - start_.first;
        t_native_sys += now.second - start_.second;
    }

private:
    std::pair<double, double> start_;
    py::gil_scoped_release release_;
};

// ---- pinned inputs ---------------------------------------------------------------------------------------

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

// Byte strings (bytes, bytearray, memoryview ... or None), pinned: `refs` keeps a strong reference to
// every element (the caller's list may change while the GIL is released).
struct PinnedBlobs {
    std::vector<Blob> blobs;
    std::vector<py::object> refs;
    std::vector<std::unique_ptr<BufferView>> views;
};

void pin_one(const py::object& item, Blob& b, PinnedBlobs& p, const char* name, std::size_t i) {
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
        throw py::type_error(std::string(name) + "[" + std::to_string(i) + "]: expected bytes or None, got " +
                             std::string(py::str(py::type::of(item).attr("__name__"))));
    }
}

PinnedBlobs pin_blobs(const py::sequence& seq, const char* name) {
    PinnedBlobs p;
    const std::size_t n = py::len(seq);
    p.blobs.resize(n);
    p.refs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        py::object item = seq[i];
        pin_one(item, p.blobs[i], p, name, i);
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

template <class T>
T* mutable_ptr(const py::array& a) {
    return static_cast<T*>(const_cast<void*>(a.data()));
}

template <class T>
const T* ptr(const py::array& a) {
    return static_cast<const T*>(a.data());
}

py::tuple make_result(const std::vector<std::uint8_t>& status, const std::vector<std::string>& messages) {
    py::array_t<std::uint8_t> codes(static_cast<py::ssize_t>(status.size()));
    std::copy(status.begin(), status.end(), codes.mutable_data());
    py::list msgs(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) msgs[i] = py::str(messages[i]);
    return py::make_tuple(codes, msgs);
}

// Messages may quote bytes of the input (e.g. an unknown codec name): never fail on bad UTF-8.
py::str lenient_str(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace");
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

// Source names are file-system text (os.fsencode'd by the caller): back with surrogateescape.
py::str fs_str(const std::string& s) {
    PyObject* o = PyUnicode_DecodeFSDefaultAndSize(s.data(), static_cast<py::ssize_t>(s.size()));
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

std::string fs_bytes(const py::handle& name_or_path) {
    PyObject* fs = PyOS_FSPath(name_or_path.ptr());  // str, bytes or os.PathLike
    if (fs == nullptr) throw py::error_already_set();
    py::object name = py::reinterpret_steal<py::object>(fs);
    if (PyBytes_Check(name.ptr())) return std::string(py::reinterpret_borrow<py::bytes>(name));
    PyObject* b = PyUnicode_EncodeFSDefault(name.ptr());
    if (b == nullptr) throw py::error_already_set();
    py::bytes owned = py::reinterpret_steal<py::bytes>(b);
    return std::string(owned);
}

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
    require_array<double>(candidate, "candidate", "float64", {n, static_cast<py::ssize_t>(kNumCandidateColumns)}, false);
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
                           const py::array& jd, const py::array& magpsf, const py::array& fid,
                           const py::array& flags, py::ssize_t n) {
    AlertArrays a;
    pin_stamps(a, sci, tmpl, diff, static_cast<std::size_t>(n));
    require_columns(a.columns, candidate, present, offsets, jd, magpsf, fid, flags, n);
    return a;
}

void require_triplets_out(const py::array& out) {
    const py::ssize_t s = static_cast<py::ssize_t>(kStampSize);
    require_array<float>(out, "triplets out", "float32", {-1, s, s, static_cast<py::ssize_t>(kChannels)}, true);
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

// ---- the native reader ---------------------------------------------------------------------------------

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

avro::Program load_program_words(const py::array& words) {
    require_array<std::int64_t>(words, "program", "int64", {-1}, false);
    try {
        return avro::load_program(ptr<std::int64_t>(words), static_cast<std::size_t>(words.shape(0)));
    } catch (const std::invalid_argument& e) {
        throw py::value_error(e.what());
    }
}

// A Python object kept alive by the reader; dropped with the GIL held (take_retired).
std::shared_ptr<void> keep(const py::object& o) {
    PyObject* p = o.ptr();
    Py_INCREF(p);
    return std::shared_ptr<void>(p, [](void* q) {
        py::gil_scoped_acquire gil;  // normally already held: sources retire through take_retired()
        Py_DECREF(static_cast<PyObject*>(q));
    });
}

class PyReader {
public:
    PyReader(std::int64_t max_block_bytes, std::int64_t max_block_records, int max_depth, std::int64_t max_items,
             std::int64_t max_inflight_bytes, std::int64_t map_threshold, std::int64_t archive_read_ahead) {
        avro::ReaderOptions o;
        o.limits = make_limits(max_block_bytes, max_block_records, max_depth, max_items);
        if (max_inflight_bytes < 1 || map_threshold < 0 || archive_read_ahead < 1) {
            throw py::value_error("reader sizes must be positive");
        }
        o.max_inflight_bytes = static_cast<std::size_t>(max_inflight_bytes);
        o.map_threshold = static_cast<std::size_t>(map_threshold);
        o.archive_read_ahead = static_cast<std::size_t>(archive_read_ahead);
        o.archive_link_cache = o.archive_read_ahead;
        try {
            reader_ = std::make_unique<avro::Reader>(o);
        } catch (const std::invalid_argument& e) {
            throw py::value_error(e.what());
        }
    }

    ~PyReader() {
        // sources hold Python objects: drop them with the GIL held (it is, in a destructor called by Python)
        reader_.reset();
    }

    void add_buffers(const py::sequence& names, const py::sequence& buffers) {
        const std::size_t n = py::len(buffers);
        if (py::len(names) != n) throw py::value_error("names and buffers differ in length");
        for (std::size_t i = 0; i < n; ++i) {
            py::object item = buffers[i];
            PinnedBlobs p;
            Blob b;
            pin_one(item, b, p, "buffers", i);
            if (!b.present) throw py::type_error("buffers[" + std::to_string(i) + "]: expected bytes, got None");
            std::shared_ptr<void> owner;
            if (p.views.empty()) {
                owner = keep(item);
            } else {  // hold the buffer view (it pins memoryview/bytearray contents) and the object
                auto view = std::shared_ptr<BufferView>(p.views[0].release(), [](BufferView* v) {
                    py::gil_scoped_acquire gil;
                    delete v;
                });
                auto obj = keep(item);
                owner = std::shared_ptr<void>(new std::pair<std::shared_ptr<void>, std::shared_ptr<BufferView>>(obj, view),
                                              [](void* q) {
                                                  delete static_cast<std::pair<std::shared_ptr<void>,
                                                                               std::shared_ptr<BufferView>>*>(q);
                                              });
            }
            reader_->add_buffer(fs_bytes(names[i]), avro::BufferRef{b.data, b.size}, std::move(owner));
        }
    }

    void add_files(const py::sequence& names, const py::sequence& paths) {
        const std::size_t n = py::len(paths);
        if (py::len(names) != n) throw py::value_error("names and paths differ in length");
        for (std::size_t i = 0; i < n; ++i) reader_->add_file(fs_bytes(names[i]), fs_bytes(paths[i]));
    }

    void add_archive(const py::object& name, const py::object& path) {
        reader_->add_archive(fs_bytes(name), fs_bytes(path));
    }

    void add_error(const py::object& name, const std::string& detail) { reader_->add_error(fs_bytes(name), detail); }

    void set_program(const py::bytes& schema, const py::object& words, const std::string& schema_name) {
        std::unique_ptr<avro::Program> prog;
        if (!words.is_none()) prog = std::make_unique<avro::Program>(load_program_words(words.cast<py::array>()));
        reader_->set_program(std::string(schema), std::move(prog), schema_name);
    }

    py::tuple next_batch(const py::array& triplets, const py::array& metadata, const py::array& candid,
                         const py::array& info, const py::array& bts, const py::array& status, const py::array& reason,
                         const py::array& flags, const py::array& record_index, const py::array& source,
                         int n_threads) {
        require_triplets_out(triplets);
        const py::ssize_t n = triplets.shape(0);
        if (n < 1) throw py::value_error("capacity must be >= 1");
        require_array<float>(metadata, "metadata out", "float32", {n, static_cast<py::ssize_t>(kNumFeatures)}, true);
        require_array<std::int64_t>(candid, "candid out", "int64", {n}, true);
        require_array<double>(info, "info out", "float64", {n, static_cast<py::ssize_t>(avro::kRowInfoColumns)}, true);
        require_array<std::uint16_t>(bts, "bts out", "uint16", {n}, true);
        require_array<std::uint8_t>(status, "status out", "uint8", {n}, true);
        require_array<std::uint8_t>(reason, "reason out", "uint8", {n}, true);
        require_array<std::uint8_t>(flags, "flags out", "uint8", {n}, true);
        require_array<std::int64_t>(record_index, "record_index out", "int64", {n}, true);
        require_array<std::int32_t>(source, "source out", "int32", {n}, true);
        avro::BatchOutputs out;
        out.capacity = static_cast<std::size_t>(n);
        out.triplets = mutable_ptr<float>(triplets);
        out.metadata = mutable_ptr<float>(metadata);
        out.candid = mutable_ptr<std::int64_t>(candid);
        out.info = mutable_ptr<double>(info);
        out.bts = mutable_ptr<std::uint16_t>(bts);
        out.status = mutable_ptr<std::uint8_t>(status);
        out.reason = mutable_ptr<std::uint8_t>(reason);
        out.flags = mutable_ptr<std::uint8_t>(flags);
        out.record_index = mutable_ptr<std::int64_t>(record_index);
        out.source = mutable_ptr<std::int32_t>(source);
        avro::BatchInfo bi;
        {
            NativeSection section;
            reader_->next_batch(out, bi, n_threads);
        }
        retired_ = reader_->take_retired();
        retired_.clear();  // drops the consumed sources' Python objects, GIL held
        const std::size_t rows = bi.n_rows;
        py::list sources(bi.sources.size());
        for (std::size_t k = 0; k < bi.sources.size(); ++k) sources[k] = fs_str(bi.sources[k]);
        py::list messages(rows), ids(rows);
        for (std::size_t j = 0; j < rows; ++j) {
            messages[j] = bi.messages[j].empty() ? py::str("") : lenient_str(bi.messages[j]);
            const avro::ObjectId& oid = bi.object_ids[j];
            ids[j] = oid.present ? py::object(lenient_str(oid.text)) : py::object(py::none());
        }
        py::list schemas(bi.schemas.size());
        for (std::size_t k = 0; k < bi.schemas.size(); ++k) schemas[k] = py::bytes(bi.schemas[k]);
        py::object fallback = py::none();
        if (bi.stop == avro::BatchInfo::Stop::Fallback) {
            py::object data = py::bytes(reinterpret_cast<const char*>(bi.fallback.bytes.data), bi.fallback.bytes.size);
            fallback = py::make_tuple(fs_str(bi.fallback.name), data);
            bi.fallback.owner.reset();
        }
        static const char* stops[] = {"full", "end", "need_schemas", "fallback"};
        return py::make_tuple(rows, stops[static_cast<int>(bi.stop)], sources, messages, ids, schemas, fallback);
    }

    std::size_t pending() const { return reader_->pending(); }
    std::size_t bytes_held() const { return reader_->bytes_held(); }
    std::size_t peak_bytes_held() const { return reader_->peak_bytes_held(); }
    std::size_t max_inflight_bytes() const { return reader_->max_inflight_bytes(); }

private:
    std::unique_ptr<avro::Reader> reader_;
    std::vector<std::shared_ptr<void>> retired_;
};

// ---- archives for the fastavro path --------------------------------------------------------------------

class PyArchiveMembers {
public:
    PyArchiveMembers(const py::object& name, const py::object& path)
        : source_(fs_bytes(path), fs_bytes(name), std::size_t{64} << 20, std::size_t{64} << 20,
                  std::size_t{1} << 30) {}

    py::object next() {
        ArchiveMember m;
        bool got;
        {
            NativeSection section;
            got = source_.next(m);
        }
        if (!got) throw py::stop_iteration();
        py::object data = py::none();
        if (m.bytes) data = py::bytes(reinterpret_cast<const char*>(m.bytes->data()), m.bytes->size());
        return py::make_tuple(fs_str(m.name), data, m.error);
    }

private:
    ArchiveSource source_;
};

// ---- misc -----------------------------------------------------------------------------------------------

std::uint32_t py_crc32(const py::buffer& data, std::uint32_t crc) {
    py::buffer_info b = data.request();
    if (!PyBuffer_IsContiguous(b.view(), 'C')) throw py::value_error("crc32: buffer must be C-contiguous");
    const auto* p = static_cast<const std::uint8_t*>(b.ptr);
    const std::size_t n = static_cast<std::size_t>(b.size * b.itemsize);
    NativeSection section;
    return btsbot::crc32(crc, p, n);
}

// ---- _testing -------------------------------------------------------------------------------------------

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
    py::array_t<float> out({static_cast<py::ssize_t>(scratch.image.height), static_cast<py::ssize_t>(scratch.image.width)});
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

py::list py_tar_members(const py::object& path) {
    TarReader tar(fs_bytes(path));
    py::list out;
    TarReader::Entry e;
    while (tar.next(e)) out.append(py::make_tuple(fs_str(e.name), std::string(1, e.type), fs_str(e.linkname), e.size));
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "btsbot-fast native core (btsbot-v1): Avro alert reader, gzip/FITS cutouts -> triplets, 25 features";
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
        py::list columns, criteria, fields;
        for (const char* name : kCandidateColumnNames) columns.append(name);
        for (const char* name : kBtsCriterionNames) criteria.append(name);
        for (const char* name : kBtsFieldNames) fields.append(name);
        m.attr("CANDIDATE_COLUMNS") = py::tuple(columns);
        m.attr("BTS_CRITERIA") = py::tuple(criteria);
        m.attr("BTS_FIELDS") = py::tuple(fields);
        m.attr("BTS_UNKNOWN") = static_cast<int>(kBtsUnknown);
    }
    m.attr("inflater") = inflater_name();
    m.attr("avro_snappy") = avro::snappy_available();
    m.attr("AVRO_PROGRAM_MAGIC") = avro::kProgramMagic;
    m.attr("AVRO_PROGRAM_VERSION") = avro::kProgramVersion;

    m.def("preprocess", &py_preprocess, py::arg("science"), py::arg("template"), py::arg("difference"),
          py::arg("candidate"), py::arg("present"), py::arg("hist_offsets"), py::arg("hist_jd"),
          py::arg("hist_magpsf"), py::arg("hist_fid"), py::arg("hist_flags"), py::arg("triplets_out"),
          py::arg("metadata_out"), py::arg("bts_out"), py::arg("n_threads") = 0,
          "Cutouts + features + BTS filter verdicts of N alerts in one GIL-free pass on the thread pool; returns "
          "(status uint8[N], messages). Stamps per channel: a sequence of bytes/None, or (offsets int64[N+1], "
          "values uint8, valid uint8[N]) views of an Arrow binary column. Failed rows are zero-filled.");

    const avro::Limits defaults;
    const avro::ReaderOptions reader_defaults;
    py::class_<PyReader>(m, "Reader", "The native alert reader (csrc/avro/reader.hpp); prep/native_avro.py drives it.")
        .def(py::init<std::int64_t, std::int64_t, int, std::int64_t, std::int64_t, std::int64_t, std::int64_t>(),
             py::arg("max_block_bytes") = static_cast<std::int64_t>(defaults.max_block_bytes),
             py::arg("max_block_records") = defaults.max_block_records, py::arg("max_depth") = defaults.max_depth,
             py::arg("max_items") = defaults.max_items_per_record,
             py::arg("max_inflight_bytes") = static_cast<std::int64_t>(reader_defaults.max_inflight_bytes),
             py::arg("map_threshold") = static_cast<std::int64_t>(reader_defaults.map_threshold),
             py::arg("archive_read_ahead") = static_cast<std::int64_t>(reader_defaults.archive_read_ahead))
        .def("add_buffers", &PyReader::add_buffers, py::arg("names"), py::arg("buffers"))
        .def("add_files", &PyReader::add_files, py::arg("names"), py::arg("paths"))
        .def("add_archive", &PyReader::add_archive, py::arg("name"), py::arg("path"))
        .def("add_error", &PyReader::add_error, py::arg("name"), py::arg("detail"))
        .def("set_program", &PyReader::set_program, py::arg("schema"), py::arg("words"), py::arg("schema_name"))
        .def("next_batch", &PyReader::next_batch, py::arg("triplets"), py::arg("metadata"), py::arg("candid"),
             py::arg("info"), py::arg("bts"), py::arg("status"), py::arg("reason"), py::arg("flags"), py::arg("record_index"),
             py::arg("source"), py::arg("n_threads") = 0)
        .def_property_readonly("pending", &PyReader::pending)
        .def_property_readonly("bytes_held", &PyReader::bytes_held)
        .def_property_readonly("peak_bytes_held", &PyReader::peak_bytes_held)
        .def_property_readonly("max_inflight_bytes", &PyReader::max_inflight_bytes);

    py::class_<PyArchiveMembers>(m, "ArchiveMembers", "Alert members of a tar(.gz) archive: (name, bytes | None, error).")
        .def(py::init<const py::object&, const py::object&>(), py::arg("name"), py::arg("path"))
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", &PyArchiveMembers::next);

    m.def("crc32", &py_crc32, py::arg("data"), py::arg("crc") = 0,
          "CRC-32 of a contiguous buffer (zlib.crc32's), continuing from `crc`; GIL released.");
    m.def("crc32_combine", [](std::uint32_t crc1, std::uint32_t crc2, std::int64_t len2) {
              return static_cast<std::uint32_t>(crc32_combine64(crc1, crc2, static_cast<z_off64_t>(len2)));
          }, py::arg("crc1"), py::arg("crc2"), py::arg("len2"),
          "The CRC-32 of A + B from crc32(A), crc32(B) and len(B) (zlib's crc32_combine).");
    m.def("native_cpu_seconds", [] { return py::make_tuple(t_native_user, t_native_sys); },
          "(user, system) CPU seconds the calling thread has spent inside GIL-free native calls (GIL "
          "accounting: compare with resource.getrusage(RUSAGE_THREAD)).");
    m.def("available_cores", &available_cores, "Cores this process may run on (sched affinity).");

    py::module_ t = m.def_submodule("_testing", "Per-stage hooks for tests and benchmarks (not an API).");
    t.def("decode_stamp", &py_decode_stamp, py::arg("data"));
    t.def("normalise_channel", &py_normalise_channel, py::arg("image"));
    t.def("prepare_triplets", &py_prepare_triplets, py::arg("science"), py::arg("template"), py::arg("difference"),
          py::arg("out"), py::arg("n_threads") = 0);
    t.def("compute_features", &py_compute_features, py::arg("candidate"), py::arg("present"), py::arg("hist_offsets"),
          py::arg("hist_jd"), py::arg("hist_magpsf"), py::arg("hist_fid"), py::arg("hist_flags"), py::arg("out"));
    t.def("galactic_latitude", &galactic_latitude, py::arg("ra"), py::arg("dec"),
          "Galactic latitude (deg) of ICRS (ra, dec) in degrees, as the BTS filter computes it.");
    t.def("gunzip", [](const py::bytes& data) {
        std::string_view v(data);
        Inflater inflater;
        std::vector<std::uint8_t> out;
        std::string error;
        bool ok;
        {
            py::gil_scoped_release release;
            ok = inflater.gunzip(reinterpret_cast<const std::uint8_t*>(v.data()), v.size(), out, error);
        }
        if (!ok) throw py::value_error(error);
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
    }, py::arg("data"), "One stamp's gzip, inflated by the build's inflater (benchmarks).");
    t.def("load_program", [](const py::array& words) { (void)load_program_words(words); }, py::arg("words"));
    t.def("tar_members", &py_tar_members, py::arg("path"));
    t.def("pool_threads", [] { return ThreadPool::instance().size(); });
}
