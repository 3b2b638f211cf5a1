// One process-wide pool of worker threads, started on first use and reused by every batch call (threads
// are never started per call). parallel_for() runs a loop over items on the pool: the calling thread
// works too, helpers pull fixed-size chunks from a shared counter, so each participant keeps its own
// scratch buffers for all the items it handles. No exception crosses threads: the first one thrown is
// re-thrown in the caller once every helper has left the loop.
//
// Several callers may use the pool at once (two Python threads, two Scorers): each call only waits for
// the helpers that joined it; helpers still queued when the caller finishes skip the call.

#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace btsbot {

// Cores this process may run on (sched affinity where the platform has it), at least 1.
unsigned available_cores() noexcept;

class ThreadPool {
public:
    static ThreadPool& instance();

    // Runs `work` on the calling thread and on up to `helpers` pool threads at once; returns when every
    // participant has returned from `work`. `work` must be safe to call concurrently.
    void run(unsigned helpers, const std::function<void()>& work);

    // Worker threads started so far (the pool grows to the largest request, never shrinks).
    std::size_t size() const;

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

private:
    struct Call;
    ThreadPool() = default;
    ~ThreadPool();
    void grow(unsigned n);
    void worker_loop();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Call>> queue_;
    std::vector<std::thread> workers_;
    bool stopping_ = false;
};

// Threads for a call: requested > 0 as given, else every available core; never more than chunks of work.
unsigned resolve_threads(int requested, std::size_t n_items, std::size_t chunk) noexcept;

// Calls body(begin, end, scratch) over [0, n) in chunks of `chunk`; Scratch is default-constructed once
// per participating thread.
template <class Scratch, class Body>
void parallel_for(std::size_t n, int n_threads, std::size_t chunk, Body&& body) {
    if (n == 0) return;
    if (chunk == 0) chunk = 1;
    const unsigned participants = resolve_threads(n_threads, n, chunk);
    std::atomic<std::size_t> next{0};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto loop = [&]() {
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
    if (participants <= 1) {
        loop();
    } else {
        ThreadPool::instance().run(participants - 1, loop);
    }
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace btsbot
