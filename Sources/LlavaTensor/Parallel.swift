// A parallel-for over the cores: a persistent pool of worker threads (libdispatch's concurrentPerform was measured
// running these loops on one core here), the counterpart of ggml's CPU thread pool.
//
// A decode step is hundreds of small parallel loops a few microseconds apart, so workers spin on the job counter
// for a while before they sleep, and the caller spins for the job to finish: waking a sleeping thread costs more
// than most of those loops. The caller waits for the *items*, not for every worker: a worker the scheduler has not
// run yet (another program busy on the cores) simply finds nothing left to take, and the caller does its share —
// a loop never waits a whole time slice for a thread that was asleep. Spinning yields the core after a while, so
// a preempted worker that holds an item gets it back.
import Atomics
import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Parallel {
    nonisolated(unsafe) public static var threads: Int = max(1, min(ProcessInfo_activeCores(), 64))
    nonisolated(unsafe) static var pool: WorkerPool? = nil
    static let poolLock = NSLock()

    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 { for i in 0..<count { body(i) }; return }
        poolLock.lock()
        if pool == nil || pool?.workers != threads - 1 { pool = WorkerPool(workers: threads - 1) }
        let p = pool!
        poolLock.unlock()
        // The caller's kernel level (CPULevel.with) holds on the workers too, for this loop.
        let level = llava_cpu_thread_level()
        withoutActuallyEscaping(body) { b in
            p.run(count, UncheckedSendable { i in
                if llava_cpu_thread_level() != level { llava_cpu_set_thread_level(level) }
                b(i)
            })
        }
    }
}

/// Workers that wait for a job, take indices from a shared counter and count the items they finished.
///
/// The job's closure lives only for `run`: a worker touches it only between raising `inside` and lowering it, and
/// only if the job was not yet closed when it raised `inside`; `run` closes the job, then waits for `inside` to be
/// zero before it returns. Both sides use sequentially consistent operations on `closed` and `inside` (a store then
/// a load on each side), so at least one of them sees the other: a late worker sees the job closed and leaves it
/// alone, or `run` sees the worker inside and waits for it (it then finds no index left, or is finishing one).
final class WorkerPool: @unchecked Sendable {
    let workers: Int
    private let generation = ManagedAtomic<Int>(0)   // the current job's number
    private let closed = ManagedAtomic<Int>(0)       // the last job number whose items are all done
    private let nextIndex = ManagedAtomic<Int>(0)
    private let finished = ManagedAtomic<Int>(0)     // items of the current job done
    private let inside = ManagedAtomic<Int>(0)       // workers that may be touching the job
    private let sleepers = ManagedAtomic<Int>(0)
    private let cond = NSCondition()
    private let runLock = NSLock()
    // Written before `generation` is bumped and cleared only after `inside` is zero with the job closed.
    private var job: UncheckedSendable<(Int) -> Void>? = nil
    private var total = 0
    /// Polls of the job counter before a worker sleeps (some tens of microseconds).
    static let spins = 50_000
    /// Polls of a wait before it starts yielding the core to whatever else is runnable on it.
    static let pollsBeforeYield = 20_000

    init(workers: Int) {
        self.workers = workers
        for _ in 0..<workers {
            let t = Thread { [unowned self] in self.loop() }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func loop() {
        var seen = 0
        while true {
            var polls = 0
            while generation.load(ordering: .acquiring) == seen {
                polls += 1
                if polls < Self.spins { continue }
                cond.lock()
                sleepers.wrappingIncrement(ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { cond.wait() }
                sleepers.wrappingDecrement(ordering: .sequentiallyConsistent)
                cond.unlock()
            }
            inside.wrappingIncrement(ordering: .sequentiallyConsistent)
            // The job now current (a later one than first seen, if this worker was that late) is ours to help with
            // unless it is already closed; it cannot be replaced while we are inside.
            seen = generation.load(ordering: .sequentiallyConsistent)
            if closed.load(ordering: .sequentiallyConsistent) != seen, let current = job {
                var done = 0
                while true {
                    let i = nextIndex.loadThenWrappingIncrement(ordering: .relaxed)
                    if i >= total { break }
                    current.value(i)
                    done += 1
                }
                if done > 0 { finished.wrappingIncrement(by: done, ordering: .releasing) }
            }
            inside.wrappingDecrement(ordering: .sequentiallyConsistent)
        }
    }

    /// Runs body(0..<count) on the workers and the calling thread; returns when all are done.
    func run(_ count: Int, _ body: UncheckedSendable<(Int) -> Void>) {
        runLock.lock(); defer { runLock.unlock() }
        job = body
        total = count
        nextIndex.store(0, ordering: .relaxed)
        finished.store(0, ordering: .relaxed)
        cond.lock()
        generation.wrappingIncrement(ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 { cond.broadcast() }
        cond.unlock()
        var done = 0
        while true {
            let i = nextIndex.loadThenWrappingIncrement(ordering: .relaxed)
            if i >= count { break }
            body.value(i)
            done += 1
        }
        // Every index is taken; wait for the items other threads are still running.
        var polls = 0
        while finished.load(ordering: .acquiring) + done < count { Self.pause(&polls) }
        closed.store(generation.load(ordering: .relaxed), ordering: .sequentiallyConsistent)
        polls = 0
        while inside.load(ordering: .sequentiallyConsistent) > 0 { Self.pause(&polls) }
        job = nil
    }

    @inline(__always) private static func pause(_ polls: inout Int) {
        polls += 1
        if polls > pollsBeforeYield { sched_yield() }
    }
}

@inline(__always) func ProcessInfo_activeCores() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return Int(sysconf(_SC_NPROCESSORS_ONLN))
    #endif
}
