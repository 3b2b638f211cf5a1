#include "archive.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace btsbot {

namespace {

bool ends_with_ci(const std::string& s, const char* suffix) {
    const std::size_t n = std::strlen(suffix);
    if (s.size() < n) return false;
    for (std::size_t i = 0; i < n; ++i) {
        char c = s[s.size() - n + i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != suffix[i]) return false;
    }
    return true;
}

[[noreturn]] void corrupt(const std::string& what) { throw std::runtime_error("corrupt archive: " + what); }

// tarfile.nts: the bytes up to the first NUL.
std::string nts(const std::uint8_t* p, std::size_t n) {
    const void* z = std::memchr(p, 0, n);
    return std::string(reinterpret_cast<const char*>(p), z ? static_cast<const std::uint8_t*>(z) - p : n);
}

// tarfile.nti: octal (NUL/space padded) or GNU base-256.
std::uint64_t nti(const std::uint8_t* p, std::size_t n, const char* field) {
    if (p[0] == 0x80 || p[0] == 0xff) {
        if (p[0] == 0xff) corrupt(std::string("negative ") + field);
        std::uint64_t v = 0;
        for (std::size_t i = 1; i < n; ++i) {
            if (v >> 56) corrupt(std::string(field) + " too large");
            v = (v << 8) | p[i];
        }
        return v;
    }
    std::string s = nts(p, n);
    const std::size_t b = s.find_first_not_of(' ');
    const std::size_t e = s.find_last_not_of(' ');
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '7') corrupt(std::string("invalid ") + field + " field");
        if (v >> 60) corrupt(std::string(field) + " too large");
        v = v * 8 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

bool checksum_ok(const std::uint8_t* h) {
    const std::uint64_t want = nti(h + 148, 8, "checksum");
    std::uint64_t unsigned_sum = 0;
    std::int64_t signed_sum = 0;
    for (std::size_t i = 0; i < 512; ++i) {
        const std::uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
        unsigned_sum += c;
        signed_sum += static_cast<std::int8_t>(c);
    }
    return want == unsigned_sum || static_cast<std::int64_t>(want) == signed_sum;
}

// A member whose data is its contents: regular file ('0', old '\0') or contiguous file ('7').
bool is_regular(char type) { return type == '0' || type == '\0' || type == '7'; }

// The current member's data, whole.
SharedBytes read_member(TarReader& tar, std::uint64_t size) {
    auto bytes = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(size));
    tar.read_data(bytes->data(), bytes->size());
    return bytes;
}

const char* member_kind(char type) {
    switch (type) {
        case '2': return "a symbolic link";
        case '3': return "a character device";
        case '4': return "a block device";
        case '6': return "a fifo";
        case 'S': return "a sparse file";
        case '5': return "a directory";
        default: return "not a regular file";
    }
}

}  // namespace

bool is_alert_name(const std::string& name) noexcept { return ends_with_ci(name, ".avro"); }

std::string os_error_text(int err, const std::string& path) {
    std::string quoted;
    quoted.reserve(path.size() + 2);
    quoted += '\'';
    for (char c : path) {
        if (c == '\'' || c == '\\') quoted += '\\';
        quoted += c;
    }
    quoted += '\'';
    return "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": " + quoted;
}

// ---- files --------------------------------------------------------------------------------------------

FileBytes::~FileBytes() { reset(); }

FileBytes& FileBytes::operator=(FileBytes&& o) noexcept {
    if (this != &o) {
        reset();
        bytes_ = std::move(o.bytes_);
        data_ = o.data_;
        size_ = o.size_;
        mapped_ = o.mapped_;
        o.data_ = nullptr;
        o.size_ = 0;
        o.mapped_ = false;
    }
    return *this;
}

void FileBytes::reset() noexcept {
    if (mapped_ && data_ != nullptr) munmap(const_cast<std::uint8_t*>(data_), size_);
    bytes_.reset();
    data_ = nullptr;
    size_ = 0;
    mapped_ = false;
}

int open_readonly(const std::string& path, std::size_t& size, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = os_error_text(errno, path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        const int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        error = os_error_text(err, path);
        return -1;
    }
    size = static_cast<std::size_t>(st.st_size);
    return fd;
}

void close_fd(int fd) noexcept { ::close(fd); }

