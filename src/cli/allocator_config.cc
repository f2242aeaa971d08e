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
//   dirty_decay_ms:250     and muzzy_decay_ms:0: freed pages are returned within about a
//                          quarter of a second instead of ten, keeping the resident set near
//                          what is in use. With 1000 the gateway's RSS climbed from 46.7 to
//                          52.2 MiB over a 5-minute load before levelling off; with 250 it
//                          stayed at 46-48 MiB, at no CPU cost measurable in the gateway or
//                          receiver benchmarks (docs/performance.md, "Allocator"). 0 (return
//                          every page at once) halved the receiver's throughput.
//
// Thread safety: a constant.
#ifdef GENOPS_JEMALLOC
extern "C" {
// NOLINTNEXTLINE: jemalloc looks this symbol up by name.
extern const char* malloc_conf;
const char* malloc_conf = "narenas:2,background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0";
}
#endif
