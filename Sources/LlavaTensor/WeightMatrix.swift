// A weight matrix [rows = out, cols = in] either dense float32 (products through BLAS) or in a
// ggml block format used in place from the mapped file (products through QuantDot, the
// activation quantised as llama.cpp quantises it). No dequantised copy is ever kept.
import CKernels
import Foundation

public final class QuantizedMatrix: @unchecked Sendable {
    /// `rows`: ggml's row-major blocks. `grouped8`: Q4_0, Q4_1 or Q8_0 regrouped eight rows at a time (CKernels
    /// grouped8.c, grouped8_q4_1.c), the layout the fast VNNI products read; the same bytes per row.
    public enum Layout: Sendable { case rows, grouped8 }

    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let layout: Layout
    /// llama.cpp would hold this weight in its CPU_REPACK buffer (a matrix-product weight of a model it loads, not the
    /// token embedding nor a head tied to it): Q4_0 and Q4_K with rows % 8 == 0 then take its repacked kernels' sums.
    /// False for a matrix multiplied as it is (ggml_mul_mat on a plain tensor: vec_dot, tinyBLAS, tiled).
    public let llamaRepacks: Bool
    private let owner: AnyObject?

    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, owner: AnyObject?, layout: Layout = .rows,
                llamaRepacks: Bool = false) {
        precondition(cols % type.blockSize == 0, "row of \(cols) is not whole \(type) blocks")
        self.type = type; self.rows = rows; self.cols = cols; self.data = data; self.owner = owner; self.layout = layout
        self.llamaRepacks = llamaRepacks
    }

    /// Whether llama.cpp's repacked-kernel sums apply to this matrix's products.
    public var repackedSums: Bool { llamaRepacks && rows % 8 == 0 && (type == .q4_0 || type == .q4_K) }

    public var rowBytes: Int { type.rowBytes(cols) }

    public func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        switch layout {
        case .rows: Dequantize.row(type, data + r * rowBytes, dst, count: cols)
        case .grouped8:
            switch type {
            case .q8_0: llava_dequantize_q8_0x8_row(data, Int32(r), Int32(cols), dst)
            case .q4_1: llava_dequantize_q4_1x8_row(data, Int32(r), Int32(cols), dst)
            default: llava_dequantize_q4_0x8_row(data, Int32(r), Int32(cols), dst)
            }
        }
    }

    /// Owns a buffer this process allocated (a repacked copy).
    final class Allocation: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        init(bytes: Int) { pointer = .allocate(byteCount: max(1, bytes), alignment: 64) }
        deinit { pointer.deallocate() }
    }

    /// Q4_0, Q4_1 or Q8_0 with a multiple of 8 rows, regrouped for the AVX-512 VNNI kernels where the level in force
    /// runs them (elsewhere the regrouped layout would only have a slow fallback, so the rows stay as they are);
    /// anything else comes back as it is. The source (usually a mapped file) is read once and not touched again,
    /// so its pages need not stay in memory.
    public func repackedForSpeed() -> QuantizedMatrix {
        // Q4_1 and Q8_0 regrouped keep vec_dot's lanes (what llama.cpp computes for them: it never repacks them on
        // x86); Q4_0 regrouped sums as llama.cpp's repacked kernels do, so only where it repacks (not a tied head).
        let q41 = type == .q4_1
        let fast = type == .q4_0 ? llava_cpu_has_grouped8_q4_0() != 0 : llava_cpu_has_grouped8() != 0
        guard (type == .q4_0 && repackedSums) || q41 || type == .q8_0, fast,
              layout == .rows, rows % 8 == 0, rows > 0 else { return self }
        let q8 = type == .q8_0
        let buffer = Allocation(bytes: rows * rowBytes)
        let groups = rows / 8, chunks = min(groups, Parallel.threads * 4)
        let per = (groups + chunks - 1) / chunks
        let src = data, dst = buffer.pointer, rb = rowBytes, cols = self.cols
        Parallel.forEach(chunks) { c in
            let g0 = c * per, g1 = min(groups, g0 + per)
            if g0 >= g1 { return }
            if q8 { llava_repack_q8_0x8(src + g0 * 8 * rb, rb, dst + g0 * 8 * rb, Int32((g1 - g0) * 8), Int32(cols)) }
            else if q41 { llava_repack_q4_1x8(src + g0 * 8 * rb, rb, dst + g0 * 8 * rb, Int32((g1 - g0) * 8), Int32(cols)) }
            else { llava_repack_q4_0x8(src + g0 * 8 * rb, rb, dst + g0 * 8 * rb, Int32((g1 - g0) * 8), Int32(cols)) }
        }
        return QuantizedMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(dst), owner: buffer,
                               layout: .grouped8, llamaRepacks: llamaRepacks)
    }
}

