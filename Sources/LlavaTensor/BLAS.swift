// Matrix products through BLAS (OpenBLAS on Linux, Accelerate on macOS).
//
// Weights keep PyTorch's nn.Linear layout [out, in], so y = x W^T is one sgemm with B transposed.
import COpenBLAS

public enum BLAS {
    /// C[m, n] = alpha * op(A) op(B) + beta * C, row-major, with explicit leading dimensions so that
    /// strided views (one attention head inside [tokens, heads * dim]) need no copy.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    @usableFromInline
    static func blasInt(_ v: Int) -> Int32 { Int32(truncatingIfNeeded: v) }
}

extension BLAS {
    /// Threads BLAS may use (OpenBLAS); Accelerate chooses for itself.
    public static func setThreads(_ n: Int) {
        #if !os(macOS)
        openblas_set_num_threads(Int32(n))
        #endif
    }
}
