// The weights of a checkpoint folder: one model.safetensors, or shards listed by
// model.safetensors.index.json, or every *.safetensors present. Names are canonicalised through
// WeightNames; tensors are read lazily from the mapped files with their shapes checked.
import Foundation
import LlavaTensor

public final class WeightStore: @unchecked Sendable {
    public let folder: String
    private var files: [String: SafetensorsFile] = [:]
    /// canonical name -> (file name, stored name)
    public private(set) var index: [String: (file: String, stored: String)] = [:]

    public init(folder: String, canonicalize: (String) -> String? = WeightNames.canonical) throws {
        self.folder = folder
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: folder)
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        var expected: [String: String]? = nil
        if let data = fm.contents(atPath: indexURL.path) {
            guard let json = try? JSONValue.parse(data), let map = json["weight_map"]?.object else {
                throw ConfigError.invalidJSON(indexURL.path)
            }
            var m: [String: String] = [:]
            for (k, v) in map { if let f = v.string { m[k] = f } }
            expected = m
            shardNames = Array(Set(m.values)).sorted()
        } else {
            let all = (try? fm.contentsOfDirectory(atPath: folder)) ?? []
            shardNames = all.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
        }
        guard !shardNames.isEmpty else { throw FileError.notFound(dir.appendingPathComponent("model.safetensors").path) }
        for name in shardNames {
            let st = try SafetensorsFile(path: dir.appendingPathComponent(name).path)
            files[name] = st
            for stored in st.tensors.keys {
                if let canon = canonicalize(stored) { index[canon] = (name, stored) }
            }
        }
        if let expected {
            for (stored, file) in expected where files[file]?.tensors[stored] == nil {
                throw SafetensorsError.missingTensor(dir.appendingPathComponent(file).path, stored)
            }
        }
    }

    public func has(_ name: String) -> Bool { index[name] != nil }

    public var names: [String] { index.keys.sorted() }

    public func info(_ name: String) -> TensorInfo? {
        guard let (file, stored) = index[name] else { return nil }
        return files[file]?.tensors[stored]
    }

    /// The stored bytes of a tensor, in its stored dtype (for copying it unchanged into another file).
    public func rawBytes(_ name: String) throws -> (info: TensorInfo, bytes: UnsafeRawBufferPointer) {
        guard let (file, stored) = index[name], let st = files[file], let info = st.tensors[stored] else {
            throw SafetensorsError.missingTensor(folder, name)
        }
        return (info, UnsafeRawBufferPointer(start: st.file.base + info.offset, count: info.byteCount))
    }

    /// The tensor as float32, its shape checked when `shape` is given.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        guard let (file, stored) = index[name], let st = files[file] else {
            throw SafetensorsError.missingTensor(folder, name)
        }
        let t = try st.tensor(stored)
        if let shape, t.shape != shape { throw SafetensorsError.wrongShape(stored, expected: shape, found: t.shape) }
        return t
    }
}
