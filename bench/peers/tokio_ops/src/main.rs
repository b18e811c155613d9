//! Tokio peer of bench/micro/ (issue 12), run by bench/run_micro_peers.py: the per-operation costs
//! that micro_benchmarks measures for ringloop, on Tokio 1.24's current_thread runtime (time and
//! I/O drivers enabled, as #[tokio::main(flavor = "current_thread")] would).
//!
//!   tokio_ops [--ops N] [--only OPERATION]
//!
//! Prints one JSON object per operation per line: peer, operation, ns_per_op, items_per_s, clock
//! ("wall" or "cpu": the clock ringloop's benchmark of that operation uses) and counters.
//!
//! How each ringloop benchmark is mapped:
//!   call_soon_threadsafe threads:T  T std::threads send N boxed callbacks (Box<dyn FnOnce>)
//!       through an unbounded mpsc channel to one loop task that receives and runs them, in
//!       batches of 4,000 (each thread sending 4,000/T per batch after waiting for the batch to
//!       start, as bench/micro/callbacks.cpp); the last callback of a batch starts the next one
//!       from the loop thread. The mpsc queue drained by the loop is the closest idiom to
//!       call_soon_threadsafe (a queue of callbacks); Handle::spawn would allocate a task per
//!       post. Wall time.
//!   spawn_await  tokio::spawn(empty task) then .await of its JoinHandle, N times, from a driver
//!       task (as ringloop's driver is a task; awaited from the block_on future itself, every
//!       round trip would also wake the driver through its eventfd: about 1 us instead of
//!       0.35 us here). Thread CPU time.
//!   spawn_many 1000000  N tokio::spawn(empty task) into a Vec<JoinHandle>, then each awaited
//!       (from a driver task).
//!       bytes_per_task: heap growth (glibc mallinfo2 uordblks + hblkhd; Rust's default allocator
//!       is glibc malloc) while all N are pending; rss_bytes_per_task: RSS growth over the first
//!       batch. Batches repeat until 0.5 s of CPU time, as Google Benchmark does. Thread CPU time.
//!   timers_fire_1M  N spawned tasks, each doing tokio::time::sleep_until(deadline).await with a
//!       random deadline 1-1000 ms away computed at its spawn (the idiom; a Sleep made outside
//!       and moved in would sit in the task twice, and a Sleep is 640 bytes in 1.24). Tokio
//!       registers a Sleep in its timer wheel at its first poll, so arming is the spawns plus one
//!       yield of the driver task, which lets every new task run once. Wall time;
//!       arm_ns_per_timer, cpu_ns_per_timer, bytes_per_timer and rss_bytes_per_timer (heap and
//!       RSS growth over the spawns, the tasks included; the wheel's registration allocates
//!       nothing), late_ms_max.
//!   timer_add_cancel live:L  with L Sleeps registered 1-2 hours away, a tokio::time::sleep (1-2
//!       hours, a table of 4,096) is made, polled once (which inserts it in the wheel) and
//!       dropped (which removes it), N times. Thread CPU time.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[repr(C)]
#[derive(Default)]
struct Mallinfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    fn mallinfo2() -> Mallinfo2;
    fn sysconf(name: i32) -> i64;
}

const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
const SC_PAGESIZE: i32 = 30;

fn thread_cpu_ns() -> f64 {
    let mut now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 * 1e9 + now.tv_nsec as f64
}

fn heap_in_use() -> f64 {
    let info = unsafe { mallinfo2() };
    (info.uordblks + info.hblkhd) as f64
}

fn resident_bytes() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * unsafe { sysconf(SC_PAGESIZE) } as f64
}

