// The thread pool every batch call runs on (csrc/pool.hpp): the cores it may use, its size, and the CPU
// time spent in GIL-free native calls (the GIL accounting of benchmarks/bench_throughput.py).
#include <pybind11/pybind11.h>

#include "pool.hpp"
#include "py_glue.hpp"
#include "register.hpp"

namespace btsbot::python {

void register_pool(py::module_& m, py::module_& testing) {
    m.def(
        "native_cpu_seconds",
        [] {
            const auto [user, sys] = native_cpu_seconds();
            return py::make_tuple(user, sys);
        },
        "(user, system) CPU seconds the calling thread has spent inside GIL-free native calls (GIL "
        "accounting: compare with resource.getrusage(RUSAGE_THREAD)).");
    m.def("available_cores", &available_cores, "Cores this process may run on (sched affinity).");

    testing.def("pool_threads", [] { return ThreadPool::instance().size(); });
}

}  // namespace btsbot::python
