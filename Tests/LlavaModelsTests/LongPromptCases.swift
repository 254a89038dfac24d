// The long-prompt fixtures (`Tools/make_llamacpp_fixtures.py --long`, files with -long- in their names): prompts of
// 64 to 300 tokens continued past 256 cells, with llama.cpp's greedy tokens and a digest of its logits — every prompt
// position's, then each decode step's — which ours must equal bit for bit. Flash attention's three kernels (one
// chunk, tiled, split-KV) and the 512-cell KV view without it are what these reach that the short prompts do not.
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor
import Testing

struct LongPromptCase {
    let prompt: [Int]
    let greedy: [Int]
    let digests: [String]

    static func load(_ file: String) -> [LongPromptCase] {
        let url = Fixtures.root.appendingPathComponent("llamacpp/" + file)
        guard let d = FileManager.default.contents(atPath: url.path), let j = try? JSONValue.parse(d) else { return [] }
        return (j["cases"]?.array ?? []).map {
            LongPromptCase(prompt: $0["prompt_tokens"]?.array?.compactMap(\.int) ?? [],
                           greedy: $0["greedy"]?.array?.compactMap(\.int) ?? [],
                           digests: $0["logits_digest"]?.array?.compactMap(\.string) ?? [])
        }
    }

    /// The fixture's digest: the float32 bit patterns u[i] folded as the sum of u[i] * (2i + 1) mod 2^64, in hex.
    static func digest(_ v: [Float]) -> String {
        var h: UInt64 = 0
        for (i, x) in v.enumerated() { h &+= UInt64(x.bitPattern) &* (UInt64(i) &* 2 &+ 1) }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Runs the prompt in one call (llama.cpp's ubatches) and then the greedy tokens one at a time, as generation
    /// does, expecting llama.cpp's logits to the bit at every step and its greedy token as each step's argmax.
    func check(_ model: LlavaModel, _ label: String) throws {
        let lm = model.language
        #expect(digests.count == greedy.count + 1, "\(label): fixture")
        let cache = KVCache(config: lm.config, capacity: prompt.count + greedy.count)
        var logits = lm.logits(try lm.forward(try lm.embed(prompt), cache: cache)).scalars
        var ours = [Self.digest(logits)]
        var argmaxes: [Int] = []
        for t in greedy {
            let last = logits.suffix(lm.config.vocabSize)
            argmaxes.append(last.indices.max { last[$0] < last[$1] }.map { $0 - last.startIndex } ?? -1)
            logits = lm.logits(try lm.forward(try lm.embed([t]), cache: cache)).scalars
            ours.append(Self.digest(logits))
        }
        #expect(argmaxes == greedy, "\(label): greedy tokens")
        let first = zip(ours, digests).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(first == nil, "\(label): logits differ from step \(first ?? -1) (0: the prompt)")
    }
}