fn report(operation: &str, ns_per_op: f64, clock: &str, extra: &str) {
    println!(
        "{{\"peer\": \"tokio\", \"operation\": \"{}\", \"ns_per_op\": {:.3}, \"items_per_s\": {:.1}, \
         \"clock\": \"{}\"{}{}}}",
        operation,
        ns_per_op,
        1e9 / ns_per_op,
        clock,
        if extra.is_empty() { "" } else { ", " },
        extra
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// splitmix64, for the random deadlines.
struct Random(u64);
impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

// ---- call_soon_threadsafe: an unbounded mpsc of callbacks drained by one loop task ----

const POSTS_PER_BATCH: i64 = 4000;

struct Tally {
    ran: i64,
}

type Callback = Box<dyn FnOnce(&mut Tally) + Send>;

struct Gate {
    batch: u64,
    per_thread: i64,
    stop: bool,
}

fn start_batch(gate: &(Mutex<Gate>, Condvar), per_thread: i64) {
    let mut state = gate.0.lock().unwrap();
    state.per_thread = per_thread;
    state.batch += 1;
    gate.1.notify_all();
}

fn run_post(threads: i64, operations: i64) {
    let operation = format!("call_soon_threadsafe threads:{}", threads);
    let total = (operations + POSTS_PER_BATCH - 1) / POSTS_PER_BATCH * POSTS_PER_BATCH;
    let gate = Arc::new((
        Mutex::new(Gate {
            batch: 0,
            per_thread: 0,
            stop: false,
        }),
        Condvar::new(),
    ));
    let (sender, mut receiver) = mpsc::unbounded_channel::<Callback>();
    let posters: Vec<_> = (0..threads)
        .map(|_| {
            let gate = gate.clone();
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                loop {
                    let posts;
                    {
                        let mut state = gate.0.lock().unwrap();
                        while state.batch == seen {
                            state = gate.1.wait(state).unwrap();
                        }
                        seen = state.batch;
                        if state.stop {
                            return;
                        }
                        posts = state.per_thread;
                    }
                    for _ in 0..posts {
                        let _ = sender.send(Box::new(|tally: &mut Tally| tally.ran += 1));
                    }
                }
            })
        })
        .collect();
    drop(sender);
    let rt = runtime();
    let start = Instant::now();
    let done = rt.block_on({
        let gate = gate.clone();
        async move {
            let mut tally = Tally { ran: 0 };
            let mut done = 0;
            start_batch(&gate, POSTS_PER_BATCH / threads);
            while let Some(callback) = receiver.recv().await {
                callback(&mut tally);
                if tally.ran == POSTS_PER_BATCH {
                    tally.ran = 0;
                    done += POSTS_PER_BATCH;
                    if done == total {
                        break;
                    }
                    start_batch(&gate, POSTS_PER_BATCH / threads);
                }
            }
            done
        }
    });
    let elapsed = start.elapsed().as_nanos() as f64;
    {
        let mut state = gate.0.lock().unwrap();
        state.stop = true;
        state.batch += 1;
        gate.1.notify_all();
    }
    for poster in posters {
        poster.join().unwrap();
    }
    assert_eq!(done, total, "call_soon_threadsafe: every post ran");
    report(
        &operation,
        elapsed / total as f64,
        "wall",
        &format!("\"posts\": {}", total),
    );
}

// ---- spawn_await and spawn_many ----

thread_local! {
    static RUNS: Cell<i64> = Cell::new(0);
}

fn count_run() {
    RUNS.with(|runs| runs.set(runs.get() + 1));
}

fn runs() -> i64 {
    RUNS.with(|runs| runs.get())
}

fn run_spawn_await(operations: i64) {
    let rt = runtime();
    let before = runs();
    let start = thread_cpu_ns();
    rt.block_on(rt.spawn(async move {
        for _ in 0..operations {
            tokio::spawn(async { count_run() }).await.unwrap();
        }
    }))
    .unwrap();
    let elapsed = thread_cpu_ns() - start;
    assert_eq!(runs() - before, operations, "spawn_await: every task ran");
    report("spawn_await", elapsed / operations as f64, "cpu", "");
}

fn run_spawn_many(tasks: i64) {
    let rt = runtime();
    let before = runs();
    let (cpu_ns, batches, heap_per_task, rss_per_task) = rt
        .block_on(rt.spawn(async move {
            let mut handles = Vec::with_capacity(tasks as usize);
            let mut cpu_ns = 0.0;
            let mut batches = 0i64;
            let mut heap_per_task: f64 = 0.0;
            let mut rss_per_task = 0.0;
            while batches == 0 || cpu_ns < 0.5e9 {
                let start = thread_cpu_ns();
                let heap_before = heap_in_use();
                let rss_before = resident_bytes();
                for _ in 0..tasks {
                    handles.push(tokio::spawn(async { count_run() }));
                }
                let heap = (heap_in_use() - heap_before) / tasks as f64;
                let rss = (resident_bytes() - rss_before) / tasks as f64;
                heap_per_task = heap_per_task.max(heap);
                if batches == 0 {
                    rss_per_task = rss;
                }
                for handle in handles.drain(..) {
                    handle.await.unwrap();
                }
                cpu_ns += thread_cpu_ns() - start;
                batches += 1;
            }
            (cpu_ns, batches, heap_per_task, rss_per_task)
        }))
        .unwrap();
    assert_eq!(
        runs() - before,
        batches * tasks,
        "spawn_many: every task ran"
    );
    report(
        "spawn_many 1000000",
        cpu_ns / (batches * tasks) as f64,
        "cpu",
        &format!(
            "\"tasks\": {}, \"batches\": {}, \"bytes_per_task\": {:.1}, \"rss_bytes_per_task\": {:.1}",
            tasks, batches, heap_per_task, rss_per_task
        ),
    );
}

// ---- timers_fire_1M ----

thread_local! {
    static FIRED: Cell<i64> = Cell::new(0);
    static LATEST: Cell<Duration> = Cell::new(Duration::ZERO);
}

