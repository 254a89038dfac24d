// Half and bfloat16 conversions for file formats, over LlavaTensor's bit-exact HalfBits.
import LlavaTensor

public enum HalfFloat {
    @inlinable public static func f16ToF32(_ h: UInt16) -> Float { HalfBits.toFloat(h) }
    @inlinable public static func f32ToF16(_ f: Float) -> UInt16 { HalfBits.fromFloat(f) }
    @inlinable public static func bf16ToF32(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// Round-to-nearest-even float32 -> bfloat16 (torch's conversion).
    @inlinable public static func f32ToBF16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        if f.isNaN { return UInt16(x >> 16) | 0x40 }
        let rounding = UInt32(0x7fff) + ((x >> 16) & 1)
        return UInt16((x &+ rounding) >> 16)
    }
}