bool FileBytes::open_fd(int fd, const std::string& path, std::size_t size, bool map, std::string& error) {
    if (map) {
        void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) {
            error = os_error_text(errno, path);
            return false;
        }
        madvise(p, size, MADV_SEQUENTIAL);
        data_ = static_cast<const std::uint8_t*>(p);
        size_ = size;
        mapped_ = true;
        return true;
    }
    // exactly the size fstat gave: a file that changes while it is read is read up to that size
    bytes_.reset(new std::uint8_t[size > 0 ? size : 1]);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t r = ::read(fd, bytes_.get() + done, size - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            error = os_error_text(errno, path);
            ::close(fd);
            bytes_.reset();
            return false;
        }
        if (r == 0) break;
        done += static_cast<std::size_t>(r);
    }
    ::close(fd);
    data_ = bytes_.get();
    size_ = done;
    return true;
}

// ---- tar ----------------------------------------------------------------------------------------------

struct TarReader::Stream {
    int fd = -1;
    std::string path;
    bool gzip = false;
    bool eof_in = false;
    bool z_done = false;
    z_stream zs{};
    bool z_init = false;
    std::vector<std::uint8_t> in = std::vector<std::uint8_t>(1 << 18);

    ~Stream() {
        if (z_init) inflateEnd(&zs);
        if (fd >= 0) ::close(fd);
    }

    std::size_t raw_read(std::uint8_t* out, std::size_t n) {
        while (true) {
            const ssize_t r = ::read(fd, out, n);
            if (r >= 0) return static_cast<std::size_t>(r);
            if (errno != EINTR) throw std::runtime_error(os_error_text(errno, path));
        }
    }

    // Up to n bytes of the (decompressed) stream; 0 at its end.
    std::size_t read(std::uint8_t* out, std::size_t n) {
        if (!gzip) return raw_read(out, n);
        std::size_t produced = 0;
        while (produced < n && !z_done) {
            if (zs.avail_in == 0 && !eof_in) {
                const std::size_t got = raw_read(in.data(), in.size());
                if (got == 0) eof_in = true;
                zs.next_in = in.data();
                zs.avail_in = static_cast<uInt>(got);
            }
            zs.next_out = out + produced;
            zs.avail_out = static_cast<uInt>(std::min<std::size_t>(n - produced, 1u << 30));
            const uInt before = zs.avail_out;
            const int rc = inflate(&zs, Z_NO_FLUSH);
            produced += before - zs.avail_out;
            if (rc == Z_STREAM_END) {
                // concatenated gzip members (like `gzip -d`); trailing zero bytes are padding
                while (true) {
                    while (zs.avail_in > 0 && *zs.next_in == 0) {
                        ++zs.next_in;
                        --zs.avail_in;
                    }
                    if (zs.avail_in > 0 || eof_in) break;
                    const std::size_t got = raw_read(in.data(), in.size());
                    if (got == 0) eof_in = true;
                    zs.next_in = in.data();
                    zs.avail_in = static_cast<uInt>(got);
                }
                if (zs.avail_in == 0) {
                    z_done = true;
                } else if (inflateReset(&zs) != Z_OK) {
                    corrupt("gzip reset failed");
                }
                continue;
            }
            if (rc == Z_BUF_ERROR && eof_in && zs.avail_in == 0) corrupt("truncated gzip stream");
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                corrupt(std::string("bad gzip data: ") + (zs.msg != nullptr ? zs.msg : "inflate error"));
            }
        }
        return produced;
    }
};

TarReader::TarReader(const std::string& path) : stream_(new Stream()) {
    Stream& s = *stream_;
    s.path = path;
    std::size_t size = 0;
    std::string error;
    s.fd = open_readonly(path, size, error);
    if (s.fd < 0) throw std::runtime_error(error);
    std::uint8_t magic[2] = {0, 0};
    const std::size_t got = s.raw_read(magic, 2);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        s.gzip = true;
        if (inflateInit2(&s.zs, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("out of memory");
        s.z_init = true;
        s.in[0] = magic[0];
        s.in[1] = magic[1];
        s.zs.next_in = s.in.data();
        s.zs.avail_in = 2;
    } else {
        if (lseek(s.fd, 0, SEEK_SET) != 0) throw std::runtime_error(os_error_text(errno, path));
    }
}

TarReader::~TarReader() = default;

void TarReader::read_exact(std::uint8_t* out, std::size_t n, bool at_header) {
    std::size_t done = 0;
    while (done < n) {
        const std::size_t got = stream_->read(out + done, n - done);
        if (got == 0) {
            if (at_header && done == 0) throw std::out_of_range("end");
            corrupt(at_header ? "truncated header" : "unexpected end of data");
        }
        done += got;
    }
}

void TarReader::skip(std::uint64_t n) {
    std::uint8_t buf[65536];
    while (n > 0) {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof buf));
        read_exact(buf, k, false);
        n -= k;
    }
}

