// A weight matrix [rows = out, cols = in] either dense float32 (products through BLAS) or in a
// ggml block format used in place from the mapped file (products through QuantDot, the
// activation quantised as llama.cpp quantises it). No dequantised copy is ever kept.
import CKernels
import Dispatch

public final class QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    private let owner: AnyObject?

    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, owner: AnyObject?) {
        precondition(cols % type.blockSize == 0, "row of \(cols) is not whole \(type) blocks")
        self.type = type; self.rows = rows; self.cols = cols; self.data = data; self.owner = owner
    }

    public var rowBytes: Int { type.rowBytes(cols) }

    public func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        Dequantize.row(type, data + r * rowBytes, dst, count: cols)
    }
}

public enum WeightMatrix: @unchecked Sendable {
    case dense(Tensor)
    case quantized(QuantizedMatrix)

    public var rows: Int {
        switch self { case .dense(let t): return t.shape[0]; case .quantized(let q): return q.rows }
    }
    public var cols: Int {
        switch self { case .dense(let t): return t.columns; case .quantized(let q): return q.cols }
    }

    /// y = x W^T (+ bias).  x: [n, cols] -> [n, rows]
    public func apply(_ x: Tensor, bias: Tensor? = nil) -> Tensor {
        switch self {
        case .dense(let w): return Ops.linear(x, w, bias)
        case .quantized(let w):
            precondition(x.columns == w.cols, "linear: input width \(x.columns) != weight cols \(w.cols)")
            let n = x.flatRows
            var shape = x.shape
            shape[shape.count - 1] = w.rows
            let y = Tensor(zeros: shape)
            let yp = y.data
            if [.q4_0, .q4_1, .q8_0].contains(w.type) {
                Self.applyKernel(w, x, y, bias: bias)
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

    /// Q4_0 / Q4_1 / Q8_0 through the C kernels: the activation row quantised once, weight rows split over the cores.
    static func applyKernel(_ w: QuantizedMatrix, _ x: Tensor, _ y: Tensor, bias: Tensor?) {
        let blocks = w.cols / 32
        let withSum = w.type == .q4_1
        let stride = blocks * (withSum ? 36 : 34)
        let tokens = x.flatRows
        let acts = UnsafeMutableRawPointer.allocate(byteCount: max(1, tokens * stride), alignment: 64)
        defer { acts.deallocate() }
        for t in 0..<tokens {
            let xr = x.data + t * w.cols, dst = acts + t * stride
            if withSum { llava_quantize_q8_1(xr, dst, Int32(w.cols)) } else { llava_quantize_q8_0(xr, dst, Int32(w.cols)) }
        }
        let code: Int32 = w.type == .q4_0 ? 0 : w.type == .q4_1 ? 1 : 2
        let chunks = min(Parallel.threads * 4, max(1, w.rows / 64))
        let per = (w.rows + chunks - 1) / chunks
        let a = UnsafeRawPointer(acts), out = y.data
        Parallel.forEach(chunks) { c in
            let lo = c * per, hi = min(w.rows, lo + per)
            if lo >= hi { return }
            llava_gemm_q(code, w.data, w.rowBytes, a, stride, Int32(tokens), out, w.rows, Int32(lo), Int32(hi), Int32(w.cols))
        }
        if let bias {
            for t in 0..<tokens { for j in 0..<w.rows { out[t * w.rows + j] += bias[flat: j] } }
        }
    }

    /// Rows of the matrix as float32 (embedding lookup).  -> [ids.count, cols]
    public func gather(_ ids: [Int]) -> Tensor {
        switch self {
        case .dense(let t): return Ops.embedding(t, ids: ids)
        case .quantized(let q):
            let y = Tensor(zeros: [ids.count, q.cols])
            for (i, id) in ids.enumerated() { q.dequantizeRow(id, into: y.data + i * q.cols) }
            return y
        }
    }
}

/// A parallel-for over the cores.
public enum Parallel {
    nonisolated(unsafe) public static var threads: Int = max(1, min(ProcessInfo_activeCores(), 64))

    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 { for i in 0..<count { body(i) }; return }
        // The body only touches disjoint slices of memory its caller owns; concurrentPerform
        // returns before `body` goes out of scope.
        withoutActuallyEscaping(body) { b in
            let box = UncheckedSendable(b)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

@inline(__always) func ProcessInfo_activeCores() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return Int(sysconf(_SC_NPROCESSORS_ONLN))
    #endif
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
