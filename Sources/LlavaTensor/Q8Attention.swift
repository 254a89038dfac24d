// Attention over the opt-in q8_0 KV cache (llama.cpp's `--cache-type-k/v q8_0`): K and V rows kept as ggml
// block_q8_0, ~half the memory of an f16 cache and of the bytes each decoded token reads. Scores as llama.cpp
// takes them from a quantised K: the query quantised to q8_0 and integer dot products (the Q8_0 row kernels);
// soft-max as ggml; V rows widened and multiply-added (CKernels q8_cache.c). Not the reference's numbers (8-bit
// K and V): an option, never the default.
import CKernels

extension Attention {
    /// One K or V row into the q8_0 cache, quantised as llama.cpp fills its q8_0 cache (the vectorised routine that
    /// also quantises activations). x: `count` floats (whole 32-value blocks) -> count / 32 blocks of 34 bytes.
    public static func quantizeQ8(_ x: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
        llava_quantize_q8_0(x, dst, Int32(count))
    }

    /// q: [n, heads * d] for positions queryStart ..< queryStart + n; k, v: per KV head `headBytes` apart, rows of
    /// `rowBytes` (d / 32 blocks) for positions 0 ..< m. Causal. -> [n, heads * d]
    public static func forwardQ8(
        q: UnsafePointer<Float>, k: UnsafeRawPointer, v: UnsafeRawPointer, headBytes: Int, rowBytes: Int,
        n: Int, m: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, queryStart: Int
    ) -> Tensor {
        let out = Tensor(zeros: [n, heads * d])
        let group = heads / kvHeads, o0 = out.data
        Parallel.forEach(heads) { h in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, m))
            let quantized = UnsafeMutableRawPointer.allocate(byteCount: rowBytes, alignment: 64)
            defer { row.deallocate(); quantized.deallocate() }
            let kvh = h / group
            for i in 0..<n {
                let valid = min(m, queryStart + i + 1)
                llava_quantize_q8_0(q + i * heads * d + h * d, quantized, Int32(d))
                llava_gemv_q8_0_q8_0(k + kvh * headBytes, rowBytes, quantized, row, 0, Int32(valid), Int32(d))
                for j in 0..<valid { row[j] *= scale }
                GGMLNumerics.softmax(row, count: valid)
                llava_mad_q8_0_rows(v + kvh * headBytes, rowBytes, row, Int32(valid), Int32(d), o0 + i * heads * d + h * d)
            }
        }
        return out
    }
}
