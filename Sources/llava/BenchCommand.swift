// `llava bench`: how fast this machine runs a model — image encode time, prefill and decode
// throughput, peak memory — as DESIGN.md's contract writes it. Timing lives here, never in tests.
import ArgumentParser
import Foundation
import LlavaGeneration
import LlavaModels
import LlavaTensor
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure image encode, prefill and decode speed.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "An image to encode (JPEG or PNG).") var image: String?
    @Option(help: "Prompt tokens to prefill.") var promptTokens: Int = 512
    @Option(help: "Tokens to decode.") var genTokens: Int = 128
    @Option(help: "Repetitions; the median is reported.") var repeats: Int = 1
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Only encode the image (no prefill or decode).") var encodeOnly = false

    /// Peak resident memory of this process. Linux: VmHWM (ru_maxrss would include a parent's peak across exec).
    static func peakRSSMegabytes() -> Double {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kb = Double(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") {
            return kb / 1024
        }
        return 0
        #else
        var usage = rusage()
        getrusage(RUSAGE_SELF, &usage)
        return Double(usage.ru_maxrss) / 1_048_576
        #endif
    }

    func run() throws {
        try runReportingErrors {
            guard promptTokens > 0, genTokens >= 0, repeats > 0 else { throw ValidationError("counts must be positive") }
            let model = try modelOptions.load()
            let images = try loadImages(image.map { [$0] } ?? [])
            let lm = model.language
            // A fixed, ordinary token stream: the speed does not depend on which tokens they are.
            let vocab = lm.config.vocabSize
            var ids: [Int] = (lm.config.bosId.map { [$0] } ?? [])
            var x = 1000 % max(vocab, 1)
            while ids.count < promptTokens { ids.append(x); x = (x * 31 + 7) % max(vocab, 1) }
            if !images.isEmpty { ids.insert(contentsOf: repeatElement(model.imagePlaceholder, count: model.tokensPerImage), at: min(1, ids.count)) }
            var encode: [Double] = [], prefill: [Double] = [], decode: [Double] = []
            let generator = Generator(model: model)
            for _ in 0..<repeats {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let features = try generator.encodeImages(images)
                let encodeMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                if encodeOnly { encode.append(encodeMs); prefill.append(0); decode.append(0); continue }
                var options = GenerationOptions(maxTokens: genTokens)
                options.sampling = SamplingOptions(temperature: 0)
                options.ignoreEOS = true
                let r = try generator.generate(ids: ids, imageFeatures: features, options: options, imageEncodeMs: encodeMs)
                encode.append(encodeMs)
                prefill.append(r.prefillTokensPerSecond)
                decode.append(r.decodeTokensPerSecond)
            }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
            let peakMB = Self.peakRSSMegabytes()
            // Which of llama.cpp's attention computations ran (GGUF); transformers' one for llava-hf folders.
            let attention = !lm.numerics.llamaCppArithmetic ? "transformers"
                : lm.kvCacheType == .q8_0 ? "q8_0 cache" : "flash \(lm.flashAttention.rawValue)"
            let result: [String: Any] = [
                "image_encode_ms": images.isEmpty ? 0 : median(encode), "prefill_tokens_per_s": median(prefill),
                "decode_tokens_per_s": median(decode), "peak_rss_mb": peakMB, "threads": Parallel.threads,
                "cpu_level": CPULevel.current.description, "attention": attention,
                "prompt_tokens": ids.count, "gen_tokens": genTokens, "repeats": repeats,
            ]
            if json {
                let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
                writeOut(String(decoding: data, as: UTF8.self) + "\n")
            } else {
                // One number per String(format:): mixed Int and Double arguments in one call came out shifted on Linux.
                func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
                let encodeMs = images.isEmpty ? 0 : median(encode)
                writeOut("image encode \(f(encodeMs, 1)) ms | prefill \(f(median(prefill), 2)) tok/s (\(ids.count) tokens)"
                         + " | decode \(f(median(decode), 2)) tok/s (\(genTokens) tokens) | peak RSS \(f(peakMB, 0)) MB"
                         + " | \(Parallel.threads) threads | kernels \(CPULevel.current) | attention \(attention)\n")
            }
        }
    }
}
