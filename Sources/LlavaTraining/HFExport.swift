// Writes a llava-hf folder: the source checkpoint's configuration, tokenizer and processor files copied, and one
// model.safetensors in which the given tensors (trained, or LoRA-merged) replace the source's — written as float32 —
// while every other tensor is copied byte for byte in its stored dtype. Hub tensor names, which HF transformers
// (4.x and 5) and `llava` both load. Each file is written under a temporary name and renamed into place.
// Also the LoRA side: PEFT's adapter files (adapter_config.json, adapter_model.safetensors), and folding adapters
// into weights (W + alpha/r · B A), which `llava merge-lora` and the end of a LoRA run both use.
import Foundation
import LlavaFormats
import LlavaTensor

public enum HFExport {
    /// Files of a checkpoint folder that are not weights and belong in a copy of it.
    static func companionFiles(_ folder: String) -> [String] {
        let skip: Set<String> = ["model.safetensors.index.json", "log.jsonl", "loss.svg", "adapter_config.json", "adapter_model.safetensors"]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { name in
            var isDir: ObjCBool = false
            let path = URL(fileURLWithPath: folder).appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { return false }
            return !name.hasPrefix(".") && !name.hasSuffix(".safetensors") && !skip.contains(name)
        }.sorted()
    }

    /// `source`'s folder with `replaced` tensors (by canonical name) written into `output`.
    public static func write(source: WeightStore, replaced: [String: Tensor], to output: URL) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let src = URL(fileURLWithPath: source.folder)
        for name in companionFiles(source.folder) {
            let data = try Data(contentsOf: src.appendingPathComponent(name))
            try AtomicFile.write(data, to: output.appendingPathComponent(name))
        }
        for name in replaced.keys where !source.has(name) {
            throw TrainingError.badCheckpoint("\(name) is not a tensor of \(source.folder)")
        }
        let names = source.names
        var declared: [(name: String, dtype: DType, shape: [Int])] = []
        for n in names {
            if let t = replaced[n] { declared.append((n, .f32, t.shape)) }
            else if let info = source.info(n) { declared.append((n, info.dtype, info.shape)) }
        }
        // A sharded source leaves its index behind: the copy is one file.
        try? FileManager.default.removeItem(at: output.appendingPathComponent("model.safetensors.index.json"))
        try SafetensorsWriter.writeStreaming(declared, metadata: ["format": "pt"], to: output.appendingPathComponent("model.safetensors")) { i, sink in
            let name = declared[i].name
            if let t = replaced[name] {
                try sink(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
            } else {
                try sink(try source.rawBytes(name).bytes)
            }
        }
    }

    /// W + scale · B A   (W [out, in], A [rank, in], B [out, rank])
    public static func merge(weight: Tensor, a: Tensor, b: Tensor, scale: Float) -> Tensor {
        let w = weight.copy()
        let out = weight.shape[0], inD = weight.shape[1], r = a.shape[0]
        BLAS.gemm(transA: false, transB: false, m: out, n: inD, k: r, alpha: scale,
                  a: b.data, lda: r, b: a.data, ldb: inD, beta: 1, c: w.data, ldc: inD)
        return w
    }

    /// PEFT's key for an adapter tensor: "base_model.model.<module>.lora_A.weight".
    public static func peftKey(_ name: String) -> String { "base_model.model." + name }

    /// adapter_config.json + adapter_model.safetensors (PEFT's layout), and the projector beside them as
    /// non_lora_trainables.safetensors (LLaVA's name for what LoRA runs train in full).
    public static func writeAdapter(adapters: [String: Tensor], projector: [String: Tensor], lora: LoRAOptions,
                                    baseModel: String, to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": lora.rank, "lora_alpha": Double(lora.alpha),
            "lora_dropout": Double(lora.dropout), "bias": "none", "base_model_name_or_path": baseModel,
            "target_modules": lora.targets.compactMap { LoRAOptions.modulePaths[$0]?.split(separator: ".").last.map(String.init) },
            "inference_mode": true, "fan_in_fan_out": false, "init_lora_weights": true,
        ]
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json, to: dir.appendingPathComponent("adapter_config.json"))
        try SafetensorsWriter.write(adapters.keys.sorted().map { SafetensorsEntry.float32(peftKey($0), adapters[$0]!) },
                                    metadata: ["format": "pt"], to: dir.appendingPathComponent("adapter_model.safetensors"))
        try SafetensorsWriter.write(projector.keys.sorted().map { SafetensorsEntry.float32($0, projector[$0]!) },
                                    metadata: ["format": "pt"], to: dir.appendingPathComponent("non_lora_trainables.safetensors"))
    }

    /// Reads an adapter folder written by `writeAdapter` (or by PEFT with the same key layout): the merged tensors
    /// to put into the base, by canonical name, projector included when present.
    public static func mergedTensors(base: WeightStore, adapter dir: URL) throws -> [String: Tensor] {
        let configURL = dir.appendingPathComponent("adapter_config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path),
              let json = try? JSONValue.parse(data) else { throw FileError.notFound(configURL.path) }
        guard let r = json["r"]?.int, r > 0, let alpha = json["lora_alpha"]?.double else {
            throw TrainingError.badCheckpoint("\(configURL.path): needs r and lora_alpha")
        }
        let file = try SafetensorsFile(path: dir.appendingPathComponent("adapter_model.safetensors").path)
        var out: [String: Tensor] = [:]
        let prefix = "base_model.model."
        for key in file.names where key.hasSuffix(".lora_A.weight") {
            let module = String(key.dropFirst(key.hasPrefix(prefix) ? prefix.count : 0).dropLast(".lora_A.weight".count))
            guard let canonical = WeightNames.canonical(module + ".weight"), base.has(canonical) else {
                throw TrainingError.badCheckpoint("adapter \(key) matches no weight of \(base.folder)")
            }
            let bKey = String(key.dropLast(".lora_A.weight".count)) + ".lora_B.weight"
            guard file.tensors[bKey] != nil else { throw TrainingError.badCheckpoint("adapter has \(key) but no \(bKey)") }
            let a = try file.tensor(key), b = try file.tensor(bKey)
            let w = try base.tensor(canonical)
            guard a.rank == 2, b.rank == 2, a.shape[0] == b.shape[1], b.shape[0] == w.shape[0], a.shape[1] == w.shape[1] else {
                throw TrainingError.badCheckpoint("adapter \(key) \(a.shape) / \(b.shape) does not fit \(canonical) \(w.shape)")
            }
            out[canonical] = merge(weight: w, a: a, b: b, scale: Float(alpha) / Float(r))
        }
        guard !out.isEmpty else { throw TrainingError.badCheckpoint("\(dir.path) holds no LoRA adapters") }
        let extras = dir.appendingPathComponent("non_lora_trainables.safetensors")
        if FileManager.default.fileExists(atPath: extras.path) {
            let f = try SafetensorsFile(path: extras.path)
            for n in f.names {
                guard let canonical = WeightNames.canonical(n), base.has(canonical) else {
                    throw TrainingError.badCheckpoint("\(extras.path): \(n) is not a tensor of the base model")
                }
                let t = try f.tensor(n)
                let expected = base.info(canonical)?.shape ?? []
                guard t.shape == expected else { throw TrainingError.badCheckpoint("\(n) has shape \(t.shape), the base \(expected)") }
                out[canonical] = t
            }
        }
        return out
    }
}
