// Bidirectional multi-head attention for the bf16 vision path, all in oneDNN (so no second thread pool competes
// with oneDNN's): Q, K, V rounded to bf16, scores = Q K^T / sqrt(d) as one batched bf16 product over the heads
// (f32 sums), softmax in f32 written as bf16, context = P V as a second batched product written straight into the
// [tokens, heads * d] layout. PyTorch's bf16 scaled-dot-product attention rounds the same values.
import Foundation
#if canImport(COneDNN)
import COneDNN
#endif

public final class BF16Attention: @unchecked Sendable {
    public let tokens: Int, heads: Int, headDim: Int
    #if canImport(COneDNN)
    private var toBF16: dnnl_primitive_t? = nil, scores: dnnl_primitive_t? = nil
    private var softmax: dnnl_primitive_t? = nil, context: dnnl_primitive_t? = nil
    private var stridedF32 = dnnl_memory_desc_t(), denseBF16 = dnnl_memory_desc_t(), keysT = dnnl_memory_desc_t()
    private var scoresF32 = dnnl_memory_desc_t(), probsBF16 = dnnl_memory_desc_t(), outStrided = dnnl_memory_desc_t()
    #endif

    /// For `tokens` positions of `heads` heads of `headDim`; nil where oneDNN bf16 is unavailable.
    public init?(tokens n: Int, heads h: Int, headDim d: Int) {
        tokens = n; heads = h; headDim = d
        #if canImport(COneDNN)
        guard BF16Matrix.isAvailable, let ctx = OneDNNContext.shared else { return nil }
        let N = Int64(n), H = Int64(h), D = Int64(d)
        func ok(_ s: dnnl_status_t) -> Bool { s == dnnl_success }
        // [H, N, d] views of [N, H*d] rows, the dense bf16 copies, K^T as a view, scores, probabilities, output.
        guard ok(dnnl_memory_desc_init_by_strides(&stridedF32, 3, [H, N, D], dnnl_f32, [D, H * D, 1])),
              ok(dnnl_memory_desc_init_by_tag(&denseBF16, 3, [H, N, D], dnnl_bf16, dnnl_abc)),
              ok(dnnl_memory_desc_init_by_strides(&keysT, 3, [H, D, N], dnnl_bf16, [N * D, 1, D])),
              ok(dnnl_memory_desc_init_by_tag(&scoresF32, 3, [H, N, N], dnnl_f32, dnnl_abc)),
              ok(dnnl_memory_desc_init_by_tag(&probsBF16, 3, [H, N, N], dnnl_bf16, dnnl_abc)),
              ok(dnnl_memory_desc_init_by_strides(&outStrided, 3, [H, N, D], dnnl_f32, [D, H * D, 1])) else { return nil }
        func make(_ pd: dnnl_primitive_desc_t?) -> dnnl_primitive_t? {
            guard let pd else { return nil }
            defer { dnnl_primitive_desc_destroy(pd) }
            var p: dnnl_primitive_t? = nil
            return ok(dnnl_primitive_create(&p, pd)) ? p : nil
        }
        var rpd: dnnl_primitive_desc_t? = nil
        _ = dnnl_reorder_primitive_desc_create(&rpd, &stridedF32, ctx.engine, &denseBF16, ctx.engine, nil)
        toBF16 = make(rpd)
        var attr: dnnl_primitive_attr_t? = nil
        _ = dnnl_primitive_attr_create(&attr)
        defer { if let attr { dnnl_primitive_attr_destroy(attr) } }
        var scale = 1 / Float(d).squareRoot()
        _ = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale)
        var qk = dnnl_matmul_desc_t(), pv = dnnl_matmul_desc_t(), sm = dnnl_softmax_v2_desc_t()
        var pd1: dnnl_primitive_desc_t? = nil, pd2: dnnl_primitive_desc_t? = nil, pd3: dnnl_primitive_desc_t? = nil
        if ok(dnnl_matmul_desc_init(&qk, &denseBF16, &keysT, nil, &scoresF32)) {
            _ = dnnl_primitive_desc_create(&pd1, &qk, attr, ctx.engine, nil)
        }
        scores = make(pd1)
        if ok(dnnl_softmax_v2_forward_desc_init(&sm, dnnl_forward_inference, dnnl_softmax_accurate, &scoresF32, &probsBF16, 2)) {
            _ = dnnl_primitive_desc_create(&pd2, &sm, nil, ctx.engine, nil)
        }
        softmax = make(pd2)
        if ok(dnnl_matmul_desc_init(&pv, &probsBF16, &denseBF16, nil, &outStrided)) {
            _ = dnnl_primitive_desc_create(&pd3, &pv, nil, ctx.engine, nil)
        }
        context = make(pd3)
        guard toBF16 != nil, scores != nil, softmax != nil, context != nil else { return nil }
        #else
        return nil
        #endif
    }

    deinit {
        #if canImport(COneDNN)
        for p in [toBF16, scores, softmax, context] { if let p { dnnl_primitive_destroy(p) } }
        #endif
    }

    /// q, k, v: [tokens, heads * headDim] -> [tokens, heads * headDim]
    public func forward(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let out = Tensor(zeros: [tokens, heads * headDim])
        #if canImport(COneDNN)
        guard let ctx = OneDNNContext.shared, let toBF16, let scores, let softmax, let context else {
            preconditionFailure("oneDNN attention unavailable")
        }
        // Per call, not per tower: between images these 34 MB (ViT-L/336) go back to the heap for the language
        // model's prefill to reuse.
        let n = tokens, h = heads, d = headDim
        let qb = UnsafeMutableRawPointer.allocate(byteCount: h * n * d * 2, alignment: 64)
        let kb = UnsafeMutableRawPointer.allocate(byteCount: h * n * d * 2, alignment: 64)
        let vb = UnsafeMutableRawPointer.allocate(byteCount: h * n * d * 2, alignment: 64)
        let sbuf = UnsafeMutableRawPointer.allocate(byteCount: h * n * n * 4, alignment: 64)
        let pbuf = UnsafeMutableRawPointer.allocate(byteCount: h * n * n * 2, alignment: 64)
        defer { for b in [qb, kb, vb, sbuf, pbuf] { b.deallocate() } }
        let done = ctx.run {
            var made: [dnnl_memory_t] = []
            defer { made.forEach { dnnl_memory_destroy($0) } }
            func mem(_ desc: inout dnnl_memory_desc_t, _ p: UnsafeMutableRawPointer) -> dnnl_memory_t? {
                var m: dnnl_memory_t? = nil
                guard dnnl_memory_create(&m, &desc, ctx.engine, p) == dnnl_success, let m else { return nil }
                made.append(m)
                return m
            }
            func run(_ p: dnnl_primitive_t, _ args: [(Int32, dnnl_memory_t?)]) -> Bool {
                let a = args.compactMap { pair in pair.1.map { dnnl_exec_arg_t(arg: pair.0, memory: $0) } }
                return a.count == args.count && dnnl_primitive_execute(p, ctx.stream, Int32(a.count), a) == dnnl_success
            }
            return run(toBF16, [(DNNL_ARG_FROM, mem(&stridedF32, q.data)), (DNNL_ARG_TO, mem(&denseBF16, qb))])
                && run(toBF16, [(DNNL_ARG_FROM, mem(&stridedF32, k.data)), (DNNL_ARG_TO, mem(&denseBF16, kb))])
                && run(toBF16, [(DNNL_ARG_FROM, mem(&stridedF32, v.data)), (DNNL_ARG_TO, mem(&denseBF16, vb))])
                && run(scores, [(DNNL_ARG_SRC, mem(&denseBF16, qb)), (DNNL_ARG_WEIGHTS, mem(&keysT, kb)),
                                (DNNL_ARG_DST, mem(&scoresF32, sbuf))])
                && run(softmax, [(DNNL_ARG_SRC, mem(&scoresF32, sbuf)), (DNNL_ARG_DST, mem(&probsBF16, pbuf))])
                && run(context, [(DNNL_ARG_SRC, mem(&probsBF16, pbuf)), (DNNL_ARG_WEIGHTS, mem(&denseBF16, vb)),
                                 (DNNL_ARG_DST, mem(&outStrided, out.data))])
        }
        precondition(done, "oneDNN attention failed")
        #endif
        return out
    }
}
