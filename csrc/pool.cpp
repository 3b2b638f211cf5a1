#include "pool.hpp"

#include <cerrno>

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace btsbot {

// One call of run(): helpers may only enter `work` while the call is open; the caller closes it and
// waits for those inside. The call object outlives the caller's frame (queued helpers hold it).
struct ThreadPool::Call {
    const std::function<void()>* work = nullptr;
    std::mutex mutex;
    std::condition_variable done;
    unsigned inside = 0;
    bool closed = false;
    int nice = 0;  // the caller's scheduling niceness (Linux), which helpers take on while they help
};

namespace {

#if defined(__linux__)
// Linux keeps a niceness per thread; setpriority(PRIO_PROCESS, tid) addresses one thread.
int thread_nice() noexcept {
    errno = 0;
    const int n = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
    return errno == 0 ? n : 0;
}

// A helper joining a call from a lower-priority caller (a background preprocessing thread that yields
// the cores to the model: btsbot_fast/threads.py) lowers its own priority to match, else it would take
// the cores from the model the caller yields to. Only ever lowered: raising a priority back needs a
// privilege ordinary users lack, so a helper stays at the lowest priority it was asked for.
void adopt_nice(int nice) noexcept {
    thread_local int mine = thread_nice();
    if (nice > mine && setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice) == 0) mine = nice;
}
#else
int thread_nice() noexcept { return 0; }
void adopt_nice(int) noexcept {}
#endif

}  // namespace

unsigned available_cores() noexcept {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<unsigned>(n);
    }
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

unsigned resolve_threads(int requested, std::size_t n_items, std::size_t chunk) noexcept {
    unsigned n = requested > 0 ? static_cast<unsigned>(requested) : available_cores();
    const std::size_t chunks = chunk == 0 ? n_items : (n_items + chunk - 1) / chunk;
    if (chunks < n) n = static_cast<unsigned>(std::max<std::size_t>(chunks, 1));
    return std::max(n, 1u);
}

ThreadPool& ThreadPool::instance() {
    // Never destroyed: worker threads must not be joined from a static destructor at interpreter exit
    // (Python may already be finalising); the OS reclaims them with the process.
    static ThreadPool* pool = new ThreadPool();
    return *pool;
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

std::size_t ThreadPool::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return workers_.size();
}

void ThreadPool::grow(unsigned n) {
    // called with mutex_ held
    while (workers_.size() < n) {
        try {
            workers_.emplace_back([this] { worker_loop(); });
        } catch (...) {
            break;  // could not start a thread: the ones running (and the callers) share the work
        }
    }
}

void ThreadPool::worker_loop() {
    while (true) {
        std::shared_ptr<Call> call;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_ && queue_.empty()) return;
            call = std::move(queue_.front());
            queue_.pop_front();
        }
        {
            std::lock_guard<std::mutex> lock(call->mutex);
            if (call->closed) continue;  // the caller already finished the work
            ++call->inside;
        }
        adopt_nice(call->nice);
        (*call->work)();  // `work` handles its own exceptions (parallel_for's loop does)
        {
            std::lock_guard<std::mutex> lock(call->mutex);
            --call->inside;
        }
        call->done.notify_all();
    }
}

void ThreadPool::run(unsigned helpers, const std::function<void()>& work) {
    auto call = std::make_shared<Call>();
    call->work = &work;
    if (helpers > 0) {
        call->nice = thread_nice();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            grow(helpers);
            for (unsigned i = 0; i < helpers; ++i) queue_.push_back(call);
        }
        if (helpers == 1) {
            wake_.notify_one();
        } else {
            wake_.notify_all();
        }
    }
    work();
    std::unique_lock<std::mutex> lock(call->mutex);
    call->closed = true;
    call->done.wait(lock, [&] { return call->inside == 0; });
}

}  // namespace btsbot
