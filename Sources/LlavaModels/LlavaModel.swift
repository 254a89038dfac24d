// A whole LLaVA model: CLIP tower + projector + LLaMA, with the processor and tokenizer of its
// checkpoint. Mirrors HF transformers' LlavaForConditionalGeneration + LlavaProcessor: each
// `<image>` in the prompt becomes `tokensPerImage` image positions whose embeddings are the
// projected CLIP features of that image, in order. Without a vision part it is a plain LLaMA.
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTokenizer
import LlavaVision

/// The vision half: tower, projector, image processor, and which hidden states to read.
public struct VisionPart: @unchecked Sendable {
    public let tower: any VisionTower
    public let projector: Projector
    public let processor: CLIPImageProcessor
    /// Indices into the tower's hidden states (0 = embeddings after pre_layrnorm), concatenated.
    public let featureLayers: [Int]
    public let featureSelect: FeatureSelect
    /// A mapped file holding the vision weights alone (an mmproj GGUF): its pages are handed back after each image,
    /// so they count in resident memory only while an image is being encoded.
    public let ownFile: MappedFile?

    public init(tower: any VisionTower, projector: Projector, processor: CLIPImageProcessor,
                featureLayers: [Int], featureSelect: FeatureSelect, ownFile: MappedFile? = nil) {
        self.tower = tower; self.projector = projector; self.processor = processor
        self.featureLayers = featureLayers.map { $0 < 0 ? tower.config.layers + 1 + $0 : $0 }
        self.featureSelect = featureSelect
        self.ownFile = ownFile
    }

    public var tokensPerImage: Int { tower.config.positions - (featureSelect == .default ? 1 : 0) }

    /// The same vision part computing its tower's matrix products in `precision`.
    public func with(_ precision: VisionPrecision) throws -> VisionPart {
        switch precision {
        case .f32: return self
        case .bf16:
            guard let t = tower.bf16Tower(releasing: ownFile), let p = projector.bf16(tokens: tokensPerImage) else {
                throw ModelError.unsupportedPrecision("bf16 vision needs oneDNN (libdnnl-dev, Linux), a CPU with AVX512-BF16 and a CLIP tower")
            }
            // The f16/bf16 source was read whole to convert it; its pages are not needed any more.
            if let ownFile { ownFile.release(UnsafeRawPointer(ownFile.base), count: ownFile.size) }
            return VisionPart(tower: t, projector: p, processor: processor, featureLayers: featureLayers,
                              featureSelect: featureSelect, ownFile: nil)
        }
    }

    /// Projected features of one image.  pixels [3, H, W] -> [tokensPerImage, textHidden]
    public func features(pixels: Tensor) -> Tensor {
        let projected = projector(selectedFeatures(pixels: pixels))
        if let ownFile { ownFile.release(UnsafeRawPointer(ownFile.base), count: ownFile.size) }
        return projected
    }

    /// The tower's selected hidden states, before the projector (what training caches, the tower being frozen).
    /// pixels [3, H, W] -> [tokensPerImage, visionHidden * featureLayers.count]
    public func selectedFeatures(pixels: Tensor) -> Tensor {
        let states = tower.hiddenStates(pixels: pixels, wanted: featureLayers)
        let skip = featureSelect == .default ? 1 : 0
        let positions = tower.config.positions - skip
        let d = tower.config.hiddenSize, k = featureLayers.count
        // [positions, d * layers]: several layers are concatenated along the feature axis.
        let selected = Tensor(zeros: [positions, d * k])
        for (j, idx) in featureLayers.enumerated() {
            guard let s = states[idx] else { preconditionFailure("feature layer \(idx) outside the tower (checked at load)") }
            for r in 0..<positions {
                (selected.data + r * d * k + j * d).update(from: s.data + (r + skip) * d, count: d)
            }
        }
        return selected
    }
}

/// How the CLIP tower multiplies: f32 (the reference numbers, HF's float32 and llama.cpp's), or bf16 — weights and
/// activations rounded to bfloat16 at each product, sums in f32, as PyTorch runs a bf16 checkpoint; about twice as fast
/// on CPUs with AVX512-BF16.
public enum VisionPrecision: String, Sendable, CaseIterable {
    case f32, bf16
}

public final class LlavaModel: @unchecked Sendable {
    public let language: LlamaModel
    public let vision: VisionPart?
    public let tokenizer: any Tokenizer
    public let chatTemplate: ChatTemplate
    /// The vocabulary's image token (llava-hf); nil when images are spliced between separately
    /// tokenized text chunks (GGUF and original LLaVA checkpoints, whose vocabulary has none).
    public let imageTokenId: Int?
    public let imageMarker = "<image>"
    /// What stands at image positions in token id lists.
    public var imagePlaceholder: Int { imageTokenId ?? -1 }

