// Checkpoints: the trained tensors, AdamW's moments and the step, with the options and a fingerprint of the data,
// in OUTPUT/checkpoint/. A new checkpoint is written beside the old one and swapped in by renames, so a crash at
// any moment leaves one whole checkpoint (a leftover .checkpoint.old is used if the swap was cut short).
// Resuming needs nothing else: the data order and dropout draws of step k follow from the seed and k.
import Foundation
import LlavaFormats
import LlavaTensor

public struct TrainingState: Codable, Sendable, Equatable {
    public var step: Int
    public var totalSteps: Int
    public var options: TrainingOptions
    public var dataFingerprint: String
    public var samples: Int
    public var model: String
}

public enum TrainingCheckpoint {
    public static func directory(_ output: URL) -> URL { output.appendingPathComponent("checkpoint") }
    static func old(_ output: URL) -> URL { output.appendingPathComponent(".checkpoint.old") }
    static func temporary(_ output: URL) -> URL { output.appendingPathComponent(".checkpoint.tmp") }

    /// The checkpoint to resume from, if any.
    public static func existing(_ output: URL) -> URL? {
        let fm = FileManager.default
        for dir in [directory(output), old(output)] where fm.fileExists(atPath: dir.appendingPathComponent("state.json").path) {
            return dir
        }
        return nil
    }

    public static func save(_ trainer: Trainer, state: TrainingState, output: URL) throws {
        let fm = FileManager.default
        let tmp = temporary(output)
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        let params = trainer.optimizer.parameters
        try SafetensorsWriter.write(params.map { SafetensorsEntry.float32($0.name, $0.value) },
                                    to: tmp.appendingPathComponent("trainable.safetensors"))
        var moments: [SafetensorsEntry] = []
        for (i, p) in params.enumerated() {
            moments.append(.float32("m." + p.name, trainer.optimizer.m[i]))
            moments.append(.float32("v." + p.name, trainer.optimizer.v[i]))
        }
        try SafetensorsWriter.write(moments, to: tmp.appendingPathComponent("optimizer.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: tmp.appendingPathComponent("state.json"))
        let dir = directory(output), previous = old(output)
        try? fm.removeItem(at: previous)
        if fm.fileExists(atPath: dir.path) { try fm.moveItem(at: dir, to: previous) }
        try fm.moveItem(at: tmp, to: dir)
        try? fm.removeItem(at: previous)
    }

    public static func readState(_ dir: URL) throws -> TrainingState {
        let url = dir.appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw FileError.notFound(url.path) }
        do { return try JSONDecoder().decode(TrainingState.self, from: data) }
        catch { throw TrainingError.badCheckpoint("\(url.path) is unreadable: \(error)") }
    }

    /// Puts a checkpoint's tensors and moments into `trainer`, which must train the same tensors.
    public static func load(_ dir: URL, into trainer: Trainer, step: Int) throws {
        let values = try SafetensorsFile(path: dir.appendingPathComponent("trainable.safetensors").path)
        let moments = try SafetensorsFile(path: dir.appendingPathComponent("optimizer.safetensors").path)
        let params = trainer.optimizer.parameters
        guard Set(values.names) == Set(params.map(\.name)) else {
            throw TrainingError.badCheckpoint("\(dir.path) trains other tensors than this run (\(values.names.count) vs \(params.count))")
        }
        func copy(_ file: SafetensorsFile, _ name: String, into t: Tensor) throws {
            let src = try file.tensor(name)
            guard src.shape == t.shape else { throw TrainingError.badCheckpoint("\(name): shape \(src.shape), expected \(t.shape)") }
            t.data.update(from: src.data, count: t.count)
        }
        for (i, p) in params.enumerated() {
            try copy(values, p.name, into: p.value)
            try copy(moments, "m." + p.name, into: trainer.optimizer.m[i])
            try copy(moments, "v." + p.name, into: trainer.optimizer.v[i])
        }
        trainer.optimizer.restore(step: step)
    }
}
