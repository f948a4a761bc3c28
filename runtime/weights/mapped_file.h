// MappedFile: a whole file mapped read-only into memory (mmap), unmapped
// when the last owner lets go. Checkpoint loaders hand a shared_ptr to it to
// every Tensor viewing its bytes, so the mapping outlives each view, and
// weights are paged in from the page cache on first use instead of copied.
#ifndef HEADROOM_RUNTIME_WEIGHTS_MAPPED_FILE_H_
#define HEADROOM_RUNTIME_WEIGHTS_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace headroom::runtime {

class MappedFile {
 public:
  // NotFound naming `path` when it cannot be opened or mapped. An empty
  // file maps to size() == 0 and data() == nullptr.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(
      const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  // Drops the pages wholly inside [begin, begin + bytes) from this process's
  // resident set (madvise MADV_DONTNEED; they stay in the page cache and are
  // read again if touched). Loaders call it after converting a tensor, so
  // converting a checkpoint to another dtype does not hold the source's
  // pages as well as the result's. The mapping is read-only and private, so
  // nothing is lost.
  void DropPages(const void* begin, uint64_t bytes) const;
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_MAPPED_FILE_H_
