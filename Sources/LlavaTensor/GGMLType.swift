// ggml's tensor types: block sizes and byte layouts (ggml-common.h), and dequantisation of each
// block format to float32, mirroring ggml-quants.c's dequantize_row_* (same arithmetic order
// per element, so dequantised values are bit-identical).

import CKernels

public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28
    case bf16 = 30

    public var description: String {
        switch self {
        case .f32: return "F32"; case .f16: return "F16"; case .bf16: return "BF16"; case .f64: return "F64"
        case .q4_0: return "Q4_0"; case .q4_1: return "Q4_1"; case .q5_0: return "Q5_0"; case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"; case .q8_1: return "Q8_1"; case .q2_K: return "Q2_K"; case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"; case .q5_K: return "Q5_K"; case .q6_K: return "Q6_K"; case .q8_K: return "Q8_K"
        case .i8: return "I8"; case .i16: return "I16"; case .i32: return "I32"; case .i64: return "I64"
        }
    }

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    public func rowBytes(_ n: Int) -> Int { n / blockSize * blockBytes }
}

@inline(__always) func f16(_ p: UnsafeRawPointer, _ off: Int) -> Float {
    HalfBits.toFloat(p.loadUnaligned(fromByteOffset: off, as: UInt16.self))
}

/// IEEE half <-> float32 (bit-exact), here so the kernels need nothing above this module.
public enum HalfBits {
    /// Many floats to f16 bits, rounding to nearest even (the C kernel).
    public static func fromFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        llava_f32_to_f16(src, dst, count)
    }

    @inline(__always)
    public static func toFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1f
        let mant = UInt32(h & 0x3ff)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * (1.0 / 16_777_216.0)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// Round to nearest even, as ggml's FP32_TO_FP16 (F16C) does.
    public static func fromFloat(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xff)
        var mant = x & 0x7f_ffff
        if exp == 0xff { return sign | 0x7c00 | (mant != 0 ? 0x200 : 0) }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mant >> shift
            let rem = mant & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(truncatingIfNeeded: half)
    }

    @inline(__always) public static func round(_ f: Float) -> Float { toFloat(fromFloat(f)) }
}

