// What every csrc/register_*.cpp shares: releasing the GIL around native work (with the CPU-time
// accounting of GIL-free sections), pinning Python byte strings while the GIL is released, checking
// numpy arrays (a wrong array is a programming error -> ValueError/TypeError), and text conversions.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cutout.hpp"

namespace btsbot::python {

namespace py = pybind11;

// ---- GIL accounting: CPU time this thread spends in GIL-free native sections --------------------------

// (user, system) CPU seconds the calling thread has spent inside NativeSections so far.
std::pair<double, double> native_cpu_seconds();

// Releases the GIL for a scope and adds the calling thread's CPU time in it (user, system) to the
// thread's native totals: what the GIL accounting of benchmarks/bench_throughput.py subtracts.
class NativeSection {
public:
    NativeSection();
    ~NativeSection();
    NativeSection(const NativeSection&) = delete;
    NativeSection& operator=(const NativeSection&) = delete;

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

// Pins `item` (bytes, a buffer, or None: b.present = false) into b; a buffer view is kept in p.views.
// `name` and `i` name the element in the TypeError for anything else.
void pin_one(const py::object& item, Blob& b, PinnedBlobs& p, const char* name, std::size_t i);
PinnedBlobs pin_blobs(const py::sequence& seq, const char* name);

// ---- arrays ----------------------------------------------------------------------------------------------

std::string shape_str(const py::array& a);

// Requires dtype T (native byte order), `shape` (-1: any extent), C order, and writeable if asked.
template <class T>
void require_array(const py::array& a, const char* name, const char* dtype_name, const std::vector<py::ssize_t>& shape,
                   bool writeable) {
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

// Triplets out: float32 (N, 63, 63, 3), C order, writeable.
void require_triplets_out(const py::array& out);

// (status uint8[N], messages list[str]) of a batch call.
py::tuple make_result(const std::vector<std::uint8_t>& status, const std::vector<std::string>& messages);

// ---- text ------------------------------------------------------------------------------------------------

// Messages may quote bytes of the input (e.g. an unknown codec name): never fail on bad UTF-8.
py::str lenient_str(const std::string& s);

// Source names are file-system text (os.fsencode'd by the caller): back with surrogateescape.
py::str fs_str(const std::string& s);

// A str, bytes or os.PathLike as file-system bytes (os.fsencode).
std::string fs_bytes(const py::handle& name_or_path);

}  // namespace btsbot::python