fn run_timers_fire(count: i64) {
    let rt = runtime();
    let mut random = Random(3);
    let delays: Vec<Duration> = (0..count)
        .map(|_| Duration::from_millis(1 + random.next() % 1000))
        .collect();
    FIRED.with(|fired| fired.set(0));
    LATEST.with(|latest| latest.set(Duration::ZERO));
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let (armed, heap_per_timer, rss_per_timer) = rt.block_on(async move {
        tokio::spawn(async move {
            let all_fired = Arc::new(Notify::new());
            let heap_before = heap_in_use();
            let rss_before = resident_bytes();
            for delay in delays {
                let deadline = tokio::time::Instant::now() + delay;
                let all_fired = all_fired.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(deadline).await;
                    let late = tokio::time::Instant::now().saturating_duration_since(deadline);
                    LATEST.with(|latest| latest.set(latest.get().max(late)));
                    let fired = FIRED.with(|fired| {
                        fired.set(fired.get() + 1);
                        fired.get()
                    });
                    if fired == count {
                        all_fired.notify_one();
                    }
                });
            }
            // The wheel is intrusive (a Sleep's registration allocates nothing), so the heap is
            // measured before the first polls, which the first deadlines may overtake.
            let heap = (heap_in_use() - heap_before) / count as f64;
            let rss = (resident_bytes() - rss_before) / count as f64;
            // Every new task runs once (its Sleep enters the wheel) before this task resumes.
            tokio::task::yield_now().await;
            let armed = start.elapsed();
            all_fired.notified().await;
            (armed, heap, rss)
        })
        .await
        .unwrap()
    });
    let total = start.elapsed().as_nanos() as f64;
    let cpu_ns = thread_cpu_ns() - cpu_start;
    assert_eq!(
        FIRED.with(|fired| fired.get()),
        count,
        "timers_fire_1M: every timer fired"
    );
    let n = count as f64;
    report(
        "timers_fire_1M",
        total / n,
        "wall",
        &format!(
            "\"timers\": {}, \"total_s\": {:.3}, \"arm_ns_per_timer\": {:.1}, \"cpu_ns_per_timer\": {:.1}, \
             \"bytes_per_timer\": {:.1}, \"rss_bytes_per_timer\": {:.1}, \"late_ms_max\": {:.1}",
            count,
            total / 1e9,
            armed.as_nanos() as f64 / n,
            cpu_ns / n,
            heap_per_timer,
            rss_per_timer,
            LATEST.with(|latest| latest.get()).as_secs_f64() * 1e3
        ),
    );
}

// ---- timer_add_cancel ----

/// std::future::poll_fn (stable only from Rust 1.64; Debian's rustc is 1.63).
struct PollFn<F>(F);
impl<F: FnMut(&mut std::task::Context<'_>) -> Poll<()> + Unpin> Future for PollFn<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, context: &mut std::task::Context<'_>) -> Poll<()> {
        (self.0)(context)
    }
}
fn poll_fn<F: FnMut(&mut std::task::Context<'_>) -> Poll<()> + Unpin>(function: F) -> PollFn<F> {
    PollFn(function)
}

fn far_delays(count: usize, seed: u64) -> Vec<Duration> {
    let mut random = Random(seed);
    (0..count)
        .map(|_| Duration::from_millis(3_600_000 + random.next() % 3_600_001))
        .collect()
}

const DELAY_TABLE: usize = 4096;

fn run_add_cancel(live: usize, operations: i64) {
    let operation = format!("timer_add_cancel live:{}", live);
    let rt = runtime();
    let elapsed = rt.block_on(async move {
        let mut armed: Vec<Pin<Box<tokio::time::Sleep>>> = far_delays(live, 1)
            .into_iter()
            .map(|delay| Box::pin(tokio::time::sleep(delay)))
            .collect();
        let delays = far_delays(DELAY_TABLE, 2);
        poll_fn(|context| {
            for sleep in armed.iter_mut() {
                assert!(
                    sleep.as_mut().poll(context).is_pending(),
                    "a far timer fired"
                );
            }
            Poll::Ready(())
        })
        .await;
        let mut elapsed = 0.0;
        poll_fn(|context| {
            let start = thread_cpu_ns();
            for i in 0..operations {
                let sleep = tokio::time::sleep(delays[i as usize & (DELAY_TABLE - 1)]);
                tokio::pin!(sleep);
                let pending = sleep.as_mut().poll(context).is_pending();
                assert!(pending, "timer_add_cancel: the new timer fired");
            }
            elapsed = thread_cpu_ns() - start;
            Poll::Ready(())
        })
        .await;
        drop(armed);
        elapsed
    });
    report(&operation, elapsed / operations as f64, "cpu", "");
}

fn main() {
    let mut operations: i64 = 1_000_000;
    let mut only: Option<String> = None;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--ops" => {
                operations = arguments
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(operations)
            }
            "--only" => only = arguments.next(),
            _ => {
                eprintln!("usage: tokio_ops [--ops N] [--only OPERATION]");
                std::process::exit(2);
            }
        }
    }
    let operations = operations.max(1);
    let wanted = |name: &str| only.as_deref().map_or(true, |o| o == name);
    for threads in [1, 4] {
        if wanted(&format!("call_soon_threadsafe threads:{}", threads)) {
            run_post(threads, operations);
        }
    }
    if wanted("spawn_await") {
        run_spawn_await(operations);
    }
    if wanted("spawn_many 1000000") {
        run_spawn_many(operations);
    }
    if wanted("timers_fire_1M") {
        run_timers_fire(operations);
    }
    for live in [1usize, 1000, 1_000_000] {
        if wanted(&format!("timer_add_cancel live:{}", live)) {
            run_add_cancel(live, operations);
        }
    }
}
