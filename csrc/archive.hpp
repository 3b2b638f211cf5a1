// Input bytes for the readers: whole files (read, or memory-mapped when large) and the members of tar
// archives (plain or gzip-compressed, read as a stream and never extracted).
//
// Tar: POSIX ustar/pax and GNU (long names 'L'/'K', base-256 sizes) headers, as Python's tarfile reads
// them (member names are tarfile's TarInfo.name). Why not a library: tarfile costs ~70 µs of Python per
// member (a night is 10^5-10^6 members) and libarchive would be one more required system library; the
// format needs ~300 lines here, tested against tarfile (tests/test_readers.py).
//
// Members named *.avro become alert members. A hard link to an earlier member is followed (its bytes come
// from a cache of recent members, else from a second pass over the archive up to that member); a
// symbolic link, device, fifo or other non-file member named *.avro becomes an error member naming it,
// never a silent skip. Other names (readme.txt, directories) are passed over.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace btsbot {

using SharedBytes = std::shared_ptr<const std::vector<std::uint8_t>>;

// Whether a file name is an alert file / a tar archive (case-insensitive suffixes, as io/paths.py).
bool is_alert_name(const std::string& name) noexcept;

// A read failure worded like Python's OSError ("[Errno 2] No such file or directory: 'path'").
std::string os_error_text(int err, const std::string& path);

// A whole file's bytes: read into memory, or mapped (files above a size threshold; pages come and go
// with the OS page cache).
class FileBytes {
public:
    FileBytes() = default;
    ~FileBytes();
    FileBytes(FileBytes&& o) noexcept { *this = std::move(o); }
    FileBytes& operator=(FileBytes&& o) noexcept;
    FileBytes(const FileBytes&) = delete;
    FileBytes& operator=(const FileBytes&) = delete;

    // Opens the file and reads it (size <= map_threshold) or maps it. `admit(size)` is asked first for a
    // file to be read into memory: false leaves it unread (returns true, `deferred` set). Returns false
    // with OSError-style text when the file cannot be read.
    template <class Admit>
    bool open(const std::string& path, std::size_t map_threshold, Admit&& admit, bool& deferred, std::string& error);

    const std::uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool mapped() const noexcept { return mapped_; }
    void reset() noexcept;

private:
    bool open_fd(int fd, const std::string& path, std::size_t size, bool map, std::string& error);
    std::unique_ptr<std::uint8_t[]> bytes_;
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
};

int open_readonly(const std::string& path, std::size_t& size, std::string& error);  // -1 on failure
void close_fd(int fd) noexcept;

template <class Admit>
bool FileBytes::open(const std::string& path, std::size_t map_threshold, Admit&& admit, bool& deferred,
                     std::string& error) {
    reset();
    deferred = false;
    std::size_t size = 0;
    const int fd = open_readonly(path, size, error);
    if (fd < 0) return false;
    const bool map = size > map_threshold;
    if (!map && !admit(size)) {
        close_fd(fd);
        deferred = true;
        return true;
    }
    return open_fd(fd, path, size, map, error);
}

// One archive member for the reader.
struct ArchiveMember {
    std::string name;   // "<archive name>::<member name>"
    SharedBytes bytes;  // the member's contents (null for an error member)
    std::string error;  // why it cannot be read (an error row), or ""
};

// Sequential tar member reader over a (possibly gzip-compressed) file. Not thread-safe.
class TarReader {
public:
    struct Entry {
        std::string name;      // TarInfo.name
        std::string linkname;  // TarInfo.linkname
        char type = '0';
        std::uint64_t size = 0;
    };

    explicit TarReader(const std::string& path);
    ~TarReader();
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    // The next member header, its data not read yet; false at the end of the archive. Throws
    // std::runtime_error("corrupt archive: ...") on damage, or the OS error text on I/O errors.
    bool next(Entry& entry);
    // The current member's data (call at most once per member, before next()).
    void read_data(std::uint8_t* out, std::size_t n);
    void skip_data();

private:
    struct Stream;
    std::unique_ptr<Stream> stream_;
    std::uint64_t data_left_ = 0;  // of the current member
    std::uint64_t padding_ = 0;    // after it
    void read_exact(std::uint8_t* out, std::size_t n, bool at_header);
    void skip(std::uint64_t n);
};

// An archive as a queue of members, read ahead on a thread of its own (at most `read_ahead` bytes of
// members waiting, and at least one), so that inflating a .tar.gz overlaps with preprocessing.
class ArchiveSource {
public:
    // Members larger than `max_member` bytes become error members (never read into memory).
    ArchiveSource(std::string path, std::string display_name, std::size_t read_ahead, std::size_t link_cache,
                  std::size_t max_member);
    ~ArchiveSource();
    ArchiveSource(const ArchiveSource&) = delete;
    ArchiveSource& operator=(const ArchiveSource&) = delete;

    // The next member (blocks until one is read); false at the end. A damaged or unreadable archive ends
    // with one error member named after the archive itself.
    bool next(ArchiveMember& out);

private:
    void produce();
    bool push(ArchiveMember&& m);  // false when stopping
    SharedBytes find_linked(const std::string& target, std::string& error);

    std::string path_, display_;
    std::size_t read_ahead_, link_cache_limit_, max_member_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<ArchiveMember> queue_;
    std::size_t queued_bytes_ = 0;
    bool started_ = false, finished_ = false, stopping_ = false;
    // recent alert members by name (hard-link targets), bounded by bytes
    std::list<std::pair<std::string, SharedBytes>> recent_;
    std::unordered_map<std::string, std::list<std::pair<std::string, SharedBytes>>::iterator> recent_index_;
    std::size_t recent_bytes_ = 0;
};

}  // namespace btsbot
