// One loading call for every checkpoint layout people have: what is at the path picks the loader — a GGUF language
// model (with llama.cpp's mmproj file for its vision part), a llava-hf folder (HF transformers' layout), or the
// original LLaVA release's folder (with its CLIP tower's folder) — and the options set what the CLI's flags set.
// Errors are typed and name the problem in library terms (LoadError); the CLI adds the flags that fix them.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer

/// How to load and run a model: everything `LlavaModel.load` needs besides the path.
public struct LoadOptions: Sendable {
    /// The vision part of a GGUF language model: llama.cpp's mmproj GGUF. Not used with folders.
    public var mmproj: String?
    /// The CLIP tower's folder, for a checkpoint in the original release's layout that does not bundle it.
    public var visionTower: String?
    /// A chat template instead of the checkpoint's (nil: the one the checkpoint names).
    public var template: ChatTemplate?
    /// Threads for matrix products (nil: all cores). Also llama.cpp's -t for its flash attention past 256 positions.
    public var threads: Int?
    /// The vision tower's products: f32 (the reference numbers) or bf16 (oneDNN, on CPUs with AVX512-BF16).
    public var visionPrecision: VisionPrecision
    /// What the KV cache holds: the reference's type, or 8-bit blocks (about half the memory).
    public var kvCache: KVCacheType
    /// Attention of a GGUF language model as llama.cpp computes it: flash attention (its CPU default) or not.
    public var flashAttention: FlashAttention

    public init(mmproj: String? = nil, visionTower: String? = nil, template: ChatTemplate? = nil, threads: Int? = nil,
                visionPrecision: VisionPrecision = .f32, kvCache: KVCacheType = .reference,
                flashAttention: FlashAttention = .on) {
        self.mmproj = mmproj; self.visionTower = visionTower; self.template = template; self.threads = threads
        self.visionPrecision = visionPrecision; self.kvCache = kvCache; self.flashAttention = flashAttention
    }
}

/// Why a model did not load, in the library's terms.
public enum LoadError: Error, CustomStringConvertible, Equatable {
    /// Nothing at the path.
    case notFound(String)
    /// A separate vision file was given with a checkpoint folder (which carries its own vision part).
    case visionFileWithFolder(folder: String)
    /// An original-release checkpoint whose CLIP tower is neither bundled nor given (`LoadOptions.visionTower`).
    case needsVisionTower(config: String, tower: String)
    /// The checkpoint's chat template is not one this library renders; choose one (`LoadOptions.template`).
    case unknownChatTemplate(source: String)
    /// A GGUF language model without a chat template; choose one (`LoadOptions.template`) or prompt raw text.
    case noChatTemplate(source: String)
    /// Threads below 1.
    case badThreads(Int)

    public var description: String {
        let known = ChatTemplate.names.joined(separator: ", ")
        switch self {
        case .notFound(let p): return "model not found: \(p) (no such file or folder)"
        case .visionFileWithFolder(let f): return "\(f) is a checkpoint folder: it carries its own vision part"
        case .needsVisionTower(let c, let t): return "\(c) names the vision tower \(t), which is not in the folder"
        case .unknownChatTemplate(let s):
            return "the chat template in \(s) is not one this library renders (known: \(known))"
        case .noChatTemplate(let s): return "\(s) has no chat template (known: \(known))"
        case .badThreads(let n): return "\(n) threads: at least 1"
        }
    }
}

extension LlavaModel {
    /// Loads the model at `path` — a GGUF file, a llava-hf folder or an original-release folder, by what is there —
    /// and sets it up as `options` say. Threads apply to the whole process (the kernels' pool and BLAS).
    public static func load(_ path: String, options: LoadOptions = LoadOptions()) throws -> LlavaModel {
        if let t = options.threads {
            guard t >= 1 else { throw LoadError.badThreads(t) }
            BLAS.setThreads(t)
            Parallel.threads = t
        }
        AllocatorTuning.keepFreedMemory()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw LoadError.notFound(path) }
        let model: LlavaModel
        if !isDir.boolValue {
            model = try CheckpointLoader.loadGGUF(model: path, mmproj: options.mmproj, template: options.template)
        } else {
            if options.mmproj != nil { throw LoadError.visionFileWithFolder(folder: path) }
            if let tower = options.visionTower {
                model = try CheckpointLoader.loadOriginal(folder: path, visionTower: tower, template: options.template)
            } else {
                model = try CheckpointLoader.loadLlavaHF(folder: path, template: options.template)
            }
        }
        let ready = try model.with(visionPrecision: options.visionPrecision)
        try ready.language.useKVCache(options.kvCache)
        ready.language.flashAttention = options.flashAttention
        return ready
    }
}
