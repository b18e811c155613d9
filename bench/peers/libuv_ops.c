/* libuv peer of bench/micro/ (issue 12), run by bench/run_micro_peers.py: the per-operation costs
 * that micro_benchmarks measures for ringloop, done the usual libuv way on one uv_loop_t.
 *
 *   ./libuv_ops [--ops N] [--only OPERATION]
 *
 * Prints one JSON object per operation per line: peer, operation, ns_per_op, items_per_s, clock
 * ("wall" or "cpu": the clock ringloop's benchmark of that operation uses) and counters.
 *
 * How each ringloop benchmark is mapped:
 *   call_soon_threadsafe threads:T  T threads post N callbacks in batches of 4,000 (each thread
 *       posting 4,000/T per batch after waiting for the batch to start, as bench/micro/
 *       callbacks.cpp); a post is the libuv idiom for cross-thread work: the callback pushed on a
 *       mutex-protected queue, then uv_async_send() (libuv coalesces sends until the loop runs the
 *       async callback, which swaps the queue out under the mutex and runs it). The last callback
 *       of a batch starts the next one from the loop thread. Wall time.
 *   spawn_await, spawn_many 1000000  not measured: libuv has no tasks.
 *   timers_fire_1M  N uv_timer_t (one calloc'ed array) each uv_timer_init + uv_timer_start with a
 *       random timeout of 1-1000 ms, then uv_run until all fired. arm_ns_per_timer: the arming
 *       loop; ns_per_op: wall time of arming and firing per timer; bytes_per_timer: heap growth
 *       (mallinfo2 uordblks + hblkhd) over the arming; rss_bytes_per_timer: RSS growth.
 *   timer_add_cancel live:L  with L uv_timer_t armed 1-2 hours away, one uv_timer_t is
 *       uv_timer_start'ed (a timeout 1-2 hours away from a table of 4,096) and uv_timer_stop'ed N
 *       times; libuv's handle is the caller's memory, so nothing is allocated. Thread CPU time. */

#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

enum { POSTS_PER_BATCH = 4000, DELAY_TABLE = 4096 };

static const char* only = NULL;
static long long operations = 1000000;

static int wanted(const char* operation) {
  return only == NULL || strcmp(only, operation) == 0;
}

static double thread_cpu_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
}

static double wall_ns(void) {
  return (double)uv_hrtime();
}

/* Heap in use: small chunks and mmapped ones (a big array is mmapped by glibc). */
static double heap_in_use(void) {
  struct mallinfo2 info = mallinfo2();
  return (double)(info.uordblks + info.hblkhd);
}

static double resident_bytes(void) {
  long pages_total = 0;
  long pages_resident = 0;
  FILE* statm = fopen("/proc/self/statm", "r");
  if (statm == NULL) return 0;
  const int fields = fscanf(statm, "%ld %ld", &pages_total, &pages_resident);
  fclose(statm);
  if (fields != 2) return 0;
  return (double)pages_resident * (double)sysconf(_SC_PAGESIZE);
}

static void fail(const char* what) {
  fprintf(stderr, "libuv_ops: %s\n", what);
  exit(1);
}

static void report(const char* operation, double ns_per_op, const char* clock, const char* extra) {
  printf(
      "{\"peer\": \"libuv\", \"operation\": \"%s\", \"ns_per_op\": %.3f, \"items_per_s\": %.1f, "
      "\"clock\": \"%s\"%s%s}\n",
      operation, ns_per_op, 1e9 / ns_per_op, clock, extra[0] ? ", " : "", extra);
  fflush(stdout);
}

