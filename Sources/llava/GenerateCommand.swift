// `llava generate`: one prompt (with images) in, the answer streamed out.
import ArgumentParser
import Foundation
import LlavaTensor
import LlavaGeneration
import LlavaModels

struct SamplingArguments: ParsableArguments {
    @Option(help: "Most tokens to generate.") var maxTokens: Int = 256
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
    @Option(help: "Keep only the P most probable mass (1 = off).") var topP: Float = 1
    @Option(help: "Keep only the K most probable tokens (0 = off).") var topK: Int = 0
    @Option(help: "Penalty for tokens already present (1 = off).") var repeatPenalty: Float = 1
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Stop when this text appears (repeatable).") var stop: [String] = []

    func options() throws -> GenerationOptions {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        guard repeatPenalty > 0 else { throw ValidationError("--repeat-penalty must be > 0") }
        return GenerationOptions(maxTokens: maxTokens,
                                 sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP,
                                                           repeatPenalty: repeatPenalty, seed: seed),
                                 stop: stop)
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Answer one prompt about zero or more images.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "An image (JPEG or PNG); repeatable.") var image: [String] = []
    @Option(help: "The instruction or question.") var prompt: String
    @Option(help: "A system line before the user turn.") var system: String?
    @Flag(help: "Use the prompt verbatim: each <image> marks where an image goes.") var raw = false
    @OptionGroup var sampling: SamplingArguments
    @Flag(help: "End with one JSON line: text, token ids, counts, finish reason, timings.") var json = false

    func run() throws {
        try runReportingErrors {
            let options = try sampling.options()
            let images = try loadImages(image)
            let model = try modelOptions.load()
            let text = model.prompt(user: prompt, system: system, images: images.count, raw: raw)
            let result = try Generator(model: model).generate(prompt: text, images: images, options: options) { piece in
                writeOut(piece)
            }
            writeOut("\n")
            if json {
                let object: [String: Any] = [
                    "text": result.text, "token_ids": result.tokenIds, "prompt_tokens": result.promptTokens,
                    "completion_tokens": result.tokenIds.count, "finish_reason": result.finishReason,
                    "timings": ["image_encode_ms": result.imageEncodeMs, "prefill_ms": result.prefillMs,
                                "prefill_tokens_per_s": result.prefillTokensPerSecond,
                                "decode_tokens_per_s": result.decodeTokensPerSecond,
                                "cpu_level": CPULevel.current.description],
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                writeOut(String(decoding: data, as: UTF8.self) + "\n")
            }
        }
    }
}