void TarReader::read_data(std::uint8_t* out, std::size_t n) {
    if (n > data_left_) n = static_cast<std::size_t>(data_left_);
    read_exact(out, n, false);
    data_left_ -= n;
}

void TarReader::skip_data() {
    skip(data_left_);
    data_left_ = 0;
}

bool TarReader::next(Entry& entry) {
    skip(data_left_ + padding_);
    data_left_ = padding_ = 0;
    std::string long_name, long_link;
    bool have_long_name = false, have_long_link = false;
    bool have_pax_size = false;
    std::uint64_t pax_size = 0;
    std::uint8_t h[512];
    while (true) {
        try {
            read_exact(h, 512, true);
        } catch (const std::out_of_range&) {
            return false;  // the stream ends at a header boundary: the end (as tarfile)
        }
        if (std::all_of(h, h + 512, [](std::uint8_t c) { return c == 0; })) return false;  // end-of-archive block
        if (!checksum_ok(h)) corrupt("bad header checksum");
        Entry e;
        e.type = static_cast<char>(h[156]);
        e.name = nts(h, 100);
        e.linkname = nts(h + 157, 100);
        e.size = nti(h + 124, 12, "size");
        const std::string prefix = nts(h + 345, 155);
        const bool gnu_type = e.type == 'L' || e.type == 'K' || e.type == 'S';
        if (e.type == '\0' && !e.name.empty() && e.name.back() == '/') e.type = '5';  // old V7 directory
        if (e.type == '5') {
            while (!e.name.empty() && e.name.back() == '/') e.name.pop_back();
        }
        if (!prefix.empty() && !gnu_type) e.name = prefix + "/" + e.name;
        const std::uint64_t padded = (e.size + 511) / 512 * 512;
        if (e.type == 'L' || e.type == 'K' || e.type == 'x' || e.type == 'g') {
            if (e.size > (std::uint64_t{1} << 24)) corrupt("extended header too large");
            std::vector<std::uint8_t> data(static_cast<std::size_t>(e.size));
            read_exact(data.data(), data.size(), false);
            skip(padded - e.size);
            if (e.type == 'L') {
                long_name = nts(data.data(), data.size());
                have_long_name = true;
            } else if (e.type == 'K') {
                long_link = nts(data.data(), data.size());
                have_long_link = true;
            } else if (e.type == 'x') {  // pax records "%d %s=%s\n"
                std::size_t pos = 0;
                while (pos < data.size()) {
                    std::size_t sp = pos;
                    while (sp < data.size() && data[sp] != ' ') ++sp;
                    std::uint64_t len = 0;
                    for (std::size_t k = pos; k < sp; ++k) {
                        if (data[k] < '0' || data[k] > '9') corrupt("invalid pax header");
                        len = len * 10 + (data[k] - '0');
                    }
                    if (sp >= data.size() || len < 3 || pos + len > data.size()) corrupt("invalid pax header");
                    const std::string rec(reinterpret_cast<const char*>(data.data()) + sp + 1, pos + len - sp - 2);
                    const std::size_t eq = rec.find('=');
                    if (eq != std::string::npos) {
                        const std::string key = rec.substr(0, eq), value = rec.substr(eq + 1);
                        if (key == "path") {
                            long_name = value;
                            have_long_name = true;
                        } else if (key == "linkpath") {
                            long_link = value;
                            have_long_link = true;
                        } else if (key == "size") {
                            pax_size = 0;
                            for (char c : value) {
                                if (c < '0' || c > '9') corrupt("invalid pax size");
                                pax_size = pax_size * 10 + static_cast<std::uint64_t>(c - '0');
                            }
                            have_pax_size = true;
                        }
                    }
                    pos += len;
                }
            }
            continue;  // 'g' (global pax) is read and ignored, as tarfile does for names
        }
        if (have_long_name) e.name = long_name;
        if (have_long_link) e.linkname = long_link;
        if (have_pax_size) e.size = pax_size;
        // only regular members carry data in the archive (links and devices have none)
        const bool has_data =
            !(e.type == '1' || e.type == '2' || e.type == '3' || e.type == '4' || e.type == '5' || e.type == '6');
        data_left_ = has_data ? e.size : 0;
        padding_ = has_data ? (e.size + 511) / 512 * 512 - e.size : 0;
        entry = std::move(e);
        return true;
    }
}

