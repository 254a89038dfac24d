// safetensors: read (memory-mapped, every offset checked) and write (temporary name, then rename).
//
// Format (huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data.
import Foundation
import LlavaTensor

public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case tooSmall(String, Int)
    case badHeaderLength(String, UInt64, Int)
    case badHeader(String, String)
    case badTensor(String, String, String)
    case unknownDType(String, String, String)
    case missingTensor(String, String)
    case wrongShape(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .tooSmall(let p, let n): return "\(p): not a safetensors file (\(n) bytes, too short for a header)"
        case .badHeaderLength(let p, let n, let size): return "\(p): header length \(n) does not fit in a file of \(size) bytes"
        case .badHeader(let p, let why): return "\(p): corrupt safetensors header: \(why)"
        case .badTensor(let p, let name, let why): return "\(p): tensor \(name): \(why)"
        case .unknownDType(let p, let name, let dt): return "\(p): tensor \(name) has unsupported dtype \(dt)"
        case .missingTensor(let p, let name): return "\(p): missing tensor \(name)"
        case .wrongShape(let name, let e, let f): return "tensor \(name) has shape \(f), expected \(e)"
        }
    }
}

public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let offset: Int   // absolute, in the file
    public let byteCount: Int
}

public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]

    public var names: [String] { tensors.keys.sorted() }

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        self.path = path
        guard file.size >= 8 else { throw SafetensorsError.tooSmall(path, file.size) }
        let n = file.base.loadUnaligned(as: UInt64.self).littleEndian
        // An honest header is well under 100 MB; anything else is a lie or garbage.
        guard n >= 2, n <= 100_000_000, Int(n) <= file.size - 8 else {
            throw SafetensorsError.badHeaderLength(path, n, file.size)
        }
        let headerBytes = Data(file.bytes(8, Int(n)))
        let root: JSONValue
        do { root = try JSONValue.parse(headerBytes) } catch {
            throw SafetensorsError.badHeader(path, "header is not JSON")
        }
        guard let object = root.object else { throw SafetensorsError.badHeader(path, "header is not a JSON object") }
        let dataStart = 8 + Int(n)
        let dataSize = file.size - dataStart
        var infos: [String: TensorInfo] = [:]
        var meta: [String: String] = [:]
        for (name, entry) in object {
            if name == "__metadata__" {
                for (k, v) in entry.object ?? [:] { meta[k] = v.string ?? "" }
                continue
            }
            guard let dts = entry["dtype"]?.string else { throw SafetensorsError.badTensor(path, name, "no dtype") }
            guard let dtype = DType(rawValue: dts) else { throw SafetensorsError.unknownDType(path, name, dts) }
            guard let shapeValues = entry["shape"]?.array else { throw SafetensorsError.badTensor(path, name, "no shape") }
            var shape: [Int] = []
            for v in shapeValues {
                guard let d = v.int, d >= 0, d < 1 << 40 else { throw SafetensorsError.badTensor(path, name, "bad shape \(shapeValues)") }
                shape.append(d)
            }
            guard let offs = entry["data_offsets"]?.array, offs.count == 2, let b = offs[0].int, let e = offs[1].int else {
                throw SafetensorsError.badTensor(path, name, "no data_offsets")
            }
            guard b >= 0, e >= b, e <= dataSize else {
                throw SafetensorsError.badTensor(path, name, "data_offsets [\(b), \(e)] outside the \(dataSize) data bytes (file truncated?)")
            }
            var numel = 1
            for d in shape {
                let (r, o) = numel.multipliedReportingOverflow(by: d)
                guard !o else { throw SafetensorsError.badTensor(path, name, "shape \(shape) overflows") }
                numel = r
            }
            let (need, over) = numel.multipliedReportingOverflow(by: dtype.size)
            guard !over else { throw SafetensorsError.badTensor(path, name, "shape \(shape) of \(dts) overflows") }
            guard need == e - b else {
                throw SafetensorsError.badTensor(path, name, "shape \(shape) of \(dts) needs \(need) bytes, offsets give \(e - b)")
            }
            infos[name] = TensorInfo(name: name, dtype: dtype, shape: shape, offset: dataStart + b, byteCount: e - b)
        }
        tensors = infos
        metadata = meta
    }

    /// The tensor as float32: F32 data is used in place when aligned; F16/BF16 are widened into new memory.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw SafetensorsError.missingTensor(path, name) }
        return try Self.floatTensor(info: info, file: file, path: path)
    }

    static func floatTensor(info: TensorInfo, file: MappedFile, path: String) throws -> Tensor {
        let count = info.shape.reduce(1, *)
        let src = file.base + info.offset
        switch info.dtype {
        case .f32:
            if Int(bitPattern: src) % MemoryLayout<Float>.alignment == 0 {
                let p = src.assumingMemoryBound(to: Float.self)
                return Tensor(shape: info.shape, storage: FloatStorage(borrowing: p, count: count, owner: file))
            }
            let t = Tensor(zeros: info.shape)
            UnsafeMutableRawPointer(t.data).copyMemory(from: src, byteCount: count * 4)
            return t
        case .f16, .bf16:
            let t = Tensor(zeros: info.shape)
            let dst = t.data
            let isHalf = info.dtype == .f16
            for i in 0..<count {
                let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                dst[i] = isHalf ? HalfFloat.f16ToF32(bits) : HalfFloat.bf16ToF32(bits)
            }
            return t
        case .f64:
            let t = Tensor(zeros: info.shape)
            for i in 0..<count { t.data[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            return t
        default:
            throw SafetensorsError.unknownDType(path, info.name, "\(info.dtype.rawValue) (expected a float type)")
        }
    }

    /// Integer tensors (I64/I32) as Int.
    public func integers(_ name: String) throws -> [Int] {
        guard let info = tensors[name] else { throw SafetensorsError.missingTensor(path, name) }
        let src = file.base + info.offset
        let count = info.shape.reduce(1, *)
        switch info.dtype {
        case .i64: return (0..<count).map { Int(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32: return (0..<count).map { Int(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default: throw SafetensorsError.unknownDType(path, name, "\(info.dtype.rawValue) (expected an integer type)")
        }
    }
}

/// One entry to write.
public struct SafetensorsEntry: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: Data

    public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    public static func float32(_ name: String, _ t: Tensor) -> SafetensorsEntry {
        SafetensorsEntry(name: name, dtype: .f32, shape: t.shape, bytes: Data(buffer: UnsafeBufferPointer(t.buffer)))
    }

    public static func float32(_ name: String, shape: [Int], _ values: [Float]) -> SafetensorsEntry {
        values.withUnsafeBufferPointer { SafetensorsEntry(name: name, dtype: .f32, shape: shape, bytes: Data(buffer: $0)) }
    }

    public static func int64(_ name: String, shape: [Int], _ values: [Int]) -> SafetensorsEntry {
        let v = values.map { Int64($0).littleEndian }
        return v.withUnsafeBufferPointer { SafetensorsEntry(name: name, dtype: .i64, shape: shape, bytes: Data(buffer: $0)) }
    }
}

public enum SafetensorsWriter {
    /// Writes atomically: a reader never sees a half-written file under `url`.
    public static func write(_ entries: [SafetensorsEntry], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: JSONValue] = [:]
        var offset = 0
        for e in entries {
            header[e.name] = .object([
                "dtype": .string(e.dtype.rawValue),
                "shape": .array(e.shape.map { .int($0) }),
                "data_offsets": .array([.int(offset), .int(offset + e.bytes.count)]),
            ])
            offset += e.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var json = try encoder.encode(JSONValue.object(header))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }  // data starts 8-aligned
        var out = Data()
        var n = UInt64(json.count).littleEndian
        out.append(Data(bytes: &n, count: 8))
        out.append(json)
        for e in entries { out.append(e.bytes) }
        try AtomicFile.write(out, to: url)
    }
}

public enum AtomicFile {
    /// Writes to a temporary name beside `url`, then renames over it.
    public static func write(_ data: Data, to url: URL) throws {
        try stream(to: url) { try $0.write(contentsOf: data) }
    }

    /// Lets `body` write the file through a handle on a temporary name beside `url`, then renames it
    /// over `url` (rename(2) replaces atomically); on any error the temporary file is removed.
    public static func stream(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil), let h = FileHandle(forWritingAtPath: tmp.path) else {
            throw FileError.unreadable(url.path, "could not write: cannot create \(tmp.path)")
        }
        do {
            try body(h)
            try h.close()
        } catch {
            try? h.close()
            try? FileManager.default.removeItem(at: tmp)
            if error is FileError { throw error }
            throw FileError.unreadable(url.path, "could not write: \(error.localizedDescription)")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw FileError.unreadable(url.path, "could not write: \(why)")
        }
    }
}

extension SafetensorsWriter {
    /// Declared tensors whose bytes `produce(index, sink)` hands over in order while the file is
    /// written — for checkpoints larger than memory. Temporary name, renamed into place.
    public static func writeStreaming(_ declared: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String] = [:],
                                      to url: URL, produce: (Int, (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var header: [String: JSONValue] = [:]
        var offset = 0
        var sizes: [Int] = []
        for e in declared {
            let bytes = e.shape.reduce(1, *) * e.dtype.size
            header[e.name] = .object(["dtype": .string(e.dtype.rawValue), "shape": .array(e.shape.map { .int($0) }),
                                      "data_offsets": .array([.int(offset), .int(offset + bytes)])])
            offset += bytes
            sizes.append(bytes)
        }
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var json = try encoder.encode(JSONValue.object(header))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        try AtomicFile.stream(to: url) { h in
            var n = UInt64(json.count).littleEndian
            try h.write(contentsOf: Data(bytes: &n, count: 8))
            try h.write(contentsOf: json)
            for (i, size) in sizes.enumerated() {
                var got = 0
                try produce(i) { chunk in try h.write(contentsOf: Data(chunk)); got += chunk.count }
                guard got == size else { throw FileError.unreadable(url.path, "tensor \(declared[i].name): \(got) bytes, \(size) declared") }
            }
        }
    }
}
