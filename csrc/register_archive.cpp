// tar(.gz) archives for the fastavro path: `ArchiveMembers` yields each alert member (reading is
// GIL-free), and the tar reader's entries for tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <string>

#include "archive.hpp"
#include "py_glue.hpp"
#include "register.hpp"

namespace btsbot::python {

namespace {

class PyArchiveMembers {
public:
    PyArchiveMembers(const py::object& name, const py::object& path)
        : source_(fs_bytes(path), fs_bytes(name), std::size_t{64} << 20, std::size_t{64} << 20, std::size_t{1} << 30) {}

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

py::list py_tar_members(const py::object& path) {
    TarReader tar(fs_bytes(path));
    py::list out;
    TarReader::Entry e;
    while (tar.next(e)) out.append(py::make_tuple(fs_str(e.name), std::string(1, e.type), fs_str(e.linkname), e.size));
    return out;
}

}  // namespace

void register_archive(py::module_& m, py::module_& testing) {
    py::class_<PyArchiveMembers>(m, "ArchiveMembers",
                                 "Alert members of a tar(.gz) archive: (name, bytes | None, error).")
        .def(py::init<const py::object&, const py::object&>(), py::arg("name"), py::arg("path"))
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", &PyArchiveMembers::next);

    testing.def("tar_members", &py_tar_members, py::arg("path"));
}

}  // namespace btsbot::python
