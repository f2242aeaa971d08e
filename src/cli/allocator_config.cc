// The allocator settings of the genops binary, when it is linked with jemalloc (the CMake
// option GENOPS_JEMALLOC; see docs/performance.md, "Allocator").
//
// jemalloc reads `malloc_conf` once, at its first allocation; the MALLOC_CONF environment
// variable is read after it and wins, so an operator can still tune a deployment.
//   narenas:2              one arena per core of the reference machine instead of 4 per
//                          core: the daemon runs dozens of threads (io loops, governance and
//                          settlement pools, receiver workers, export), and every arena keeps
//                          its own slack; thread caches absorb the contention.
//   background_thread:true unused pages go back to the kernel from jemalloc's own thread,
//                          not from the threads serving requests.
//   dirty_decay_ms:1000    and muzzy_decay_ms:0: freed pages are returned after about a
//                          second instead of ten, keeping the resident set near what is in
//                          use at steady load.
//
// Thread safety: a constant.
#ifdef GENOPS_JEMALLOC
extern "C" {
// NOLINTNEXTLINE: jemalloc looks this symbol up by name.
extern const char* malloc_conf;
const char* malloc_conf = "narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif
