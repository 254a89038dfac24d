// A weight matrix [out, in] held as bfloat16 in oneDNN's preferred blocked layout, for products of many rows at
// once (the CLIP tower's 577 positions): activations rounded to bf16, products summed in f32 by oneDNN's
// AVX512-BF16 kernels — how PyTorch runs a bf16 checkpoint on this CPU. Twice the f32 GEMM's throughput here
// (measured ~445 vs ~155 GFLOPS for 577×1024×4096 on two Zen 4 cores), at bf16's precision (8 significant bits):
// an opt-in speed mode, never the reference path. Linux only (Debian's libdnnl-dev); elsewhere `isAvailable` is false.
import CKernels
import Foundation
#if canImport(COneDNN)
import COneDNN
#endif

public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int      // out
    public let cols: Int      // in
    public let tokens: Int    // the row count of every input (the primitive is built for it)
    #if canImport(COneDNN)
    private let primitive: dnnl_primitive_t
    private let weights: dnnl_memory_t
    private let weightBuffer: UnsafeMutableRawPointer
    private var srcDesc = dnnl_memory_desc_t(), dstDesc = dnnl_memory_desc_t(), biasDesc = dnnl_memory_desc_t()
    #endif

    /// oneDNN is linked and the CPU has AVX512-BF16 (without it oneDNN would emulate bf16, slower than f32).
    public static var isAvailable: Bool {
        #if canImport(COneDNN)
        return llava_cpu_has_bf16() != 0 && OneDNNContext.shared != nil
        #else
        return false
        #endif
    }

    /// Rounds `weight` [out, in] to bf16 and packs it for products with `tokens` rows. Nil when unavailable.
    public init?(_ weight: Tensor, tokens: Int) {
        #if canImport(COneDNN)
        guard Self.isAvailable, let ctx = OneDNNContext.shared, weight.rank == 2 else { return nil }
        rows = weight.shape[0]; cols = weight.shape[1]; self.tokens = tokens
        var plain = dnnl_memory_desc_t(), any = dnnl_memory_desc_t(), opDesc = dnnl_matmul_desc_t()
        let kn: [Int64] = [Int64(cols), Int64(rows)], mk: [Int64] = [Int64(tokens), Int64(cols)]
        let mn: [Int64] = [Int64(tokens), Int64(rows)], bn: [Int64] = [1, Int64(rows)]
        guard dnnl_memory_desc_init_by_tag(&srcDesc, 2, mk, dnnl_bf16, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&plain, 2, kn, dnnl_bf16, dnnl_ba) == dnnl_success,   // our [out, in] rows
              dnnl_memory_desc_init_by_tag(&any, 2, kn, dnnl_bf16, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&dstDesc, 2, mn, dnnl_f32, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&biasDesc, 2, bn, dnnl_f32, dnnl_ab) == dnnl_success,
              dnnl_matmul_desc_init(&opDesc, &srcDesc, &any, &biasDesc, &dstDesc) == dnnl_success else { return nil }
        var pd: dnnl_primitive_desc_t? = nil
        guard dnnl_primitive_desc_create(&pd, &opDesc, nil, ctx.engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        guard let packedDesc = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0) else { return nil }
        var prim: dnnl_primitive_t? = nil
        guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else { return nil }
        // bf16 copy in our layout, then oneDNN's reorder into the packed one.
        let bits = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * cols)
        defer { bits.deallocate() }
        llava_f32_to_bf16(weight.data, bits, rows * cols)
        let size = dnnl_memory_desc_get_size(packedDesc)
        weightBuffer = .allocate(byteCount: max(64, size), alignment: 64)
        var src: dnnl_memory_t? = nil, dst: dnnl_memory_t? = nil
        var rpd: dnnl_primitive_desc_t? = nil, reorder: dnnl_primitive_t? = nil
        guard dnnl_memory_create(&src, &plain, ctx.engine, bits) == dnnl_success,
              dnnl_memory_create(&dst, packedDesc, ctx.engine, weightBuffer) == dnnl_success,
              dnnl_reorder_primitive_desc_create(&rpd, &plain, ctx.engine, packedDesc, ctx.engine, nil) == dnnl_success,
              dnnl_primitive_create(&reorder, rpd) == dnnl_success, let src, let dst, let reorder else {
            weightBuffer.deallocate(); dnnl_primitive_destroy(prim); return nil
        }
        defer { dnnl_memory_destroy(src); dnnl_primitive_destroy(reorder); if let rpd { dnnl_primitive_desc_destroy(rpd) } }
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: src), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: dst)]
        let ok = ctx.run { dnnl_primitive_execute(reorder, ctx.stream, 2, args) == dnnl_success }
        guard ok else { weightBuffer.deallocate(); dnnl_memory_destroy(dst); dnnl_primitive_destroy(prim); return nil }
        primitive = prim; weights = dst
        #else
        return nil
        #endif
    }

    deinit {
        #if canImport(COneDNN)
        dnnl_primitive_destroy(primitive)
        dnnl_memory_destroy(weights)
        weightBuffer.deallocate()
        #endif
    }

    /// y = x W^T + b for any number of rows: the primitive's `tokens` rows at a time, a short last piece padded
    /// with zero rows.  x: [n, in] -> [n, out]
    public func apply(_ x: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.columns == cols, "bf16 product built for \(cols) inputs, given \(x.shape)")
        let n = x.flatRows
        if n == tokens { return applyWhole(x, bias: bias) }
        var shape = x.shape
        shape[shape.count - 1] = rows
        let y = Tensor(zeros: shape)
        var r0 = 0
        while r0 < n {
            let count = min(tokens, n - r0)
            let piece = Tensor(zeros: [tokens, cols])
            piece.data.update(from: x.data + r0 * cols, count: count * cols)
            let out = applyWhole(piece, bias: bias)
            (y.data + r0 * rows).update(from: out.data, count: count * rows)
            r0 += count
        }
        return y
    }

    /// x: exactly [tokens, in] -> [tokens, out]
    private func applyWhole(_ x: Tensor, bias: Tensor?) -> Tensor {
        let y = Tensor(zeros: [tokens, rows])
        #if canImport(COneDNN)
        guard let ctx = OneDNNContext.shared else { preconditionFailure("oneDNN unavailable") }
        let zeros = bias == nil ? Tensor(zeros: [rows]) : nil
        let b = bias ?? zeros!
        let ok = ctx.run {
            // The activations become bf16 through oneDNN's own (multithreaded) reorder into a reused buffer: a
            // single-threaded conversion beside oneDNN's spinning threads cost as much as the product.
            guard let a = ctx.bf16Copy(of: x.data, rows: tokens, cols: cols) else { return false }
            var src: dnnl_memory_t? = nil, dst: dnnl_memory_t? = nil, bm: dnnl_memory_t? = nil
            guard dnnl_memory_create(&src, &srcDesc, ctx.engine, a) == dnnl_success,
                  dnnl_memory_create(&dst, &dstDesc, ctx.engine, y.data) == dnnl_success,
                  dnnl_memory_create(&bm, &biasDesc, ctx.engine, b.data) == dnnl_success, let src, let dst, let bm else { return false }
            defer { dnnl_memory_destroy(src); dnnl_memory_destroy(dst); dnnl_memory_destroy(bm) }
            let args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: src), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
                        dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: bm), dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dst)]
            return dnnl_primitive_execute(primitive, ctx.stream, 4, args) == dnnl_success
        }
        precondition(ok, "oneDNN matmul failed")
        #endif
        return y
    }
}

#if canImport(COneDNN)
/// One CPU engine and stream for the process; executions are serialised (a stream is not for concurrent use).
final class OneDNNContext: @unchecked Sendable {
    static let shared: OneDNNContext? = OneDNNContext()
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    private let lock = NSLock()

    private init?() {
        var e: dnnl_engine_t? = nil, s: dnnl_stream_t? = nil
        guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else { return nil }
        guard dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue) == dnnl_success, let s else { return nil }
        engine = e; stream = s
    }

    /// Runs `body` (which enqueues on `stream`) alone, then waits for the stream.
    func run(_ body: () -> Bool) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard body() else { return false }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    // A reused bf16 buffer and the f32 -> bf16 reorders into it, per shape. Only touched inside `run`.
    private var scratch: UnsafeMutableRawPointer? = nil
    private var scratchBytes = 0
    private var reorders: [[Int]: dnnl_primitive_t] = [:]

    /// Enqueues x [rows, cols] f32 -> bf16 into the scratch buffer and returns it (valid until the next call).
    func bf16Copy(of x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) -> UnsafeMutableRawPointer? {
        let bytes = rows * cols * 2
        if bytes > scratchBytes {
            scratch?.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: 64)
            scratchBytes = bytes
        }
        guard let scratch else { return nil }
        var fd = dnnl_memory_desc_t(), bd = dnnl_memory_desc_t()
        let dims: [Int64] = [Int64(rows), Int64(cols)]
        guard dnnl_memory_desc_init_by_tag(&fd, 2, dims, dnnl_f32, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&bd, 2, dims, dnnl_bf16, dnnl_ab) == dnnl_success else { return nil }
        let key = [rows, cols]
        if reorders[key] == nil {
            var rpd: dnnl_primitive_desc_t? = nil, r: dnnl_primitive_t? = nil
            guard dnnl_reorder_primitive_desc_create(&rpd, &fd, engine, &bd, engine, nil) == dnnl_success, let rpd else { return nil }
            defer { dnnl_primitive_desc_destroy(rpd) }
            guard dnnl_primitive_create(&r, rpd) == dnnl_success, let r else { return nil }
            reorders[key] = r
        }
        guard let reorder = reorders[key] else { return nil }
        var src: dnnl_memory_t? = nil, dst: dnnl_memory_t? = nil
        guard dnnl_memory_create(&src, &fd, engine, x) == dnnl_success,
              dnnl_memory_create(&dst, &bd, engine, scratch) == dnnl_success, let src, let dst else { return nil }
        defer { dnnl_memory_destroy(src); dnnl_memory_destroy(dst) }
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: src), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: dst)]
        return dnnl_primitive_execute(reorder, stream, 2, args) == dnnl_success ? scratch : nil
    }
}
#endif
