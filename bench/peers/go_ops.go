// Go peer of bench/micro/ (issue 12), run by bench/run_micro_peers.py, which builds it with
// GO111MODULE=off go build (no modules, standard library only; apt-get install golang-go): the
// per-operation costs that micro_benchmarks measures for ringloop, with goroutines, channels and
// the runtime's timers.
//
//	go_ops [-ops N] [-only OPERATION]
//
// Prints one JSON object per operation per line: peer, operation, ns_per_op, items_per_s, clock
// ("wall" or "cpu": the clock ringloop's benchmark of that operation uses; Go's "cpu" is the
// process's CPU time, getrusage(RUSAGE_SELF), as goroutines are not bound to a thread) and
// counters.
//
// GOMAXPROCS is 1 for every operation but the cross-thread posts, so the Go scheduler runs the
// goroutines on one thread as ringloop's loop runs its tasks (the posts keep the default, the
// number of CPUs, so posters and consumer run on different threads).
//
// How each ringloop benchmark is mapped:
//
//	call_soon_threadsafe threads:T  T goroutines send N closures on a channel buffered for 4,096
//	    (one batch never blocks a sender, as ringloop's queue is unbounded) to one consumer
//	    goroutine that receives and calls them, in batches of 4,000 (each poster sending 4,000/T
//	    per batch after its start channel says so, as bench/micro/callbacks.cpp); the last
//	    callback of a batch starts the next. Wall time.
//	spawn_await  go func() { ...; done <- struct{}{} }() then <-done, N times. CPU time.
//	spawn_many 1000000  sync.WaitGroup.Add(N), N goroutines each calling Done, then Wait.
//	    bytes_per_task: growth of HeapAlloc + StackInuse (runtime.ReadMemStats, from after a
//	    runtime.GC(); Go does not use malloc) over the spawns of an untimed first batch whose
//	    goroutines wait at a gate (a closed channel releases them): without it Go's scheduler
//	    runs the spawned goroutines whenever the spawning one is preempted (every 10 ms), so they
//	    are never all pending at once;
//	    rss_bytes_per_task: RSS growth over that batch. Timed batches repeat until 0.5 s of CPU
//	    time, as Google Benchmark does. CPU time.
//	timers_fire_1M  N time.AfterFunc with random delays of 1-1000 ms (each fire runs its function
//	    in a new goroutine), then a wait until all fired. Wall time; arm_ns_per_timer,
//	    cpu_ns_per_timer, bytes_per_timer (HeapAlloc + StackInuse growth over the arming, from
//	    after a runtime.GC(); ReadMemStats's pause is taken out of the times),
//	    rss_bytes_per_timer, late_ms_max.
//	timer_add_cancel live:L  with L AfterFunc timers 1-2 hours away, time.AfterFunc (1-2 hours,
//	    a table of 4,096) + Timer.Stop, N times. CPU time.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var only = flag.String("only", "", "run only this operation")
var operations = flag.Int64("ops", 1000000, "operations per benchmark")

func wanted(operation string) bool {
	return *only == "" || *only == operation
}

func cpuNs() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return float64(usage.Utime.Nano() + usage.Stime.Nano())
}

// heapInUse is the heap and goroutine stacks in use; collect first collects the garbage (for the
// figure before an operation: a collection after it would let the spawned goroutines run while
// the caller waits). Callers keep it out of their timing.
func heapInUse(collect bool) float64 {
	var stats runtime.MemStats
	if collect {
		runtime.GC()
	}
	runtime.ReadMemStats(&stats)
	return float64(stats.HeapAlloc + stats.StackInuse)
}

func residentBytes() float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	var pages float64
	fmt.Sscan(fields[1], &pages)
	return pages * float64(os.Getpagesize())
}

func report(operation string, nsPerOp float64, clock string, extra string) {
	if extra != "" {
		extra = ", " + extra
	}
	fmt.Printf("{\"peer\": \"go\", \"operation\": \"%s\", \"ns_per_op\": %.3f, \"items_per_s\": %.1f, \"clock\": \"%s\"%s}\n",
		operation, nsPerOp, 1e9/nsPerOp, clock, extra)
}

