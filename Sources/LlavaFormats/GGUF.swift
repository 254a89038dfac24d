// GGUF (llama.cpp's model file), versions 2 and 3: header, metadata of every value type
// (nested arrays included), tensor infos, alignment; tensor data through mmap.
// Every count, length and offset is checked against the file before use.
// Spec: ggml/docs/gguf.md.
import Foundation
import LlavaTensor

public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case notGGUF(String)
    case unsupportedVersion(String, UInt32)
    case truncated(String, String)
    case corrupt(String, String)
    case missingKey(String, String)
    case missingTensor(String, String)
    case unsupportedType(String, String)
    case wrongShape(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .notGGUF(let p): return "\(p) is not a GGUF file (bad magic)"
        case .unsupportedVersion(let p, let v): return "\(p): GGUF version \(v) is not supported (2 and 3 are)"
        case .truncated(let p, let what): return "\(p): file is truncated (\(what))"
        case .corrupt(let p, let what): return "\(p): corrupt GGUF: \(what)"
        case .missingKey(let p, let k): return "\(p): missing metadata key \(k)"
        case .missingTensor(let p, let n): return "\(p): missing tensor \(n)"
        case .unsupportedType(let p, let what): return "\(p): unsupported tensor type \(what)"
        case .wrongShape(let n, let e, let f): return "tensor \(n) has shape \(f), expected \(e)"
        }
    }
}

public indirect enum GGUFValue: Sendable, Equatable {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), u64(UInt64), i64(Int64)
    case f32(Float), f64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .u8(let v): return Int(v)
        case .i8(let v): return Int(v)
        case .u16(let v): return Int(v)
        case .i16(let v): return Int(v)
        case .u32(let v): return Int(v)
        case .i32(let v): return Int(v)
        case .u64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .i64(let v): return Int(v)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .f32(let v): return Double(v)
        case .f64(let v): return v
        default: return int.map(Double.init)
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return int.map { $0 != 0 }
    }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}

public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: ne[0] is the row length (innermost).
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute offset in the file.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// [rows, row length], PyTorch's [out, in] for a weight matrix.
    public var rows: Int { dims.count > 1 ? dims.dropFirst().reduce(1, *) : 1 }
    public var rowLength: Int { dims.first ?? 1 }
}

