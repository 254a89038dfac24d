// Quantisation to ggml block formats.
//
// Weights: the reference quantisers of ggml-quants.c (quantize_row_*_ref), byte for byte, so a
// file we convert holds what llama.cpp's own quantiser would write.
// Activations: what ggml's CPU backend does to the right-hand vector before a quantised dot
// product (Q8_0 / Q8_1 for the 32-blocks, Q8_K for the k-quants), following its x86 SIMD code:
// scale 127 / amax and rounding to nearest even.
import Foundation

public enum Quantize {
    /// Whole blocks of `count` floats into `dst` (type.rowBytes(count) bytes).
    public static func row(_ type: GGMLType, _ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        let nb = count / type.blockSize
        switch type {
        case .f32: dst.copyMemory(from: x, byteCount: count * 4)
        case .f16: for i in 0..<count { dst.storeBytes(of: HalfBits.fromFloat(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for i in 0..<nb {
                let v = x + 32 * i, b = dst + 34 * i
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(v[j])) }
                let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                b.storeBytes(of: HalfBits.fromFloat(d), as: UInt16.self)
                for j in 0..<32 { b.storeBytes(of: Int8((v[j] * id).rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + j, as: Int8.self) }
            }
        case .q4_0, .q5_0:
            let levels: Float = type == .q4_0 ? -8 : -16, bytes = type == .q4_0 ? 18 : 22
            for i in 0..<nb {
                let v = x + 32 * i, b = dst + bytes * i
                var amax: Float = 0, mx: Float = 0
                for j in 0..<32 where amax < abs(v[j]) { amax = abs(v[j]); mx = v[j] }
                let d = mx / levels, id: Float = d != 0 ? 1 / d : 0
                b.storeBytes(of: HalfBits.fromFloat(d), as: UInt16.self)
                var qh: UInt32 = 0
                for j in 0..<16 {
                    if type == .q4_0 {
                        let a = UInt8(min(15, Int(Int8(truncatingIfNeeded: Int(v[j] * id + 8.5)))))
                        let c = UInt8(min(15, Int(Int8(truncatingIfNeeded: Int(v[j + 16] * id + 8.5)))))
                        b.storeBytes(of: a | (c << 4), toByteOffset: 2 + j, as: UInt8.self)
                    } else {
                        let a = UInt8(min(31, Int(Int8(truncatingIfNeeded: Int(v[j] * id + 16.5)))))
                        let c = UInt8(min(31, Int(Int8(truncatingIfNeeded: Int(v[j + 16] * id + 16.5)))))
                        b.storeBytes(of: (a & 0xF) | ((c & 0xF) << 4), toByteOffset: 6 + j, as: UInt8.self)
                        qh |= UInt32((a & 0x10) >> 4) << UInt32(j)
                        qh |= UInt32((c & 0x10) >> 4) << UInt32(j + 16)
                    }
                }
                if type == .q5_0 { b.storeBytes(of: qh, toByteOffset: 2, as: UInt32.self) }
            }
        case .q4_1, .q5_1:
            let isQ4 = type == .q4_1, bytes = isQ4 ? 20 : 24
            for i in 0..<nb {
                let v = x + 32 * i, b = dst + bytes * i
                var mn = Float.greatestFiniteMagnitude, mx = -Float.greatestFiniteMagnitude
                for j in 0..<32 { mn = min(mn, v[j]); mx = max(mx, v[j]) }
                let d = (mx - mn) / (isQ4 ? 15 : 31), id: Float = d != 0 ? 1 / d : 0
                b.storeBytes(of: HalfBits.fromFloat(d), as: UInt16.self)
                b.storeBytes(of: HalfBits.fromFloat(mn), toByteOffset: 2, as: UInt16.self)
                var qh: UInt32 = 0
                for j in 0..<16 {
                    let x0 = (v[j] - mn) * id + 0.5, x1 = (v[j + 16] - mn) * id + 0.5
                    if isQ4 {
                        let a = UInt8(min(15, Int(Int8(truncatingIfNeeded: Int(x0))))), c = UInt8(min(15, Int(Int8(truncatingIfNeeded: Int(x1)))))
                        b.storeBytes(of: a | (c << 4), toByteOffset: 4 + j, as: UInt8.self)
                    } else {
                        let a = UInt8(truncatingIfNeeded: Int(x0)), c = UInt8(truncatingIfNeeded: Int(x1))
                        b.storeBytes(of: (a & 0xF) | ((c & 0xF) << 4), toByteOffset: 8 + j, as: UInt8.self)
                        qh |= UInt32((a & 0x10) >> 4) << UInt32(j)
                        qh |= UInt32((c & 0x10) >> 4) << UInt32(j + 16)
                    }
                }
                if !isQ4 { b.storeBytes(of: qh, toByteOffset: 4, as: UInt32.self) }
            }
        default:
            preconditionFailure("no quantiser for \(type)")
        }
    }

    public static let weightTypes: Set<GGMLType> = [.f32, .f16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1]
}

/// An activation vector quantised the way ggml's CPU backend quantises it for a given weight type.
public struct QuantizedActivation {
    public let type: GGMLType           // .q8_0, .q8_1, .q8_K, .f16 or .f32
    /// Per block: scale (and for Q8_1 the scaled sum; for Q8_K the 16 sub-block sums).
    public var scales: [Float]
    public var sums: [Float]
    public var ksums: [Int32]
    public var q: [Int8]
    public var f: [Float]

    /// The activation type ggml pairs with a weight type (its vec_dot_type).
    public static func kind(for weight: GGMLType) -> GGMLType {
        switch weight {
        case .q4_0, .q5_0, .q8_0: return .q8_0
        case .q4_1, .q5_1: return .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return .q8_K
        case .f16: return .f16
        case .bf16: return .bf16
        default: return .f32
        }
    }

    public init(_ x: UnsafePointer<Float>, count n: Int, for weight: GGMLType) {
        type = Self.kind(for: weight)
        scales = []; sums = []; ksums = []; q = []; f = []
        switch type {
        case .q8_0, .q8_1:
            let nb = n / 32
            scales = [Float](repeating: 0, count: nb)
            sums = [Float](repeating: 0, count: nb)
            q = [Int8](repeating: 0, count: n)
            for i in 0..<nb {
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(x[32 * i + j])) }
                let d = amax / 127, id: Float = amax != 0 ? 127 / amax : 0
                var s = 0
                for j in 0..<32 {
                    let v = Int((x[32 * i + j] * id).rounded(.toNearestOrEven))
                    q[32 * i + j] = Int8(v); s += v
                }
                scales[i] = HalfBits.round(d)
                sums[i] = HalfBits.round(d * Float(s))
            }
        case .q8_K:
            let nb = n / 256
            scales = [Float](repeating: 0, count: nb)
            ksums = [Int32](repeating: 0, count: nb * 16)
            q = [Int8](repeating: 0, count: n)
            for i in 0..<nb {
                var amax: Float = 0, mx: Float = 0
                for j in 0..<256 where abs(x[256 * i + j]) > amax { amax = abs(x[256 * i + j]); mx = x[256 * i + j] }
                if amax == 0 { continue }
                let iscale = -127 / mx
                for j in 0..<256 { q[256 * i + j] = Int8(min(127, Int((iscale * x[256 * i + j]).rounded(.toNearestOrEven)))) }
                for j in 0..<16 {
                    var s: Int32 = 0
                    for k in 0..<16 { s += Int32(q[256 * i + 16 * j + k]) }
                    ksums[16 * i + j] = s
                }
                scales[i] = 1 / iscale
            }
        case .f16:
            f = (0..<n).map { HalfBits.round(x[$0]) }
        case .bf16:
            f = (0..<n).map { Float(bitPattern: UInt32(Self.bf16(x[$0])) << 16) }
        default:
            f = Array(UnsafeBufferPointer(start: x, count: n))
        }
    }

    static func bf16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        return UInt16((x &+ 0x7fff &+ ((x >> 16) & 1)) >> 16)
    }
}