// ---- archives as member queues ------------------------------------------------------------------------

ArchiveSource::ArchiveSource(std::string path, std::string display_name, std::size_t read_ahead, std::size_t link_cache,
                             std::size_t max_member)
    : path_(std::move(path)),
      display_(std::move(display_name)),
      read_ahead_(read_ahead),
      link_cache_limit_(link_cache),
      max_member_(max_member) {}

ArchiveSource::~ArchiveSource() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool ArchiveSource::next(ArchiveMember& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) {
        started_ = true;
        thread_ = std::thread([this] { produce(); });
    }
    changed_.wait(lock, [this] { return !queue_.empty() || finished_; });
    if (queue_.empty()) return false;
    out = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= out.bytes ? out.bytes->size() : 0;
    lock.unlock();
    changed_.notify_all();
    return true;
}

bool ArchiveSource::push(ArchiveMember&& m) {
    const std::size_t n = m.bytes ? m.bytes->size() : 0;
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || queue_.empty() || queued_bytes_ + n <= read_ahead_; });
    if (stopping_) return false;
    queued_bytes_ += n;
    queue_.push_back(std::move(m));
    lock.unlock();
    changed_.notify_all();
    return true;
}

SharedBytes ArchiveSource::find_linked(const std::string& target, std::string& error) {
    const auto it = recent_index_.find(target);
    if (it != recent_index_.end()) return it->second->second;
    // not among the recent members: read the archive again up to the target
    try {
        TarReader again(path_);
        TarReader::Entry e;
        while (again.next(e)) {
            if (e.name != target) continue;
            if (e.type == '1') return find_linked(e.linkname, error);
            if (!is_regular(e.type)) break;
            if (e.size > max_member_) {
                error = "archive member is a hard link to '" + target + "', which is too large (" +
                        std::to_string(e.size) + " bytes)";
                return nullptr;
            }
            return read_member(again, e.size);
        }
    } catch (const std::exception& ex) {
        error = std::string("archive member is a hard link to '") + target + "', which cannot be read: " + ex.what();
        return nullptr;
    }
    error = "archive member is a hard link to '" + target + "', which is not a file before it in the archive";
    return nullptr;
}

void ArchiveSource::produce() {
    try {
        TarReader tar(path_);
        TarReader::Entry e;
        while (true) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (stopping_) break;
            }
            if (!tar.next(e)) break;
            const bool regular = is_regular(e.type);
            if (!is_alert_name(e.name)) continue;  // not an alert file (its data is skipped by next())
            ArchiveMember m;
            m.name = display_ + "::" + e.name;
            if ((regular || e.type == '1') && e.size > max_member_) {
                m.error = "archive member too large (" + std::to_string(e.size) + " bytes; the reader holds at most " +
                          std::to_string(max_member_) + ")";
            } else if (regular) {
                m.bytes = read_member(tar, e.size);
                const std::size_t size = m.bytes->size();
                if (size <= link_cache_limit_) {  // remember it: later hard links may point here
                    recent_.emplace_front(e.name, m.bytes);
                    auto old = recent_index_.find(e.name);
                    if (old != recent_index_.end()) {
                        recent_bytes_ -= old->second->second->size();
                        recent_.erase(old->second);
                    }
                    recent_index_[e.name] = recent_.begin();
                    recent_bytes_ += size;
                    while (recent_bytes_ > link_cache_limit_ && !recent_.empty()) {
                        recent_bytes_ -= recent_.back().second->size();
                        recent_index_.erase(recent_.back().first);
                        recent_.pop_back();
                    }
                }
            } else if (e.type == '1') {
                m.bytes = find_linked(e.linkname, m.error);
            } else {
                m.error = std::string("archive member is ") + member_kind(e.type);
                if (e.type == '2') m.error += " to '" + e.linkname + "'";
                m.error += ", not a file";
            }
            if (!push(std::move(m))) return;
        }
    } catch (const std::exception& ex) {
        ArchiveMember m;
        m.name = display_;
        m.error = ex.what();
        push(std::move(m));
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_ = true;
    }
    changed_.notify_all();
}

}  // namespace btsbot
