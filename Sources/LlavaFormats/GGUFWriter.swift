// Writes GGUF v3 files: metadata of any value type, tensors in any block format, data aligned
// to `general.alignment` (32). Written to a temporary name and renamed into place.
import Foundation
import LlavaTensor

public struct GGUFWriter {
    public struct PendingTensor {
        public let name: String
        public let dims: [Int]      // ggml order: row length first
        public let type: GGMLType
        let data: Data
        public let byteCount: Int
    }

    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [PendingTensor] = []
    public let alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        metadata.removeAll { $0.0 == key }
        metadata.append((key, value))
    }

    /// A tensor of `shape` in PyTorch order ([out, in]); stored with ggml's reversed dims.
    public mutating func add(_ name: String, shape: [Int], type: GGMLType, data: Data) {
        tensors.append(PendingTensor(name: name, dims: shape.reversed(), type: type, data: data, byteCount: data.count))
    }

    /// A tensor whose bytes are produced while writing (`writeStreaming`), for files larger than memory.
    public mutating func declare(_ name: String, shape: [Int], type: GGMLType) {
        let count = shape.reduce(1, *)
        let bytes = type.isQuantized ? type.rowBytes(shape.last ?? 1) * (count / max(shape.last ?? 1, 1)) : count * type.blockBytes
        tensors.append(PendingTensor(name: name, dims: shape.reversed(), type: type, data: Data(), byteCount: bytes))
    }

    /// A float tensor converted to `type` (F32, F16, or a block format with a reference quantiser).
    public mutating func add(_ name: String, _ t: Tensor, as type: GGMLType) {
        let count = t.count
        let rowLen = t.columns
        var out = Data(count: type == .f32 ? count * 4 : type.rowBytes(rowLen) * (count / max(rowLen, 1)))
        out.withUnsafeMutableBytes { raw in
            guard let dst = raw.baseAddress else { return }
            if type == .f32 {
                dst.copyMemory(from: t.data, byteCount: count * 4)
            } else if type == .f16 {
                Quantize.row(.f16, t.data, dst, count: count)
            } else {
                let rows = count / rowLen
                for r in 0..<rows { Quantize.row(type, t.data + r * rowLen, dst + r * type.rowBytes(rowLen), count: rowLen) }
            }
        }
        add(name, shape: t.shape, type: type, data: out)
    }

    func encode() -> Data { header() + body() }

    func body() -> Data {
        var d = Data()
        for t in tensors {
            d.append(t.data)
            while d.count % alignment != 0 { d.append(0) }
        }
        return d
    }

    /// Writes the header, then each declared tensor's bytes as `produce(index, sink)` hands them over
    /// (in order, exactly byteCount bytes per tensor), to a temporary name renamed into place.
    public func writeStreaming(to url: URL, produce: (Int, (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try AtomicFile.stream(to: url) { h in
            let head = header()
            try h.write(contentsOf: head)
            var written = head.count
            for (i, t) in tensors.enumerated() {
                var n = 0
                try produce(i) { chunk in
                    try h.write(contentsOf: Data(chunk))
                    n += chunk.count
                }
                guard n == t.byteCount else { throw FileError.unreadable(url.path, "tensor \(t.name): \(n) bytes produced, \(t.byteCount) declared") }
                written += n
                let pad = (alignment - written % alignment) % alignment
                if pad > 0 { try h.write(contentsOf: Data(count: pad)); written += pad }
            }
        }
    }

    func header() -> Data {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { let b = Array(s.utf8); u64(UInt64(b.count)); d.append(contentsOf: b) }
        func typeCode(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .u8: return 0; case .i8: return 1; case .u16: return 2; case .i16: return 3
            case .u32: return 4; case .i32: return 5; case .f32: return 6; case .bool: return 7
            case .string: return 8; case .array: return 9; case .u64: return 10; case .i64: return 11; case .f64: return 12
            }
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .u8(let x): d.append(x)
            case .i8(let x): d.append(UInt8(bitPattern: x))
            case .u16(let x): withUnsafeBytes(of: x.littleEndian) { d.append(contentsOf: $0) }
            case .i16(let x): withUnsafeBytes(of: x.littleEndian) { d.append(contentsOf: $0) }
            case .u32(let x): u32(x)
            case .i32(let x): u32(UInt32(bitPattern: x))
            case .u64(let x): u64(x)
            case .i64(let x): u64(UInt64(bitPattern: x))
            case .f32(let x): u32(x.bitPattern)
            case .f64(let x): u64(x.bitPattern)
            case .bool(let b): d.append(b ? 1 : 0)
            case .string(let s): str(s)
            case .array(let items):
                u32(items.first.map(typeCode) ?? 4)
                u64(UInt64(items.count))
                for i in items { value(i) }
            }
        }
        u32(0x4655_4747); u32(3)
        u64(UInt64(tensors.count)); u64(UInt64(metadata.count + (metadata.contains { $0.0 == "general.alignment" } ? 0 : 1)))
        if !metadata.contains(where: { $0.0 == "general.alignment" }) { str("general.alignment"); u32(4); u32(UInt32(alignment)) }
        for (k, v) in metadata { str(k); u32(typeCode(v)); value(v) }
        var offset = 0
        for t in tensors {
            str(t.name); u32(UInt32(t.dims.count)); for x in t.dims { u64(UInt64(x)) }
            u32(t.type.rawValue); u64(UInt64(offset))
            offset += (t.byteCount + alignment - 1) / alignment * alignment
        }
        while d.count % alignment != 0 { d.append(0) }
        return d
    }

    public func write(to url: URL) throws { try AtomicFile.write(encode(), to: url) }
}