func fail(what string) {
	fmt.Fprintln(os.Stderr, "go_ops:", what)
	os.Exit(1)
}

// splitmix64, for the random deadlines.
type random struct{ state uint64 }

func (r *random) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ---- call_soon_threadsafe: a channel of closures to one consumer goroutine ----

const postsPerBatch = 4000

type tally struct{ ran int64 }

func runPost(threads int64) {
	operation := fmt.Sprintf("call_soon_threadsafe threads:%d", threads)
	if !wanted(operation) {
		return
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	defer runtime.GOMAXPROCS(1)
	total := (*operations + postsPerBatch - 1) / postsPerBatch * postsPerBatch
	callbacks := make(chan func(), 4096)
	starts := make([]chan int64, threads)
	var posters sync.WaitGroup
	counts := &tally{}
	for i := range starts {
		starts[i] = make(chan int64, 1)
		posters.Add(1)
		go func(start chan int64) {
			defer posters.Done()
			for posts := range start {
				for j := int64(0); j < posts; j++ {
					callbacks <- func() { counts.ran++ }
				}
			}
		}(starts[i])
	}
	startBatch := func() {
		for _, start := range starts {
			start <- postsPerBatch / threads
		}
	}
	begin := time.Now()
	startBatch()
	done := int64(0)
	for callback := range callbacks {
		callback()
		if counts.ran == postsPerBatch {
			counts.ran = 0
			done += postsPerBatch
			if done == total {
				break
			}
			startBatch()
		}
	}
	elapsed := float64(time.Since(begin).Nanoseconds())
	for _, start := range starts {
		close(start)
	}
	posters.Wait()
	if done != total {
		fail("call_soon_threadsafe: not every post ran")
	}
	report(operation, elapsed/float64(total), "wall", fmt.Sprintf("\"posts\": %d", total))
}

// ---- spawn_await and spawn_many ----

func runSpawnAwait() {
	if !wanted("spawn_await") {
		return
	}
	runs := int64(0)
	done := make(chan struct{})
	start := cpuNs()
	for i := int64(0); i < *operations; i++ {
		go func() {
			runs++ // ordered by the channel
			done <- struct{}{}
		}()
		<-done
	}
	elapsed := cpuNs() - start
	if runs != *operations {
		fail("spawn_await: not every task ran")
	}
	report("spawn_await", elapsed/float64(*operations), "cpu", "")
}

func runSpawnMany() {
	if !wanted("spawn_many 1000000") {
		return
	}
	tasks := *operations
	var runs int64
	// The memory: one untimed batch whose goroutines wait at a gate, so all are pending at once.
	gate := make(chan struct{})
	var gated sync.WaitGroup
	gated.Add(int(tasks))
	heapBefore := heapInUse(true)
	rssBefore := residentBytes()
	for i := int64(0); i < tasks; i++ {
		go func() {
			<-gate
			gated.Done()
		}()
	}
	rssPerTask := (residentBytes() - rssBefore) / float64(tasks)
	heapPerTask := (heapInUse(false) - heapBefore) / float64(tasks)
	close(gate)
	gated.Wait()
	// The time: batches of plain goroutines.
	var cpu float64
	batches := int64(0)
	for batches == 0 || cpu < 0.5e9 {
		start := cpuNs()
		var group sync.WaitGroup
		group.Add(int(tasks))
		for i := int64(0); i < tasks; i++ {
			go func() {
				atomic.AddInt64(&runs, 1)
				group.Done()
			}()
		}
		group.Wait()
		cpu += cpuNs() - start
		batches++
	}
	if atomic.LoadInt64(&runs) != batches*tasks {
		fail("spawn_many: not every task ran")
	}
	report("spawn_many 1000000", cpu/float64(batches*tasks), "cpu",
		fmt.Sprintf("\"tasks\": %d, \"batches\": %d, \"bytes_per_task\": %.1f, \"rss_bytes_per_task\": %.1f",
			tasks, batches, heapPerTask, rssPerTask))
}

// ---- timers_fire_1M ----

func runTimersFire() {
	if !wanted("timers_fire_1M") {
		return
	}
	count := *operations
	generator := random{3}
	delays := make([]time.Duration, count)
	for i := range delays {
		delays[i] = time.Duration(1+generator.next()%1000) * time.Millisecond
	}
	var fired int64
	var latest int64 // nanoseconds, the largest lateness (atomic)
	allFired := make(chan struct{})
	heapBefore := heapInUse(true)
	rssBefore := residentBytes()
	cpuStart := cpuNs()
	begin := time.Now()
	for _, delay := range delays {
		deadline := time.Now().Add(delay)
		time.AfterFunc(delay, func() {
			late := int64(time.Since(deadline))
			for {
				seen := atomic.LoadInt64(&latest)
				if late <= seen || atomic.CompareAndSwapInt64(&latest, seen, late) {
					break
				}
			}
			if atomic.AddInt64(&fired, 1) == count {
				close(allFired)
			}
		})
	}
	armed := time.Since(begin)
	rssAfter := residentBytes()
	armedCpu := cpuNs()
	paused := time.Now()
	heapAfter := heapInUse(false)
	pause := time.Since(paused)
	resumedCpu := cpuNs()
	<-allFired
	total := float64((time.Since(begin) - pause).Nanoseconds())
	cpu := (armedCpu - cpuStart) + (cpuNs() - resumedCpu)
	n := float64(count)
	report("timers_fire_1M", total/n, "wall",
		fmt.Sprintf("\"timers\": %d, \"total_s\": %.3f, \"arm_ns_per_timer\": %.1f, \"cpu_ns_per_timer\": %.1f, "+
			"\"bytes_per_timer\": %.1f, \"rss_bytes_per_timer\": %.1f, \"late_ms_max\": %.1f",
			count, total/1e9, float64(armed.Nanoseconds())/n, cpu/n, (heapAfter-heapBefore)/n,
			(rssAfter-rssBefore)/n, float64(atomic.LoadInt64(&latest))/1e6))
}

// ---- timer_add_cancel ----

func farDelays(count int, seed uint64) []time.Duration {
	generator := random{seed}
	delays := make([]time.Duration, count)
	for i := range delays {
		delays[i] = time.Duration(3600000+generator.next()%3600001) * time.Millisecond
	}
	return delays
}

const delayTable = 4096

func runAddCancel(live int) {
	operation := fmt.Sprintf("timer_add_cancel live:%d", live)
	if !wanted(operation) {
		return
	}
	var fired int64
	onFire := func() { atomic.AddInt64(&fired, 1) }
	armed := make([]*time.Timer, 0, live)
	for _, delay := range farDelays(live, 1) {
		armed = append(armed, time.AfterFunc(delay, onFire))
	}
	delays := farDelays(delayTable, 2)
	stopped := int64(0)
	start := cpuNs()
	for i := int64(0); i < *operations; i++ {
		timer := time.AfterFunc(delays[i&(delayTable-1)], onFire)
		if timer.Stop() {
			stopped++
		}
	}
	elapsed := cpuNs() - start
	if stopped != *operations || atomic.LoadInt64(&fired) != 0 {
		fail("timer_add_cancel: a timer was not stopped")
	}
	for _, timer := range armed {
		timer.Stop()
	}
	report(operation, elapsed/float64(*operations), "cpu", "")
}

func main() {
	flag.Parse()
	if *operations < 1 {
		*operations = 1
	}
	runtime.GOMAXPROCS(1)
	runPost(1)
	runPost(4)
	runSpawnAwait()
	runSpawnMany()
	runTimersFire()
	runAddCancel(1)
	runAddCancel(1000)
	runAddCancel(1000000)
}