public enum WeightMatrix: @unchecked Sendable {
    case dense(Tensor)
    case quantized(QuantizedMatrix)
    /// F16/BF16 kept in place and widened a slab of rows at a time into BLAS — float32 numbers
    /// without a float32 copy of the matrix.
    case widened(QuantizedMatrix)
    /// bfloat16 products through oneDNN for a fixed number of input rows (the opt-in bf16 vision path).
    case bf16(BF16Matrix)

    public var rows: Int {
        switch self {
        case .dense(let t): return t.shape[0]
        case .quantized(let q), .widened(let q): return q.rows
        case .bf16(let b): return b.rows
        }
    }
    public var cols: Int {
        switch self {
        case .dense(let t): return t.columns
        case .quantized(let q), .widened(let q): return q.cols
        case .bf16(let b): return b.cols
        }
    }

    /// The same weights as a bf16 matrix for products with `tokens` rows; nil where bf16 products are unavailable.
    public func bf16(tokens: Int) -> WeightMatrix? {
        switch self {
        case .bf16: return self
        case .dense(let t): return BF16Matrix(t, tokens: tokens).map { .bf16($0) }
        case .quantized(let q), .widened(let q):
            let t = Tensor(zeros: [q.rows, q.cols])
            for r in 0..<q.rows { q.dequantizeRow(r, into: t.data + r * q.cols) }
            return BF16Matrix(t, tokens: tokens).map { .bf16($0) }
        }
    }

