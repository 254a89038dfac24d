// llama.cpp's CPU arithmetic, reproduced operation for operation so a GGUF model gives its numbers
// to the bit: attention with K/V/Q/probabilities in f16, the f16 dot products (ggml_vec_dot_f16's four
// 16-lane accumulators for one query; tinyBLAS's single accumulator for a batch), the soft-max with its
// chunked sums and ggml's vectorised expf, SwiGLU — the arithmetic itself lives in CKernels.
// Why: a quantised model is chaotic under int8 activation rounding — a 1e-6 difference in one
// layer can move final logits by tenths — so "the same tokens as llama.cpp" needs the same sums.
import CKernels
import Foundation

public enum GGMLNumerics {
    /// ggml_vec_swiglu_f32 in place: x = silu(x) * g (CKernels: ggml_v_expf, 16 wide).
    public static func swiglu(_ x: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, count n: Int) {
        llava_swiglu_ggml(x, g, Int32(n))
    }

    /// ggml's soft-max of one scaled, masked row, in place (CKernels).
    public static func softmax(_ row: UnsafeMutablePointer<Float>, count n: Int) {
        llava_softmax_ggml(row, Int32(n))
    }
}

extension Attention {
    /// Attention as llama.cpp's CPU backend computes it without flash attention: Q and K/V in f16,
    /// KQ through vec_dot_f16 (one query) or tinyBLAS (a batch), soft-max as ggml does it,
    /// probabilities to f16, then KQV the same way. q: [n, heads*d] (already f16-rounded);
    /// k: per KV head `kHeadStride` elements apart, [m, d] each; V given transposed (f16-rounded). Row lengths over the cache are padded to 256 with zeros,
    /// as llama.cpp's KV view is.
    /// `vt`: V transposed, [kvHeads * d] rows of `vtStride` (≥ m, zero past m).
    public static func forwardGGML(
        q: UnsafePointer<Float>, k: UnsafePointer<UInt16>, kHeadStride: Int, vt: UnsafePointer<UInt16>, vtStride: Int,
        n: Int, m: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, queryStart: Int
    ) -> Tensor {
        let out = Tensor(zeros: [n, heads * d])
        let padded = (m + 255) / 256 * 256
        let group = heads / kvHeads
        let batch = n >= 2
        // Zero probabilities past m add exact zeros, so the sums need only reach m rounded up to a step.
        let vecLen = min(vtStride, (m + 63) / 64 * 64), tinyLen = min(vtStride, (m + 15) / 16 * 16)
        // Heads are independent: split them over the cores (each with its own score row), same sums in each.
        let o0 = out.data
        Parallel.forEach(heads) { h in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: padded)
            defer { row.deallocate() }
            let kvh = h / group
            for i in 0..<n {
                let qi = q + i * heads * d + h * d
                let limit = queryStart + i + 1
                let valid = min(m, limit)
                if batch && d % 16 == 0 {
                    for j in 0..<valid { row[j] = llava_dot_h16_tiny(k + kvh * kHeadStride + j * d, qi, Int32(d)) * scale }
                } else {
                    // One C call for the row (a decode step's hot loop), the same sum per position.
                    llava_dots_h16_vec(k + kvh * kHeadStride, d, qi, Int32(d), Int32(valid), scale, row)
                }
                for j in valid..<padded { row[j] = -.infinity }
                GGMLNumerics.softmax(row, count: padded)
                llava_round_to_half(row, padded)
                let o = o0 + i * heads * d + h * d
                if batch {
                    for e in 0..<d { o[e] = llava_dot_h16_tiny(vt + (kvh * d + e) * vtStride, row, Int32(tinyLen)) }
                } else {
                    llava_dots_h16_vec(vt + kvh * d * vtStride, vtStride, row, Int32(vecLen), Int32(d), 1, o)
                }
            }
        }
        return out
    }

    /// Attention as llama.cpp's CPU backend computes it with flash attention on (CKernels' flash_attn.c), in the
    /// kernel llama.cpp picks: tiled for a ubatch of 64 tokens or more (q as computed, not rounded), split-KV for one
    /// token over a KV view of 512 cells or more (the view is the cells used rounded up to 256; the keys are split in
    /// `splits` ranges, llama.cpp's thread count), its one-chunk kernel otherwise (q rounded to f16).
    /// q: [n, heads*d]; k and v: per KV head `headStride` elements apart, [m, d] each in f16 bits.
    /// Returns [n, heads*d].
    public static func flashGGML(
        q: UnsafePointer<Float>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, headStride: Int,
        n: Int, m: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, queryStart: Int, splits: Int
    ) -> Tensor {
        let out = Tensor(zeros: [n, heads * d])
        let group = heads / kvHeads, width = heads * d
        let o0 = out.data
        if flashKernel(queries: n, cells: m) == .tiled {
            let tiles = (n + 63) / 64
            Parallel.forEach(heads * tiles) { item in
                let h = item / tiles, r0 = item % tiles * 64
                llava_flash_attn_tiled_f16(q + r0 * width + h * d, width, Int32(min(64, n - r0)),
                                           Int32(queryStart + r0),
                                           k + h / group * headStride, v + h / group * headStride, d, Int32(m),
                                           Int32(d), scale, o0 + r0 * width + h * d, width)
            }
            return out
        }
        if flashKernel(queries: n, cells: m) == .splitKV {
            let view = (m + 255) / 256 * 256, chunk = (view + max(1, splits) - 1) / max(1, splits)
            Parallel.forEach(heads) { h in
                let row = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
                let acc = UnsafeMutablePointer<UInt16>.allocate(capacity: d)
                let part = UnsafeMutablePointer<Float>.allocate(capacity: d)
                let all = o0 + h * d   // [d], the merged accumulator, normalised in place
                defer { row.deallocate(); acc.deallocate(); part.deallocate() }
                let kh = k + h / group * headStride, vh = v + h / group * headStride
                var mAll = -Float.infinity, sAll: Float = 0
                for lo in stride(from: 0, to: min(view, m), by: chunk) {
                    let count = min(lo + chunk, m) - lo   // cells past m are masked: skipped
                    llava_dots_h16_vec(kh + lo * d, d, q + h * d, Int32(d), Int32(count), scale, row)
                    var mc: Float = 0, sc: Float = 0
                    llava_flash_attn_partial_f16(row, Int32(count), vh + lo * d, d, Int32(d), acc, part, &mc, &sc)
                    llava_flash_attn_merge(part, mc, sc, Int32(d), all, &mAll, &sAll)
                }
                if sAll != 0 {
                    let inv = 1 / sAll
                    for e in 0..<d { all[e] *= inv }
                }
            }
            return out
        }
        Parallel.forEach(heads) { h in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, m))
            let acc = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, d))
            defer { row.deallocate(); acc.deallocate() }
            let kh = k + h / group * headStride, vh = v + h / group * headStride
            for i in 0..<n {
                let valid = min(m, queryStart + i + 1)
                llava_dots_h16_vec(kh, d, q + i * width + h * d, Int32(d), Int32(valid), scale, row)
                llava_flash_attn_row_f16(row, Int32(valid), vh, d, Int32(d), acc, o0 + i * width + h * d)
            }
        }
        return out
    }

    /// llama.cpp's three flash-attention kernels on a CPU.
    public enum FlashKernel: Sendable { case oneChunk, tiled, splitKV }

    /// The kernel llama.cpp runs for a ubatch of `queries` tokens whose last one sees `cells` cells (its KV view is
    /// those cells rounded up to 256): split-KV for one token over a view of 512 or more, tiled from 64 tokens.
    public static func flashKernel(queries n: Int, cells m: Int) -> FlashKernel {
        if n == 1 && (m + 255) / 256 * 256 >= 512 { return .splitKV }
        return n >= 64 ? .tiled : .oneChunk
    }
}
