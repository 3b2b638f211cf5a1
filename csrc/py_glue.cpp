#include "py_glue.hpp"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>

namespace btsbot::python {

namespace {

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

}  // namespace

std::pair<double, double> native_cpu_seconds() { return {t_native_user, t_native_sys}; }

NativeSection::NativeSection() : start_(thread_cpu()) {}

NativeSection::~NativeSection() {
    const auto now = thread_cpu();
    t_native_user += now.first - start_.first;
    t_native_sys += now.second - start_.second;
}

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

void require_triplets_out(const py::array& out) {
    const py::ssize_t s = static_cast<py::ssize_t>(kStampSize);
    require_array<float>(out, "triplets out", "float32", {-1, s, s, static_cast<py::ssize_t>(kChannels)}, true);
}

py::tuple make_result(const std::vector<std::uint8_t>& status, const std::vector<std::string>& messages) {
    py::array_t<std::uint8_t> codes(static_cast<py::ssize_t>(status.size()));
    std::copy(status.begin(), status.end(), codes.mutable_data());
    py::list msgs(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) msgs[i] = py::str(messages[i]);
    return py::make_tuple(codes, msgs);
}

py::str lenient_str(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace");
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

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

}  // namespace btsbot::python
