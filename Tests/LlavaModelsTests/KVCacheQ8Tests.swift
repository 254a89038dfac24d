// The opt-in q8_0 KV cache on a real model (SmolLM2-135M Q4_1): a prompt computed at once and position by position
// gives the same bits (each query's attention is its own), and the hidden states stay close to the reference f16
// cache's — 8-bit K and V change the numbers a little, not the answer.
import Foundation
import LlavaModels
import LlavaTensor
import Testing

@Suite struct KVCacheQ8Tests {
    @Test func q8CacheIsConsistentAndClose() throws {
        let model = try CheckpointLoader.loadGGUF(model: smolPath, mmproj: nil)   // its own copy: the option is per model
        let lm = model.language
        let ids = Array(llamaCppCases.flatMap(\.promptTokens).prefix(40))
        let reference = try lm.forward(try lm.embed(ids), cache: KVCache(config: lm.config, capacity: ids.count)).scalars
        try lm.useKVCache(.q8_0)
        let whole = try lm.forward(try lm.embed(ids), cache: KVCache(config: lm.config, capacity: ids.count)).scalars
        let cache = KVCache(config: lm.config, capacity: ids.count)
        _ = try lm.forward(try lm.embed(Array(ids.prefix(30))), cache: cache)
        var last: [Float] = []
        for id in ids.dropFirst(30) { last = try lm.forward(try lm.embed([id]), cache: cache).scalars }
        let h = lm.config.hiddenSize
        #expect(last == Array(whole.suffix(h)))
        // Cosine similarity of every position's final hidden state with the f16 cache's.
        var worst: Double = 1
        for r in 0..<ids.count {
            let a = whole[r * h..<(r + 1) * h].map(Double.init), b = reference[r * h..<(r + 1) * h].map(Double.init)
            let dot = zip(a, b).map(*).reduce(0, +)
            let cos = dot / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
            worst = min(worst, cos)
        }
        print("q8_0 KV cache: worst cosine to the f16 cache's hidden states \(worst)")
        #expect(worst > 0.99 && worst < 1)
        #expect(throws: ModelError.self) { try CheckpointLoader.loadLlavaHF(folder: Fixtures.path("tiny-gqa-crop")).language.useKVCache(.q8_0) }
    }
}