    public init(language: LlamaModel, vision: VisionPart?, tokenizer: any Tokenizer, chatTemplate: ChatTemplate, imageTokenId: Int?) {
        self.language = language; self.vision = vision; self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate; self.imageTokenId = imageTokenId
    }

    public var tokensPerImage: Int { vision?.tokensPerImage ?? 0 }
    static let noVision = "images need one (an mmproj file beside a GGUF, or a llava checkpoint)"

    /// The same model with its vision tower computing in `precision` (the language model is shared).
    public func with(visionPrecision precision: VisionPrecision) throws -> LlavaModel {
        guard let vision, precision != .f32 else { return self }
        return LlavaModel(language: language, vision: try vision.with(precision), tokenizer: tokenizer,
                          chatTemplate: chatTemplate, imageTokenId: imageTokenId)
    }

    /// Image to pixel values [3, H, W] as the checkpoint's processor makes them.
    public func pixelValues(_ image: RGBImage) throws -> Tensor {
        guard let vision else { throw ModelError.missingVision(Self.noVision) }
        return vision.processor.process(image)
    }

    /// Projected features of one image.  pixels [3, H, W] -> [tokensPerImage, textHidden]
    public func imageFeatures(pixels: Tensor) throws -> Tensor {
        guard let vision else { throw ModelError.missingVision(Self.noVision) }
        return vision.features(pixels: pixels)
    }

    /// The prompt the model sees: `--raw` text verbatim, or the chat template around a user turn.
    public func prompt(user: String, system: String?, images: Int, raw: Bool) -> String {
        if raw { return user }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: .system, text: system)) }
        messages.append(ChatMessage(role: .user, text: user, images: images))
        return chatTemplate.render(messages)
    }

    /// Token ids for a prompt, each image marker expanded to `tokensPerImage` image positions.
    public func tokenize(_ prompt: String, images: Int) throws -> [Int] {
        var out: [Int] = []
        var markers = 0
        if let imageTokenId {
            let ids = tokenizer.encode(prompt, addSpecialTokens: true)
            markers = ids.filter { $0 == imageTokenId }.count
            guard markers == images else { throw ModelError.imageCountMismatch(markers: markers, images: images) }
            for id in ids {
                if id == imageTokenId { out.append(contentsOf: repeatElement(id, count: tokensPerImage)) } else { out.append(id) }
            }
        } else {
            // Original LLaVA / llama.cpp: tokenize the text around each marker on its own, BOS on the first chunk only.
            let chunks = prompt.components(separatedBy: imageMarker)
            markers = chunks.count - 1
            guard markers == images else { throw ModelError.imageCountMismatch(markers: markers, images: images) }
            for (i, chunk) in chunks.enumerated() {
                if i > 0 { out.append(contentsOf: repeatElement(-1, count: tokensPerImage)) }
                out.append(contentsOf: tokenizer.encode(chunk, addSpecialTokens: i == 0))
            }
        }
        if images > 0 && vision == nil { throw ModelError.missingVision(Self.noVision) }
        return out
    }

    /// The prompt as llama.cpp's mtmd hands it to the language model: each run of text and each image (its
    /// `imageRows[k]` positions) its own batch, in order.
    public func promptSegments(ids: [Int], imageRows: [Int]) -> [Range<Int>] {
        let placeholder = imagePlaceholder
        var out: [Range<Int>] = []
        var i = 0, k = 0
        while i < ids.count {
            var j = i
            if ids[i] == placeholder && k < imageRows.count {
                j = min(ids.count, i + max(1, imageRows[k]))
                k += 1
            } else {
                while j < ids.count && ids[j] != placeholder { j += 1 }
                if j == i { j += 1 }   // a placeholder past the images given: its own segment
            }
            out.append(i..<j)
            i = j
        }
        return out
    }

    /// Input embeddings with image features spliced in at image positions.  [ids.count, hidden]
    public func embeddings(ids: [Int], imageFeatures: [Tensor]) throws -> Tensor {
        let placeholder = imagePlaceholder
        // Image positions are overwritten below; embed a harmless id there.
        let x = try language.embed(ids.map { $0 == placeholder ? 0 : $0 })
        let h = language.config.hiddenSize
        let positions = ids.indices.filter { ids[$0] == placeholder }
        let total = imageFeatures.reduce(0) { $0 + $1.flatRows }
        guard positions.count == total else {
            throw ModelError.imageTokenMismatch("\(positions.count) image positions in the prompt, \(total) feature rows")
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
