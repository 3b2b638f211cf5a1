// A small parallel-for over items: workers pull fixed-size chunks from an atomic counter, so each worker
// can keep per-thread scratch buffers for all the items it handles. No exceptions cross threads: the
// first one thrown by a worker is re-thrown in the calling thread after all workers have joined.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace btsbot {

// n_threads <= 0 -> hardware concurrency; never more workers than chunks of work.
inline unsigned resolve_threads(int requested, std::size_t n_items, std::size_t chunk) {
    unsigned n = requested > 0 ? static_cast<unsigned>(requested) : std::thread::hardware_concurrency();
    if (n == 0) n = 1;
    const std::size_t chunks = chunk == 0 ? n_items : (n_items + chunk - 1) / chunk;
    if (chunks < n) n = static_cast<unsigned>(std::max<std::size_t>(chunks, 1));
    return n;
}

// Calls body(begin, end, scratch) over [0, n) in chunks; Scratch is default-constructed once per worker.
template <class Scratch, class Body>
void parallel_for(std::size_t n, int n_threads, std::size_t chunk, Body&& body) {
    if (n == 0) return;
    if (chunk == 0) chunk = 1;
    const unsigned n_workers = resolve_threads(n_threads, n, chunk);
    std::atomic<std::size_t> next{0};
    std::exception_ptr first_error;
    std::mutex error_mutex;

    auto worker = [&]() {
        try {
            Scratch scratch;
            while (true) {
                const std::size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
                if (begin >= n) break;
                body(begin, std::min(n, begin + chunk), scratch);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
            next.store(n, std::memory_order_relaxed);  // stop the others early
        }
    };

    std::vector<std::thread> threads;
    threads.reserve(n_workers > 0 ? n_workers - 1 : 0);
    for (unsigned t = 1; t < n_workers; ++t) {
        try {
            threads.emplace_back(worker);
        } catch (...) {
            break;  // could not start a thread: the ones running (and this one) share the work
        }
    }
    worker();  // the calling thread works too
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace btsbot
