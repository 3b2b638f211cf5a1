// The native alert reader (csrc/avro/reader.hpp) as `Reader`: inputs in, batches of rows out, the batch
// work GIL-free; and the schema-program constants prep/schema_program.py compiles against.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "avro/ocf.hpp"
#include "avro/program.hpp"
#include "avro/reader.hpp"
#include "features.hpp"
#include "py_glue.hpp"
#include "register.hpp"

namespace btsbot::python {

namespace {

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
                owner = std::shared_ptr<void>(
                    new std::pair<std::shared_ptr<void>, std::shared_ptr<BufferView>>(obj, view), [](void* q) {
                        delete static_cast<std::pair<std::shared_ptr<void>, std::shared_ptr<BufferView>>*>(q);
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

}  // namespace

void register_avro(py::module_& m, py::module_& testing) {
    m.attr("avro_snappy") = avro::snappy_available();
    m.attr("AVRO_PROGRAM_MAGIC") = avro::kProgramMagic;
    m.attr("AVRO_PROGRAM_VERSION") = avro::kProgramVersion;

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
             py::arg("info"), py::arg("bts"), py::arg("status"), py::arg("reason"), py::arg("flags"),
             py::arg("record_index"), py::arg("source"), py::arg("n_threads") = 0)
        .def_property_readonly("pending", &PyReader::pending)
        .def_property_readonly("bytes_held", &PyReader::bytes_held)
        .def_property_readonly("peak_bytes_held", &PyReader::peak_bytes_held)
        .def_property_readonly("max_inflight_bytes", &PyReader::max_inflight_bytes);

    testing.def(
        "load_program", [](const py::array& words) { (void)load_program_words(words); }, py::arg("words"));
}

}  // namespace btsbot::python
