// Options shared by every command that loads a model, and the loading itself.
import ArgumentParser
import Foundation
import LlavaModels
import LlavaTensor
import LlavaTokenizer
import LlavaVision

struct ModelOptions: ParsableArguments {
    @Option(help: "A llava-hf checkpoint folder (config.json, *.safetensors, tokenizer.json, processor config) or a GGUF language model.")
    var model: String

    @Option(help: "The vision part as an mmproj GGUF (for GGUF language models).")
    var mmproj: String?

    @Option(help: "Chat template to use instead of the checkpoint's (\(ChatTemplate.names.joined(separator: ", "))).")
    var template: String?

    @Option(help: "The CLIP vision tower folder, for checkpoints in the original LLaVA release layout.")
    var visionTower: String?

    @Option(help: """
        Threads for matrix products; also, as llama.cpp's -t, the key ranges of its flash attention past 256 positions \
        (its numbers there depend on it: give llama.cpp's count to get its tokens).
        """)
    var threads: Int?

    @Option(help: "Vision tower products: f32 (reference numbers) or bf16 (oneDNN, AVX512-BF16: ~2x faster, bf16 precision).")
    var visionPrecision: String = "f32"

    @Option(help: "What the KV cache holds: default (what the reference keeps: f16 for GGUF as llama.cpp, float32 for llava-hf) or q8_0 (8-bit blocks: about half the memory of f16, not the reference's numbers).")
    var kvCache: String = "default"

    @Option(help: """
        Attention of GGUF language models as llama.cpp computes it: on (flash attention, llama.cpp's default on a \
        CPU; auto means on) or off (KQ, soft-max, KQV as separate products: llama.cpp's -fa off).
        """)
    var flashAttn: String = "auto"

    /// The flags as the library's options (LlavaModel.load), refused with the flag's name when out of range.
    func loadOptions() throws -> LoadOptions {
        guard let precision = VisionPrecision(rawValue: visionPrecision) else {
            throw ValidationError("--vision-precision must be f32 or bf16")
        }
        guard let kvType = KVCacheType(rawValue: kvCache) else { throw ValidationError("--kv-cache must be default or q8_0") }
        guard let flash = flashAttn == "auto" ? .on : FlashAttention(rawValue: flashAttn) else {
            throw ValidationError("--flash-attn must be on, off or auto")
        }
        var chosen: ChatTemplate? = nil
        if let template {
            guard let t = ChatTemplate(name: template) else {
                throw ValidationError("unknown template \(template) (known: \(ChatTemplate.names.joined(separator: ", ")))")
            }
            chosen = t
        }
        return LoadOptions(mmproj: mmproj, visionTower: visionTower, template: chosen, threads: threads.map { max(1, $0) },
                           visionPrecision: precision, kvCache: kvType, flashAttention: flash)
    }

    func load() throws -> LlavaModel { try LlavaModel.load(model, options: try loadOptions()) }
}

func loadImages(_ paths: [String]) throws -> [RGBImage] {
    try paths.map { try ImageDecoder.decode(path: $0) }
}
