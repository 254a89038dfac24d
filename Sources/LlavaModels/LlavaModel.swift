// A whole LLaVA model: CLIP tower + projector + LLaMA, with the processor and tokenizer of its
// checkpoint. Mirrors HF transformers' LlavaForConditionalGeneration + LlavaProcessor: each
// `<image>` in the prompt becomes `tokensPerImage` image tokens whose embeddings are replaced by
// the projected CLIP features of that image, in order.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer
import LlavaVision

public final class LlavaModel: @unchecked Sendable {
    public let config: LlavaConfig
    public let vision: CLIPVisionTower?
    public let projector: Projector?
    public let language: LlamaModel
    public let tokenizer: any Tokenizer
    public let imageProcessor: CLIPImageProcessor
    public let chatTemplate: ChatTemplate
    public let imageToken = "<image>"

    public init(config: LlavaConfig, vision: CLIPVisionTower?, projector: Projector?, language: LlamaModel,
                tokenizer: any Tokenizer, imageProcessor: CLIPImageProcessor, chatTemplate: ChatTemplate) {
        self.config = config; self.vision = vision; self.projector = projector; self.language = language
        self.tokenizer = tokenizer; self.imageProcessor = imageProcessor; self.chatTemplate = chatTemplate
    }

    public var tokensPerImage: Int { config.tokensPerImage }

    /// Hidden-state indices, resolved from negative ones (HF indexes a tuple of layers + 1 states).
    var featureIndices: [Int] {
        config.featureLayers.map { $0 < 0 ? config.vision.layers + 1 + $0 : $0 }
    }

    /// Image to pixel values [3, H, W] as the checkpoint's processor makes them.
    public func pixelValues(_ image: RGBImage) -> Tensor { imageProcessor.process(image) }

    /// Projected features of one image.  pixels [3, H, W] -> [tokensPerImage, textHidden]
    public func imageFeatures(pixels: Tensor) throws -> Tensor {
        guard let vision, let projector else { throw ModelError.missingVision("no vision tower loaded") }
        let indices = featureIndices
        let states = vision.hiddenStates(pixels: pixels, upTo: indices.max() ?? vision.config.layers)
        let skip = config.featureSelect == .default ? 1 : 0
        let positions = vision.config.positions - skip
        let d = vision.config.hiddenSize
        // [positions, d * layers]: several layers are concatenated along the feature axis.
        let selected = Tensor(zeros: [positions, d * indices.count])
        for (j, idx) in indices.enumerated() {
            let s = states[idx]
            for r in 0..<positions {
                (selected.data + r * d * indices.count + j * d).update(from: s.data + (r + skip) * d, count: d)
            }
        }
        return projector(selected)
    }

    /// The prompt the model sees: `--raw` text verbatim, or the chat template around a user turn.
    public func prompt(user: String, system: String?, images: Int, raw: Bool) -> String {
        if raw { return user }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: .system, text: system)) }
        messages.append(ChatMessage(role: .user, text: user, images: images))
        return chatTemplate.render(messages)
    }

    /// Token ids for a prompt, each image token expanded to `tokensPerImage` copies.
    public func tokenize(_ prompt: String, images: Int) throws -> [Int] {
        let ids = tokenizer.encode(prompt, addSpecialTokens: true)
        let markers = ids.filter { $0 == config.imageTokenId }.count
        guard markers == images else { throw ModelError.imageCountMismatch(markers: markers, images: images) }
        var out: [Int] = []
        out.reserveCapacity(ids.count + images * tokensPerImage)
        for id in ids {
            if id == config.imageTokenId { out.append(contentsOf: repeatElement(id, count: tokensPerImage)) }
            else { out.append(id) }
        }
        return out
    }

    /// Input embeddings with image features spliced in where image tokens stand.  [ids.count, hidden]
    public func embeddings(ids: [Int], imageFeatures: [Tensor]) throws -> Tensor {
        // Image positions are overwritten below; embed a harmless id there in case the image token lies past the vocabulary.
        let x = try language.embed(ids.map { $0 == config.imageTokenId ? 0 : $0 })
        let h = language.config.hiddenSize
        let positions = ids.indices.filter { ids[$0] == config.imageTokenId }
        let total = imageFeatures.reduce(0) { $0 + $1.flatRows }
        guard positions.count == total else {
            throw ModelError.imageTokenMismatch("\(positions.count) image tokens in the prompt, \(total) feature rows")
        }
        var row = 0
        for f in imageFeatures {
            guard f.columns == h else { throw ModelError.imageTokenMismatch("feature width \(f.columns) != hidden \(h)") }
            for r in 0..<f.flatRows {
                (x.data + positions[row] * h).update(from: f.data + r * h, count: h)
                row += 1
            }
        }
        return x
    }
}
