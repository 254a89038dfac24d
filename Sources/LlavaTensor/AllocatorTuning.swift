// glibc's allocator returns large blocks (≥128 KB by default) to the kernel on free and faults fresh zeroed pages in on
// the next allocation. Inference and training allocate and free the same large activations over and over (a CLIP
// layer's [577, 4096] buffers, a training step's activations), so that costs a tenth of the time in places. Raising
// the thresholds keeps freed blocks in the process for reuse. (malloc.h is not in Swift's Glibc module, hence the
// declaration; the parameter numbers are malloc.h's.)
#if canImport(Glibc)
import Glibc

@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

public enum AllocatorTuning {
    /// Idempotent; call early.
    public static func keepFreedMemory() {
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
        _ = glibcMallopt(mmapThreshold, 1 << 30)
        _ = glibcMallopt(trimThreshold, Int32.max)
    }
}
#else
public enum AllocatorTuning {
    public static func keepFreedMemory() {}
}
#endif