    /// y = x W^T (+ bias).  x: [n, cols] -> [n, rows]
    public func apply(_ x: Tensor, bias: Tensor? = nil) -> Tensor {
        switch self {
        case .dense(let w): return Ops.linear(x, w, bias)
        case .bf16(let w): return w.apply(x, bias: bias)
        case .widened(let w):
            precondition(x.columns == w.cols, "linear: input width \(x.columns) != weight cols \(w.cols)")
            let n = x.flatRows
            var shape = x.shape
            shape[shape.count - 1] = w.rows
            let y = Tensor(zeros: shape)
            let slab = max(1, min(w.rows, (1 << 22) / max(w.cols, 1)))   // ~16 MB of float32 at a time
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: slab * w.cols)
            defer { scratch.deallocate() }
            var r0 = 0
            while r0 < w.rows {
                let r1 = min(w.rows, r0 + slab)
                if w.type == .f16 { llava_f16_to_f32(w.data + r0 * w.rowBytes, scratch, (r1 - r0) * w.cols) }
                else { Dequantize.row(w.type, w.data + r0 * w.rowBytes, scratch, count: (r1 - r0) * w.cols) }
                BLAS.gemm(transA: false, transB: true, m: n, n: r1 - r0, k: w.cols, a: x.data, lda: w.cols,
                          b: scratch, ldb: w.cols, c: y.data + r0, ldc: w.rows)
                r0 = r1
            }
            if let bias { for t in 0..<n { for j in 0..<w.rows { y.data[t * w.rows + j] += bias[flat: j] } } }
            return y
        case .quantized(let w):
            precondition(x.columns == w.cols, "linear: input width \(x.columns) != weight cols \(w.cols)")
            let n = x.flatRows
            var shape = x.shape
            shape[shape.count - 1] = w.rows
            let y = Tensor(zeros: shape)
            let yp = y.data
            if [.q4_0, .q4_1, .q8_0, .q5_0, .q5_1].contains(w.type) {
                Self.applyKernel(w, x, y, bias: bias)
                return y
            }
            if [.q4_K, .q5_K, .q6_K].contains(w.type) {
                Self.applyKQuant(w, x, y, bias: bias)
                return y
            }
            for r in 0..<n {
                let a = QuantizedActivation(x.data + r * w.cols, count: w.cols, for: w.type)
                let out = yp + r * w.rows
                a.q.withUnsafeBufferPointer { q in a.f.withUnsafeBufferPointer { f in a.scales.withUnsafeBufferPointer { s in
                    a.sums.withUnsafeBufferPointer { sums in a.ksums.withUnsafeBufferPointer { ks in
                        let qp = q.baseAddress ?? UnsafePointer(bitPattern: 8)!, fp = f.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let sp = s.baseAddress ?? UnsafePointer(bitPattern: 8)!, smp = sums.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let kp = ks.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let chunks = min(Parallel.threads * 4, max(1, w.rows / 64))
                        let per = (w.rows + chunks - 1) / chunks
                        Parallel.forEach(chunks) { c in
                            let lo = c * per, hi = min(w.rows, lo + per)
                            if lo >= hi { return }
                            for o in lo..<hi {
                                out[o] = QuantDot.dot(w.type, w.data + o * w.rowBytes, a, qp, fp, sp, smp, kp, n: w.cols)
                            }
                        }
                    } }
                } } }
                if let bias { for j in 0..<w.rows { out[j] += bias[flat: j] } }
            }
            return y
        }
    }

    /// Q4_0 / Q4_1 / Q8_0 / Q5_0 / Q5_1 through the C kernels: the activation rows quantised once, weight rows split
    /// over the cores — in whole groups of 8 when the matrix is regrouped (every token then goes through each group's
    /// weights).
    static func applyKernel(_ w: QuantizedMatrix, _ x: Tensor, _ y: Tensor, bias: Tensor?) {
        let blocks = w.cols / 32
        let withSum = w.type == .q4_1 || w.type == .q5_1
        let stride = blocks * (withSum ? 36 : 34)
        let tokens = x.flatRows
        let acts = UnsafeMutableRawPointer.allocate(byteCount: max(1, tokens * stride), alignment: 64)
        defer { acts.deallocate() }
        for t in 0..<tokens {
            let xr = x.data + t * w.cols, dst = acts + t * stride
            if withSum { llava_quantize_q8_1(xr, dst, Int32(w.cols)) } else { llava_quantize_q8_0(xr, dst, Int32(w.cols)) }
        }
        let grouped = w.layout == .grouped8
        let units = grouped ? w.rows / 8 : w.rows   // groups of 8 rows, or rows
        let code: Int32 = w.repackedSums ? 5 : [.q4_0: 0, .q4_1: 1, .q8_0: 2, .q5_0: 3, .q5_1: 4][w.type] ?? 2
        // Two pieces per thread for small matrices (more cost more in hand-offs than they win in balance: SmolLM2
        // decode +9–17 % vs 4 per thread); about one per MB for large ones, so the thread that finishes first waits
        // for at most a small piece of a 7B's 25 MB matrices.
        let bySize = tokens == 1 ? w.rows * w.rowBytes >> 20 : 0
        let chunks = min(max(Parallel.threads * 2, bySize), max(1, units))
        let per = (units + chunks - 1) / chunks
        let a = UnsafeRawPointer(acts), out = y.data
        Parallel.forEach(chunks) { c in
            let lo = Int32(c * per), hi = Int32(min(units, c * per + per))
            if lo >= hi { return }
            switch (grouped, w.type) {
            case (true, .q8_0): llava_gemm_q8_0x8(w.data, a, stride, Int32(tokens), out, w.rows, lo, hi, Int32(w.cols))
            case (true, .q4_1): llava_gemm_q4_1x8(w.data, a, stride, Int32(tokens), out, w.rows, lo, hi, Int32(w.cols))
            case (true, _): llava_gemm_q4_0x8(w.data, a, stride, Int32(tokens), out, w.rows, lo, hi, Int32(w.cols))
            case (false, _): llava_gemm_q(code, w.data, w.rowBytes, a, stride, Int32(tokens), out, w.rows, lo, hi, Int32(w.cols))
            }
        }
        if let bias {
            for t in 0..<tokens { for j in 0..<w.rows { out[t * w.rows + j] += bias[flat: j] } }
        }
    }

    /// llama.cpp's kernel for a k-quant product of `tokens` activation rows, per row range of the activations.
    /// Q4_K with a multiple of 8 rows is repacked by llama.cpp (CPU_REPACK, on by default) when it is a model's weight
    /// (`repacked`, QuantizedMatrix.llamaRepacks): 4-row groups through its
    /// gemm, the `tokens % 4` rows after them (all rows below 4) through its gemv. Otherwise (Q5_K, Q6_K, Q4_K of
    /// other shapes) 8 rows or more go through the tiled path and fewer through vec_dot.
    public static func kQuantModes(type: GGMLType, rows: Int, tokens: Int, repacked: Bool = true)
        -> [(range: Range<Int>, mode: Int32) ] {
        if type == .q4_K && rows % 8 == 0 && repacked {
            let grouped = tokens >= 4 ? tokens - tokens % 4 : 0
            return [(0..<grouped, Int32(LLAVA_KQ_GEMM)), (grouped..<tokens, Int32(LLAVA_KQ_GEMV))]
                .filter { !$0.range.isEmpty }
        }
        return [(0..<tokens, Int32(tokens >= 8 ? LLAVA_KQ_TILED : LLAVA_KQ_VECDOT))]
    }

    /// Q4_K / Q5_K / Q6_K through CKernels kquants.c: activations quantised to Q8_K once, weight rows split over the
    /// cores, each product in the mode llama.cpp would use for this many rows.
    static func applyKQuant(_ w: QuantizedMatrix, _ x: Tensor, _ y: Tensor, bias: Tensor?) {
        let tokens = x.flatRows, stride = w.cols / 256 * 292
        let acts = UnsafeMutableRawPointer.allocate(byteCount: max(1, tokens * stride), alignment: 64)
        defer { acts.deallocate() }
        for t in 0..<tokens { llava_quantize_q8_K(x.data + t * w.cols, acts + t * stride, Int32(w.cols)) }
        let code = Int32(w.type == .q4_K ? LLAVA_KQ_Q4_K : w.type == .q5_K ? LLAVA_KQ_Q5_K : LLAVA_KQ_Q6_K)
        let bySize = tokens == 1 ? w.rows * w.rowBytes >> 20 : 0
        let chunks = min(max(Parallel.threads * 2, bySize), max(1, w.rows / 4))
        let per = (w.rows + chunks - 1) / chunks
        let a = UnsafeRawPointer(acts), out = y.data
        for (range, mode) in kQuantModes(type: w.type, rows: w.rows, tokens: tokens, repacked: w.llamaRepacks) {
            Parallel.forEach(chunks) { c in
                let lo = c * per, hi = min(w.rows, lo + per)
                if lo >= hi { return }
                llava_gemm_k(code, mode, w.data, w.rowBytes, a + range.lowerBound * stride, stride, Int32(range.count),
                             out + range.lowerBound * w.rows, w.rows, Int32(lo), Int32(hi), Int32(w.cols))
            }
        }
        if let bias {
            for t in 0..<tokens { for j in 0..<w.rows { out[t * w.rows + j] += bias[flat: j] } }
        }
    }

    /// Rows of the matrix as float32 (embedding lookup).  -> [ids.count, cols]
    public func gather(_ ids: [Int]) -> Tensor {
        switch self {
        case .dense(let t): return Ops.embedding(t, ids: ids)
        case .quantized(let q), .widened(let q):
            let y = Tensor(zeros: [ids.count, q.cols])
            for (i, id) in ids.enumerated() { q.dequantizeRow(id, into: y.data + i * q.cols) }
            return y
        case .bf16:
            preconditionFailure("bf16 matrices are packed for products, not row lookups")   // never made for embeddings
        }
    }
}

public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ v: T) { value = v }
}
