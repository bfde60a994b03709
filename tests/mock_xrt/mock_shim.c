/* A stand-in for npu-whisper's XRT shim with the same C interface, for testing the host path
 * without XRT or an NPU. It logs every allocation, group-id query, sync and run to
 * $MOCK_XRT_LOG, and executes the `add` kernel (arg3 f32 += arg4 f32) when a run starts.
 * A runlist executes its runs in order when executed. Knobs: MOCK_XRT_SCALAR_ARG=i makes
 * group_id(i) answer 131071 (a scalar slot); MOCK_XRT_WAIT_STATE=n makes waits return ERT state n
 * (8 = timeout); MOCK_XRT_NO_RUNLIST=1 makes runlist creation fail (an XRT without runlists). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int kind; size_t size; void *mem; } handle;
typedef struct { int kind; void *bufs[8]; size_t n; } run_t;
typedef struct { int kind; void *runs[64]; size_t n; } runlist_t;

static void logf_(const char *fmt, long a, long b, long c) {
  const char *path = getenv("MOCK_XRT_LOG");
  if (!path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, fmt, a, b, c);
  fputc('\n', f);
  fclose(f);
}

static void *new_handle(int kind) { handle *h = calloc(1, sizeof(handle)); h->kind = kind; return h; }

const char *nw_xrt_build_version(void) { return "mock"; }
int nw_device_open(unsigned i, void **out, char *e, size_t l) { (void)i; (void)e; (void)l; *out = new_handle(1); return 0; }
int nw_register_xclbin(void *d, const char *p, uint8_t u[16], void **out, char *e, size_t l) {
  (void)d; (void)e; (void)l; (void)p; memset(u, 7, 16); *out = new_handle(2); return 0;
}
int nw_hw_context_create(void *d, const uint8_t u[16], void **out, char *e, size_t l) {
  (void)d; (void)u; (void)e; (void)l; *out = new_handle(3); return 0;
}
int nw_kernel_open(void *c, const char *name, void **out, char *e, size_t l) {
  (void)c; (void)name; (void)e; (void)l; *out = new_handle(4); return 0;
}
int nw_kernel_group_id(void *k, int arg, char *e, size_t l) {
  (void)k; (void)e; (void)l;
  const char *scalar = getenv("MOCK_XRT_SCALAR_ARG");
  int g = (arg == 0 || arg == 2 || (scalar && atoi(scalar) == arg)) ? 0x1FFFF : 100 + arg;
  logf_("group_id arg=%ld -> %ld%.0ld", arg, g, 0);
  return g;
}
int nw_bo_alloc(void *c, size_t bytes, int flags, int group, void **out, char *e, size_t l) {
  (void)c; (void)e; (void)l;
  handle *h = new_handle(5);
  h->size = bytes;
  h->mem = calloc(1, bytes);
  logf_("alloc bytes=%ld flags=%ld group=%ld", (long)bytes, flags, group);
  *out = h;
  return 0;
}
void *nw_bo_map(void *bo) { return ((handle *)bo)->mem; }
int nw_bo_sync(void *bo, int to_device, size_t bytes, size_t off, char *e, size_t l) {
  (void)bo; (void)e; (void)l;
  logf_("sync to_device=%ld bytes=%ld offset=%ld", to_device, (long)bytes, (long)off);
  return 0;
}
int nw_run_create(void *k, uint32_t opcode, void *instr, uint32_t words, void **bufs, size_t n, void **out, char *e,
                  size_t l) {
  (void)k; (void)instr; (void)e; (void)l;
  run_t *r = calloc(1, sizeof(run_t));
  r->kind = 6;
  r->n = n < 8 ? n : 8;
  for (size_t i = 0; i < r->n; ++i) r->bufs[i] = bufs[i];
  logf_("run opcode=%ld words=%ld buffers=%ld", opcode, words, (long)n);
  *out = r;
  return 0;
}
int nw_run_start(void *run, char *e, size_t l) {
  (void)e; (void)l;
  run_t *r = run;
  if (r->n == 2) { /* add: a += b */
    handle *a = r->bufs[0], *b = r->bufs[1];
    float *x = a->mem;
    const float *y = b->mem;
    for (size_t i = 0; i < a->size / 4; ++i) x[i] += y[i];
  }
  return 0;
}
int nw_run_wait(void *run, unsigned timeout, char *e, size_t l) {
  (void)run; (void)e; (void)l;
  const char *state = getenv("MOCK_XRT_WAIT_STATE");
  logf_("wait timeout_ms=%ld%.0ld%.0ld", timeout, 0, 0);
  return state ? atoi(state) : 4;
}
int nw_runlist_create(void *c, void **out, char *e, size_t l) {
  (void)c;
  if (getenv("MOCK_XRT_NO_RUNLIST")) {
    snprintf(e, l, "runlists are not supported by this XRT");
    return -1;
  }
  runlist_t *rl = calloc(1, sizeof(runlist_t));
  rl->kind = 7;
  *out = rl;
  logf_("runlist create%.0ld%.0ld%.0ld", 0, 0, 0);
  return 0;
}
int nw_runlist_add(void *list, void *run, char *e, size_t l) {
  runlist_t *rl = list;
  if (rl->n == 64) { snprintf(e, l, "runlist full"); return -1; }
  rl->runs[rl->n++] = run;
  logf_("runlist add %ld%.0ld%.0ld", (long)rl->n, 0, 0);
  return 0;
}
int nw_runlist_execute(void *list, char *e, size_t l) {
  runlist_t *rl = list;
  logf_("runlist execute runs=%ld%.0ld%.0ld", (long)rl->n, 0, 0);
  for (size_t i = 0; i < rl->n; ++i) nw_run_start(rl->runs[i], e, l);
  return 0;
}
int nw_runlist_wait(void *rl, unsigned t, char *e, size_t l) {
  (void)rl; (void)e; (void)l;
  logf_("runlist wait timeout_ms=%ld%.0ld%.0ld", t, 0, 0);
  return getenv("MOCK_XRT_WAIT_STATE") ? 1 : 0;
}
void nw_release(void *h) { free(h); }