/* A small deterministic generator (splitmix64) for the random deadlines. */
static uint64_t random_state;
static uint64_t next_random(void) {
  uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* ---- call_soon_threadsafe: a mutex-protected queue + uv_async_send ---- */

typedef struct {
  void (*function)(void*);
  void* argument;
} callback;

typedef struct {
  uv_mutex_t lock;
  callback* items; /* filled by the posting threads */
  size_t size;
  size_t capacity;
  callback* spare; /* the loop's swapped-out batch */
  size_t spare_capacity;
  uv_async_t async;
} remote_queue;

static void remote_post(remote_queue* queue, void (*function)(void*), void* argument) {
  uv_mutex_lock(&queue->lock);
  if (queue->size == queue->capacity) {
    queue->capacity = queue->capacity ? queue->capacity * 2 : 1024;
    queue->items = realloc(queue->items, queue->capacity * sizeof(callback));
    if (queue->items == NULL) fail("out of memory");
  }
  queue->items[queue->size].function = function;
  queue->items[queue->size].argument = argument;
  ++queue->size;
  uv_mutex_unlock(&queue->lock);
  uv_async_send(&queue->async);
}

static void remote_drain(uv_async_t* async) {
  remote_queue* queue = async->data;
  uv_mutex_lock(&queue->lock);
  callback* batch = queue->items;
  const size_t size = queue->size;
  const size_t capacity = queue->capacity;
  queue->items = queue->spare;
  queue->capacity = queue->spare_capacity;
  queue->size = 0;
  uv_mutex_unlock(&queue->lock);
  for (size_t i = 0; i < size; ++i)
    batch[i].function(batch[i].argument);
  queue->spare = batch;
  queue->spare_capacity = capacity;
}

typedef struct {
  remote_queue queue;
  uv_mutex_t gate_lock; /* the batch gate the posting threads wait at */
  uv_cond_t gate;
  unsigned long long batch;
  long long per_thread;
  int stop;
  long long ran; /* loop thread only */
  long long target;
  long long total;
  long long done;
  int threads;
} post_state;

static void start_batch(post_state* state) {
  uv_mutex_lock(&state->gate_lock);
  state->per_thread = POSTS_PER_BATCH / state->threads;
  ++state->batch;
  uv_cond_broadcast(&state->gate);
  uv_mutex_unlock(&state->gate_lock);
}

static void posted(void* argument) {
  post_state* state = argument;
  if (++state->ran != state->target) return;
  state->done += state->target;
  if (state->done < state->total) {
    state->ran = 0;
    start_batch(state);
  } else {
    uv_close((uv_handle_t*)&state->queue.async, NULL);
  }
}

static void poster(void* argument) {
  post_state* state = argument;
  unsigned long long seen = 0;
  for (;;) {
    uv_mutex_lock(&state->gate_lock);
    while (state->batch == seen)
      uv_cond_wait(&state->gate, &state->gate_lock);
    seen = state->batch;
    const int stop = state->stop;
    const long long posts = state->per_thread;
    uv_mutex_unlock(&state->gate_lock);
    if (stop) return;
    for (long long i = 0; i < posts; ++i)
      remote_post(&state->queue, posted, state);
  }
}

static void run_post(int threads) {
  char operation[64];
  snprintf(operation, sizeof operation, "call_soon_threadsafe threads:%d", threads);
  if (!wanted(operation)) return;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) fail("uv_loop_init");
  post_state state;
  memset(&state, 0, sizeof state);
  state.threads = threads;
  state.target = POSTS_PER_BATCH;
  state.total = (operations + POSTS_PER_BATCH - 1) / POSTS_PER_BATCH * POSTS_PER_BATCH;
  uv_mutex_init(&state.queue.lock);
  uv_mutex_init(&state.gate_lock);
  uv_cond_init(&state.gate);
  uv_async_init(&loop, &state.queue.async, remote_drain);
  state.queue.async.data = &state.queue;
  uv_thread_t posters[4];
  for (int i = 0; i < threads; ++i)
    uv_thread_create(&posters[i], poster, &state);
  const double start = wall_ns();
  start_batch(&state);
  uv_run(&loop, UV_RUN_DEFAULT);
  const double elapsed = wall_ns() - start;
  uv_mutex_lock(&state.gate_lock);
  state.stop = 1;
  ++state.batch;
  uv_cond_broadcast(&state.gate);
  uv_mutex_unlock(&state.gate_lock);
  for (int i = 0; i < threads; ++i)
    uv_thread_join(&posters[i]);
  if (state.done != state.total) fail("call_soon_threadsafe: not every post ran");
  uv_loop_close(&loop);
  free(state.queue.items);
  free(state.queue.spare);
  char extra[128];
  snprintf(extra, sizeof extra, "\"posts\": %lld", state.total);
  report(operation, elapsed / (double)state.total, "wall", extra);
}

/* ---- timers_fire_1M ---- */

typedef struct {
  uv_timer_t timer;
  uint64_t deadline; /* loop milliseconds */
} fire_timer;

static long long fired;
static long long fire_target;
static uint64_t latest_ms;

static void timer_fired(uv_timer_t* handle) {
  fire_timer* timer = (fire_timer*)handle;
  const uint64_t now = uv_now(handle->loop);
  if (now > timer->deadline && now - timer->deadline > latest_ms) latest_ms = now - timer->deadline;
  ++fired;
}