public enum Dequantize {
    /// Dequantises `count` elements (whole blocks) of `type` at `src` into `dst`.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let nb = count / type.blockSize
        var y = dst
        switch type {
        case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16: for i in 0..<count { dst[i] = f16(src, 2 * i) }
        case .bf16: for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .f64: for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .q4_0:
            for i in 0..<nb {
                let b = src + i * 18, d = f16(b, 0), q = b + 2
                for j in 0..<16 {
                    let v = q.load(fromByteOffset: j, as: UInt8.self)
                    y[j] = Float(Int(v & 0xF) - 8) * d
                    y[j + 16] = Float(Int(v >> 4) - 8) * d
                }
                y += 32
            }
        case .q4_1:
            for i in 0..<nb {
                let b = src + i * 20, d = f16(b, 0), m = f16(b, 2), q = b + 4
                for j in 0..<16 {
                    let v = q.load(fromByteOffset: j, as: UInt8.self)
                    y[j] = Float(v & 0xF) * d + m
                    y[j + 16] = Float(v >> 4) * d + m
                }
                y += 32
            }
        case .q5_0, .q5_1:
            let withMin = type == .q5_1
            let bytes = withMin ? 24 : 22
            for i in 0..<nb {
                let b = src + i * bytes, d = f16(b, 0), m = withMin ? f16(b, 2) : 0
                let hOff = withMin ? 4 : 2
                let qh = b.loadUnaligned(fromByteOffset: hOff, as: UInt32.self)
                let q = b + hOff + 4
                for j in 0..<16 {
                    let v = q.load(fromByteOffset: j, as: UInt8.self)
                    let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
                    let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
                    if withMin {
                        y[j] = Float((v & 0xF) | h0) * d + m
                        y[j + 16] = Float((v >> 4) | h1) * d + m
                    } else {
                        y[j] = Float(Int((v & 0xF) | h0) - 16) * d
                        y[j + 16] = Float(Int((v >> 4) | h1) - 16) * d
                    }
                }
                y += 32
            }
        case .q8_0:
            for i in 0..<nb {
                let b = src + i * 34, d = f16(b, 0)
                for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
                y += 32
            }
        case .q8_1:
            for i in 0..<nb {
                let b = src + i * 36, d = f16(b, 0)
                for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) * d }
                y += 32
            }
        case .q2_K:
            for i in 0..<nb {
                let b = src + i * 84
                let d = f16(b, 80), mn = f16(b, 82)
                var q = b + 16
                var isx = 0
                for _ in 0..<2 {
                    var shift: UInt8 = 0
                    for _ in 0..<4 {
                        for half in 0..<2 {
                            let sc = b.load(fromByteOffset: isx, as: UInt8.self); isx += 1
                            let dl = d * Float(sc & 0xF), ml = mn * Float(sc >> 4)
                            for l in 0..<16 {
                                y[l] = dl * Float((q.load(fromByteOffset: l + 16 * half, as: UInt8.self) >> shift) & 3) - ml
                            }
                            y += 16
                        }
                        shift += 2
                    }
                    q += 32
                }
            }
        case .q3_K:
            for i in 0..<nb {
                let b = src + i * 110
                let hm = b, dAll = f16(b, 108)
                var q = b + 32
                let scales = kScales3(b + 96)
                var isx = 0
                var m: UInt8 = 1
                for _ in 0..<2 {
                    var shift: UInt8 = 0
                    for _ in 0..<4 {
                        for half in 0..<2 {
                            let dl = dAll * Float(Int(scales[isx]) - 32); isx += 1
                            for l in 0..<16 {
                                let lq = Int((q.load(fromByteOffset: l + 16 * half, as: UInt8.self) >> shift) & 3)
                                let hbit = hm.load(fromByteOffset: l + 16 * half, as: UInt8.self) & m
                                y[l] = dl * Float(lq - (hbit != 0 ? 0 : 4))
                            }
                            y += 16
                        }
                        shift += 2
                        m <<= 1
                    }
                    q += 32
                }
            }
        case .q4_K:
            for i in 0..<nb {
                let b = src + i * 144
                let d = f16(b, 0), mn = f16(b, 2), sc = b + 4
                var q = b + 16
                for j in 0..<4 {
                    let (s1, m1) = scaleMinK4(2 * j, sc), (s2, m2) = scaleMinK4(2 * j + 1, sc)
                    let d1 = d * Float(s1), mm1 = mn * Float(m1), d2 = d * Float(s2), mm2 = mn * Float(m2)
                    for l in 0..<32 { y[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0xF) - mm1 }
                    for l in 0..<32 { y[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - mm2 }
                    y += 64; q += 32
                }
            }
        case .q5_K:
            for i in 0..<nb {
                let b = src + i * 176
                let d = f16(b, 0), mn = f16(b, 2), sc = b + 4, qh = b + 16
                var ql = b + 48
                var u1: UInt8 = 1, u2: UInt8 = 2
                for j in 0..<4 {
                    let (s1, m1) = scaleMinK4(2 * j, sc), (s2, m2) = scaleMinK4(2 * j + 1, sc)
                    let d1 = d * Float(s1), mm1 = mn * Float(m1), d2 = d * Float(s2), mm2 = mn * Float(m2)
                    for l in 0..<32 {
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        y[l] = d1 * Float(Int(ql.load(fromByteOffset: l, as: UInt8.self) & 0xF) + (h & u1 != 0 ? 16 : 0)) - mm1
                    }
                    for l in 0..<32 {
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        y[32 + l] = d2 * Float(Int(ql.load(fromByteOffset: l, as: UInt8.self) >> 4) + (h & u2 != 0 ? 16 : 0)) - mm2
                    }
                    y += 64; ql += 32
                    u1 <<= 2; u2 <<= 2
                }
            }
        case .q6_K:
            for i in 0..<nb {
                let b = src + i * 210
                let d = f16(b, 208)
                var ql = b, qh = b + 128, sc = b + 192
                for _ in 0..<2 {
                    for l in 0..<32 {
                        let isx = l / 16
                        let h = Int(qh.load(fromByteOffset: l, as: UInt8.self))
                        let a = Int(ql.load(fromByteOffset: l, as: UInt8.self)), c = Int(ql.load(fromByteOffset: l + 32, as: UInt8.self))
                        let q1 = Int8(truncatingIfNeeded: (a & 0xF) | (((h >> 0) & 3) << 4)) - 32
                        let q2 = Int8(truncatingIfNeeded: (c & 0xF) | (((h >> 2) & 3) << 4)) - 32
                        let q3 = Int8(truncatingIfNeeded: (a >> 4) | (((h >> 4) & 3) << 4)) - 32
                        let q4 = Int8(truncatingIfNeeded: (c >> 4) | (((h >> 6) & 3) << 4)) - 32
                        y[l] = d * Float(sc.load(fromByteOffset: isx, as: Int8.self)) * Float(q1)
                        y[l + 32] = d * Float(sc.load(fromByteOffset: isx + 2, as: Int8.self)) * Float(q2)
                        y[l + 64] = d * Float(sc.load(fromByteOffset: isx + 4, as: Int8.self)) * Float(q3)
                        y[l + 96] = d * Float(sc.load(fromByteOffset: isx + 6, as: Int8.self)) * Float(q4)
                    }
                    y += 128; ql += 64; qh += 32; sc += 8
                }
            }
        case .q8_K:
            for i in 0..<nb {
                let b = src + i * 292
                let d = b.loadUnaligned(as: Float.self)
                for j in 0..<256 { y[j] = d * Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) }
                y += 256
            }
        case .i8: for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case .i16: for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        case .i32: for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i64: for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        }
    }

    /// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (get_scale_min_k4).
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func b(_ k: Int) -> UInt8 { q.load(fromByteOffset: k, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }

    /// Q3_K's sixteen 6-bit scales unpacked from 12 bytes (as signed bytes, bias 32 still in).
    static func kScales3(_ p: UnsafeRawPointer) -> [Int8] {
        var aux = [UInt32](repeating: 0, count: 4)
        for k in 0..<3 { aux[k] = p.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self) }
        let kmask1: UInt32 = 0x0303_0303, kmask2: UInt32 = 0x0f0f_0f0f
        let tmp = aux[2]
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
        var out = [Int8](repeating: 0, count: 16)
        for k in 0..<16 { out[k] = Int8(truncatingIfNeeded: aux[k / 4] >> UInt32(8 * (k % 4))) }
        return out
    }
}
