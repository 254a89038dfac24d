// The kernel family in force (CKernels cpu_level.c): the best level the CPU runs, lowered by the environment
// variable LLAVA_CPU_LEVEL for a process, or by `CPULevel.with(_:_:)` for one synchronous stretch of code (tests).
// Each level reproduces one llama.cpp CPU build's arithmetic; the layouts chosen at load follow it.
import CKernels

public enum CPULevel: Int, Sendable, CaseIterable, CustomStringConvertible {
    case portable = 0, neon = 1, avx2 = 2, avxvnni = 3, avx512 = 4

    public enum LevelError: Error, CustomStringConvertible {
        case unknown(String)
        case unavailable(CPULevel, best: CPULevel)
        public var description: String {
            switch self {
            case .unknown(let s): return "LLAVA_CPU_LEVEL=\(s) names no level (portable, avx2, avxvnni, avx512, auto)"
            case .unavailable(let l, let best):
                return "LLAVA_CPU_LEVEL=\(l) asks for more than this CPU runs (its best level is \(best))"
            }
        }
    }

    /// What the kernels use now, on this thread.
    public static var current: CPULevel { CPULevel(rawValue: Int(llava_cpu_level())) ?? .portable }
    /// The best level this CPU runs.
    public static var detected: CPULevel { CPULevel(rawValue: Int(llava_cpu_level_detected())) ?? .portable }

    /// Every level this machine can execute (for tests: each one is checked here).
    public static var executable: [CPULevel] {
        allCases.filter { $0.rawValue <= detected.rawValue && ($0 != .neon || detected == .neon) }
    }

    public var description: String { String(cString: llava_cpu_level_name(Int32(rawValue))) }

    /// Refuses a LLAVA_CPU_LEVEL that names no level or one above the CPU's (the kernels would quietly run
    /// another): the CLI calls this before it loads anything.
    public static func validateEnvironment() throws {
        let asked = Int(llava_cpu_level_requested())
        if asked == -1 { return }
        let raw = String(cString: getenv("LLAVA_CPU_LEVEL"))
        guard asked >= 0, let level = CPULevel(rawValue: asked) else { throw LevelError.unknown(raw) }
        if !executable.contains(level) { throw LevelError.unavailable(level, best: detected) }
    }

    /// Runs `body` with the kernels at `level` (at most the CPU's) on this thread and on the workers its
    /// parallel loops use. Synchronous on purpose: a thread-local setting must not cross an `await`.
    public static func with<T>(_ level: CPULevel, _ body: () throws -> T) rethrows -> T {
        let before = llava_cpu_thread_level()
        llava_cpu_set_thread_level(Int32(level.rawValue))
        defer { llava_cpu_set_thread_level(before) }
        return try body()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