static void run_timers_fire(void) {
  if (!wanted("timers_fire_1M")) return;
  const long long count = operations;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) fail("uv_loop_init");
  random_state = 3;
  uint64_t* delays = malloc((size_t)count * sizeof(uint64_t));
  if (delays == NULL) fail("out of memory");
  for (long long i = 0; i < count; ++i)
    delays[i] = 1 + next_random() % 1000;
  fired = 0;
  fire_target = count;
  latest_ms = 0;
  const double heap_before = heap_in_use();
  const double rss_before = resident_bytes();
  const double cpu_start = thread_cpu_ns();
  const double start = wall_ns();
  fire_timer* timers = calloc((size_t)count, sizeof(fire_timer));
  if (timers == NULL) fail("out of memory");
  for (long long i = 0; i < count; ++i) {
    uv_timer_init(&loop, &timers[i].timer);
    timers[i].deadline = uv_now(&loop) + delays[i];
    uv_timer_start(&timers[i].timer, timer_fired, delays[i], 0);
  }
  const double armed = wall_ns();
  const double heap_after = heap_in_use();
  const double rss_after = resident_bytes();
  uv_run(&loop, UV_RUN_DEFAULT);
  const double end = wall_ns();
  const double cpu_ns = thread_cpu_ns() - cpu_start;
  if (fired != count) fail("timers_fire_1M: not every timer fired");
  for (long long i = 0; i < count; ++i)
    uv_close((uv_handle_t*)&timers[i].timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(timers);
  free(delays);
  char extra[256];
  snprintf(extra, sizeof extra,
           "\"timers\": %lld, \"total_s\": %.3f, \"arm_ns_per_timer\": %.1f, "
           "\"cpu_ns_per_timer\": %.1f, \"bytes_per_timer\": %.1f, \"rss_bytes_per_timer\": %.1f, "
           "\"late_ms_max\": %" PRIu64,
           count, (end - start) / 1e9, (armed - start) / (double)count, cpu_ns / (double)count,
           (heap_after - heap_before) / (double)count, (rss_after - rss_before) / (double)count,
           latest_ms);
  report("timers_fire_1M", (end - start) / (double)count, "wall", extra);
}

/* ---- timer_add_cancel ---- */

static void never_fires(uv_timer_t* handle) {
  (void)handle;
  fail("timer_add_cancel: a timer fired");
}

static uint64_t far_delay(void) {
  return 3600000 + next_random() % 3600001;
}

static void run_add_cancel(long long live) {
  char operation[64];
  snprintf(operation, sizeof operation, "timer_add_cancel live:%lld", live);
  if (!wanted(operation)) return;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) fail("uv_loop_init");
  random_state = 1;
  uv_timer_t* armed = calloc((size_t)live, sizeof(uv_timer_t));
  if (armed == NULL) fail("out of memory");
  for (long long i = 0; i < live; ++i) {
    uv_timer_init(&loop, &armed[i]);
    uv_timer_start(&armed[i], never_fires, far_delay(), 0);
  }
  random_state = 2;
  uint64_t delays[DELAY_TABLE];
  for (int i = 0; i < DELAY_TABLE; ++i)
    delays[i] = far_delay();
  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  long long stopped = 0;
  const double start = thread_cpu_ns();
  for (long long i = 0; i < operations; ++i) {
    uv_timer_start(&timer, never_fires, delays[i & (DELAY_TABLE - 1)], 0);
    uv_timer_stop(&timer);
    stopped += uv_is_active((uv_handle_t*)&timer) ? 0 : 1;
  }
  const double elapsed = thread_cpu_ns() - start;
  if (stopped != operations) fail("timer_add_cancel: a timer stayed armed");
  uv_close((uv_handle_t*)&timer, NULL);
  for (long long i = 0; i < live; ++i)
    uv_close((uv_handle_t*)&armed[i], NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(armed);
  report(operation, elapsed / (double)operations, "cpu", "");
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
      operations = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: libuv_ops [--ops N] [--only OPERATION]\n");
      return 2;
    }
  }
  if (operations < 1) operations = 1;
  run_post(1);
  run_post(4);
  run_timers_fire();
  run_add_cancel(1);
  run_add_cancel(1000);
  run_add_cancel(1000000);
  return 0;
}