public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: GGUFTensorInfo]
    public let tensorOrder: [String]
    public let alignment: Int
    public let dataOffset: Int

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        path = file.path
        var r = Reader(base: UnsafeRawPointer(file.base), size: file.size, path: file.path)
        guard file.size >= 4, try r.u32() == 0x4655_4747 else { throw GGUFError.notGGUF(file.path) }
        version = try r.u32()
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(file.path, version) }
        let tensorCount = try r.u64()
        let kvCount = try r.u64()
        // Each entry takes at least a few bytes, so counts beyond the file size are lies.
        guard tensorCount <= UInt64(file.size / 8), kvCount <= UInt64(file.size / 8) else {
            throw GGUFError.corrupt(file.path, "counts \(tensorCount) tensors / \(kvCount) keys exceed the file size")
        }
        var meta: [String: GGUFValue] = [:]
        for _ in 0..<Int(kvCount) {
            let key = try r.string()
            let type = try r.u32()
            meta[key] = try r.value(type: type, depth: 0)
        }
        var infos: [(String, [Int], GGMLType, UInt64)] = []
        for _ in 0..<Int(tensorCount) {
            let name = try r.string()
            let nDims = try r.u32()
            guard nDims <= 4 else { throw GGUFError.corrupt(file.path, "tensor \(name) has \(nDims) dimensions") }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try r.u64()
                guard d <= 1 << 40 else { throw GGUFError.corrupt(file.path, "tensor \(name) dimension \(d)") }
                dims.append(Int(d))
            }
            let rawType = try r.u32()
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError.unsupportedType(file.path, "\(rawType) for \(name)")
            }
            infos.append((name, dims, type, try r.u64()))
        }
        let align = meta["general.alignment"]?.int ?? 32
        guard align > 0, align & (align - 1) == 0 else { throw GGUFError.corrupt(file.path, "alignment \(align)") }
        alignment = align
        dataOffset = (r.offset + align - 1) / align * align
        var ts: [String: GGUFTensorInfo] = [:]
        var order: [String] = []
        for (name, dims, type, off) in infos {
            // Each dimension is capped, their product and byte count are not: checked, so crafted dims are an error.
            var count = 1
            for d in dims {
                let (r, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw GGUFError.corrupt(file.path, "tensor \(name) dimensions \(dims) overflow") }
                count = r
            }
            guard count % type.blockSize == 0, dims.first.map({ $0 % type.blockSize == 0 }) ?? true else {
                throw GGUFError.corrupt(file.path, "tensor \(name) row of \(dims.first ?? 0) is not whole \(type) blocks")
            }
            let (bytes, over) = (count / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
            guard !over else { throw GGUFError.corrupt(file.path, "tensor \(name) dimensions \(dims) overflow") }
            guard off % UInt64(align) == 0 else { throw GGUFError.corrupt(file.path, "tensor \(name) offset \(off) is not aligned") }
            guard off <= UInt64(file.size), bytes <= file.size, dataOffset + Int(off) + bytes <= file.size else {
                throw GGUFError.truncated(file.path, "tensor \(name) needs bytes up to \(dataOffset + Int(min(off, UInt64(Int.max / 2))) + bytes), file has \(file.size)")
            }
            guard ts[name] == nil else { throw GGUFError.corrupt(file.path, "tensor \(name) appears twice") }
            ts[name] = GGUFTensorInfo(name: name, dims: dims, type: type, offset: dataOffset + Int(off), byteCount: bytes)
            order.append(name)
        }
        metadata = meta
        tensors = ts
        tensorOrder = order
    }

    public func raw(_ info: GGUFTensorInfo) -> UnsafeRawPointer { UnsafeRawPointer(file.base + info.offset) }

    /// Reads the file's bytes with bounds checks.
    struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        let path: String
        var offset = 0

        mutating func need(_ n: Int, _ what: String) throws {
            guard n >= 0, offset + n <= size else { throw GGUFError.truncated(path, "reading \(what) at \(offset)") }
        }
        mutating func read<T>(_: T.Type, _ what: String) throws -> T {
            try need(MemoryLayout<T>.size, what)
            let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
            return v
        }
        mutating func u32() throws -> UInt32 { UInt32(littleEndian: try read(UInt32.self, "u32")) }
        mutating func u64() throws -> UInt64 { UInt64(littleEndian: try read(UInt64.self, "u64")) }
        mutating func string() throws -> String {
            let n = try u64()
            guard n <= UInt64(size) else { throw GGUFError.truncated(path, "string of \(n) bytes at \(offset)") }
            try need(Int(n), "string")
            let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: Int(n)), as: UTF8.self)
            offset += Int(n)
            return s
        }
        mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
            switch type {
            case 0: return .u8(try read(UInt8.self, "u8"))
            case 1: return .i8(try read(Int8.self, "i8"))
            case 2: return .u16(UInt16(littleEndian: try read(UInt16.self, "u16")))
            case 3: return .i16(Int16(littleEndian: try read(Int16.self, "i16")))
            case 4: return .u32(try u32())
            case 5: return .i32(Int32(littleEndian: try read(Int32.self, "i32")))
            case 6: return .f32(Float(bitPattern: try u32()))
            case 7:
                let b = try read(UInt8.self, "bool")
                guard b <= 1 else { throw GGUFError.corrupt(path, "bool value \(b) at \(offset - 1)") }
                return .bool(b == 1)
            case 8: return .string(try string())
            case 9:
                guard depth < 8 else { throw GGUFError.corrupt(path, "arrays nested too deep") }
                let itemType = try u32()
                let n = try u64()
                guard n <= UInt64(size - offset) else { throw GGUFError.truncated(path, "array of \(n) items at \(offset)") }
                var items: [GGUFValue] = []
                items.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { items.append(try value(type: itemType, depth: depth + 1)) }
                return .array(items)
            case 10: return .u64(try u64())
            case 11: return .i64(Int64(littleEndian: try read(Int64.self, "i64")))
            case 12: return .f64(Double(bitPattern: try u64()))
            default: throw GGUFError.corrupt(path, "unknown metadata value type \(type) at \(offset - 4)")
            }
        }
    }
}
