// npu-whisper's XRT shim: a small C interface over the XRT C++ API (device, xclbin registration,
// hw_context, kernel, buffer objects with explicit group ids, run, runlist, sync, wait with a
// timeout). XRT's C API lacks hw_context and runlist, hence C++. Built as its own shared library
// (build.rs, feature `xrt`) and loaded at run time, so the npu-whisper binary never links XRT
// and still starts on machines without it.
//
// Every function catches all exceptions and reports them through `err` (a caller-owned buffer);
// handles are opaque pointers released with nw_release.

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_hw_context.h>
#include <xrt/xrt_kernel.h>
#include <xrt/experimental/xrt_kernel.h>
#include <xrt/detail/version-slim.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

enum class kind : uint32_t { device = 1, xclbin, context, kernel, bo, run, runlist };

struct handle {
  kind k;
  xrt::device device;
  xrt::xclbin xclbin;
  xrt::hw_context context;
  xrt::kernel kernel;
  xrt::bo bo;
  xrt::run run;
  xrt::runlist runlist;
  explicit handle(kind k) : k(k) {}
};

void set_error(char* err, size_t len, const std::string& what) {
  if (err && len) {
    std::strncpy(err, what.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}

template <typename F>
int guarded(char* err, size_t len, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    set_error(err, len, e.what());
  } catch (...) {
    set_error(err, len, "unknown C++ exception in XRT");
  }
  return -1;
}

handle* as(void* p, kind k) {
  auto* h = static_cast<handle*>(p);
  if (!h || h->k != k) throw std::runtime_error("npu-whisper xrt shim: wrong handle kind");
  return h;
}

}  // namespace

extern "C" {

// The XRT version these headers belong to, "2.25.00".
const char* nw_xrt_build_version() { return xrt_build_version; }

int nw_device_open(unsigned index, void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* h = new handle(kind::device);
    h->device = xrt::device(index);
    *out = h;
    return 0;
  });
}

// Loads and registers an xclbin; writes its 16-byte UUID.
int nw_register_xclbin(void* device, const char* path, uint8_t uuid[16], void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* d = as(device, kind::device);
    auto* h = new handle(kind::xclbin);
    h->xclbin = xrt::xclbin(std::string(path));
    d->device.register_xclbin(h->xclbin);
    auto id = h->xclbin.get_uuid();
    std::memcpy(uuid, id.get(), 16);
    *out = h;
    return 0;
  });
}

int nw_hw_context_create(void* device, const uint8_t uuid[16], void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* d = as(device, kind::device);
    auto* h = new handle(kind::context);
    h->context = xrt::hw_context(d->device, xrt::uuid(uuid));
    *out = h;
    return 0;
  });
}

int nw_kernel_open(void* context, const char* name, void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* c = as(context, kind::context);
    auto* h = new handle(kind::kernel);
    h->kernel = xrt::kernel(c->context, std::string(name));
    *out = h;
    return 0;
  });
}

// The memory group of argument `arg` (131071 marks a scalar slot: never allocate a buffer there).
int nw_kernel_group_id(void* kernel, int arg, char* err, size_t len) {
  return guarded(err, len, [&] { return static_cast<int>(as(kernel, kind::kernel)->kernel.group_id(arg)); });
}

// flags: 0 normal, 1 cacheable (instruction buffers), 2 host_only (data buffers).
int nw_bo_alloc(void* context, size_t bytes, int flags, int group, void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* c = as(context, kind::context);
    auto f = flags == 1 ? xrt::bo::flags::cacheable : flags == 2 ? xrt::bo::flags::host_only : xrt::bo::flags::normal;
    auto* h = new handle(kind::bo);
    h->bo = xrt::bo(c->context, bytes, f, static_cast<xrt::memory_group>(group));
    *out = h;
    return 0;
  });
}

void* nw_bo_map(void* bo) {
  try {
    return as(bo, kind::bo)->bo.map();
  } catch (...) {
    return nullptr;
  }
}

int nw_bo_sync(void* bo, int to_device, size_t bytes, size_t offset, char* err, size_t len) {
  return guarded(err, len, [&] {
    as(bo, kind::bo)->bo.sync(to_device ? XCL_BO_SYNC_BO_TO_DEVICE : XCL_BO_SYNC_BO_FROM_DEVICE, bytes, offset);
    return 0;
  });
}

// One run: arg0 opcode, arg1 instruction buffer, arg2 instruction words, arg3.. data buffers.
int nw_run_create(void* kernel, uint32_t opcode, void* instructions, uint32_t words, void** buffers, size_t count,
                  void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* k = as(kernel, kind::kernel);
    auto* h = new handle(kind::run);
    h->run = xrt::run(k->kernel);
    h->run.set_arg(0, opcode);
    h->run.set_arg(1, as(instructions, kind::bo)->bo);
    h->run.set_arg(2, words);
    for (size_t i = 0; i < count; ++i) h->run.set_arg(static_cast<int>(3 + i), as(buffers[i], kind::bo)->bo);
    *out = h;
    return 0;
  });
}

int nw_run_start(void* run, char* err, size_t len) {
  return guarded(err, len, [&] {
    as(run, kind::run)->run.start();
    return 0;
  });
}

// Returns the ert_cmd_state after waiting up to timeout_ms (0 = forever).
int nw_run_wait(void* run, unsigned timeout_ms, char* err, size_t len) {
  return guarded(err, len, [&] {
    return static_cast<int>(as(run, kind::run)->run.wait(std::chrono::milliseconds(timeout_ms)));
  });
}

int nw_runlist_create(void* context, void** out, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto* h = new handle(kind::runlist);
    h->runlist = xrt::runlist(as(context, kind::context)->context);
    *out = h;
    return 0;
  });
}

int nw_runlist_add(void* runlist, void* run, char* err, size_t len) {
  return guarded(err, len, [&] {
    as(runlist, kind::runlist)->runlist.add(as(run, kind::run)->run);
    return 0;
  });
}

int nw_runlist_execute(void* runlist, char* err, size_t len) {
  return guarded(err, len, [&] {
    as(runlist, kind::runlist)->runlist.execute();
    return 0;
  });
}

// 0 when all runs completed, 1 on timeout.
int nw_runlist_wait(void* runlist, unsigned timeout_ms, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto status = as(runlist, kind::runlist)->runlist.wait(std::chrono::milliseconds(timeout_ms));
    return status == std::cv_status::timeout ? 1 : 0;
  });
}

void nw_release(void* h) { delete static_cast<handle*>(h); }

}  // extern "C"
