// TempDir: a fresh private directory for one example's output (span files, audit logs),
// removed when the example ends. A failed check exits without unwinding, so the directory of a
// failed run is kept for inspection.
//
// Example:
//   genops::examples::TempDir dir("manual_instrumentation");
//   config.file_path = (dir.path() / "spans.jsonl").string();
//
// Thread safety: thread-compatible (a value owned by one thread).
#ifndef GENOPS_EXAMPLES_SUPPORT_TEMP_DIR_H_
#define GENOPS_EXAMPLES_SUPPORT_TEMP_DIR_H_

#include <filesystem>
#include <string_view>

namespace genops::examples {

class TempDir {
 public:
  // Creates <system temp dir>/genops-example-<name>-XXXXXX. Ends the process with a
  // FAILED line when the directory cannot be created.
  explicit TempDir(std::string_view name);
  ~TempDir();  // removes the directory and everything in it
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_TEMP_DIR_H_
