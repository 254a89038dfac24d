// The parts of a llava-hf model that take part in training: the projector and the LLaMA decoder (embeddings,
// decoder layers, final norm, output head), each with its backward pass — llm.c style, one layer at a time.
// The CLIP tower is not here: it is frozen and only runs forward (see FeatureCache).
// Which tensors learn: stage 1 the projector; stage 2 the projector and the whole language model, or the projector
// and LoRA adapters on the chosen projections (as LLaVA's train.py with --lora_enable does).
import Foundation
import LlavaFormats
import LlavaTensor

public enum TrainingStage: Int, Sendable, Codable {
    case alignment = 1     // stage 1: projector only, LLaVA's `plain` captions
    case instruction = 2   // stage 2: projector + language model, llava-1.5 conversations
}

public struct LoRAOptions: Sendable, Codable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    /// Which projections get adapters: q, k, v, o, gate, up, down.
    public var targets: [String]
    public static let allTargets = ["q", "k", "v", "o", "gate", "up", "down"]
    public init(rank: Int, alpha: Float, dropout: Float = 0, targets: [String] = LoRAOptions.allTargets) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets
    }
    /// Module path of each target within a decoder layer, as HF and PEFT name them.
    public static let modulePaths = ["q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                                     "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
                                     "down": "mlp.down_proj"]
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case unsupported(String)
    case badData(String)
    case badCheckpoint(String)
    case badOption(String)

    public var description: String {
        switch self {
        case .unsupported(let s): return "cannot train this model: \(s)"
        case .badData(let s): return "training data: \(s)"
        case .badCheckpoint(let s): return "checkpoint: \(s)"
        case .badOption(let s): return s
        }
    }
}

public final class TrainableLlava: @unchecked Sendable {
    public let config: LlavaConfig
    public private(set) var parameters = ParameterList()
    public let stage: TrainingStage
    public let lora: LoRAOptions?
    let embed: Parameter             // [vocab, hidden]
    let layers: [DecoderLayer]
    let norm: RMSNormLayer
    let head: LinearLayer            // weight [vocab, hidden], the embedding itself when tied
    public let projector: TrainableProjector
    private var rope: RotaryTable
    private var ropePositions = 0

    /// Builds from a llava-hf checkpoint's weights. LoRA adapters start as PEFT starts them (A uniform in
    /// ±1/sqrt(in), B zero) from `seed`, unless `initial` holds values for them (by name).
    public init(weights: WeightStore, config: LlavaConfig, stage: TrainingStage, lora: LoRAOptions?,
                seed: UInt64 = 0, initial: [String: Tensor] = [:]) throws {
        let adapterOptions = stage == .instruction ? lora : nil
        self.config = config; self.stage = stage; self.lora = adapterOptions
        let c = config.text
        guard c.heads % c.kvHeads == 0 else { throw TrainingError.unsupported("\(c.heads) heads over \(c.kvHeads) key/value heads") }
        guard !c.attentionBias, !c.mlpBias else { throw TrainingError.unsupported("attention or MLP biases in the language model") }
        let fullLM = stage == .instruction && adapterOptions == nil
        var list = ParameterList()
        func load(_ name: String, _ shape: [Int], trains: Bool, group: ParameterGroup = .main) throws -> Parameter {
            let t = try weights.tensor(name, shape: shape)
            let p = Parameter(name: name, value: trains ? t.copy() : t, trainable: trains, group: group)
            list.append(p)
            return p
        }
        // Projector
        let pIn = config.vision.hiddenSize * config.featureLayers.count, h = c.hiddenSize
        var linears: [LinearLayer] = []
        var activation: Activation? = nil
        switch config.projector {
        case .linear:
            linears.append(LinearLayer(
                weight: try load("multi_modal_projector.linear_1.weight", [h, pIn], trains: true, group: .projector),
                bias: config.projectorBias ? try load("multi_modal_projector.linear_1.bias", [h], trains: true, group: .projector) : nil))
        case .mlp(let depth, let act):
            guard let a = Activation(configName: act) else { throw TrainingError.unsupported("projector activation \(act)") }
            activation = a
            for i in 0..<depth {
                let n = "multi_modal_projector.linear_\(i + 1)"
                linears.append(LinearLayer(
                    weight: try load(n + ".weight", [h, i == 0 ? pIn : h], trains: true, group: .projector),
                    bias: config.projectorBias ? try load(n + ".bias", [h], trains: true, group: .projector) : nil))
            }
        }
        projector = TrainableProjector(linears: linears, activation: activation)

        // Language model
        let pre = "language_model.model."
        embed = try load(pre + "embed_tokens.weight", [c.vocabSize, h], trains: fullLM)
        let qd = c.heads * c.headDim, kvd = c.kvHeads * c.headDim, f = c.intermediateSize
        var rng = SplitMix64(seed: seed ^ 0x4C6F_5241)
        var ls: [DecoderLayer] = []
        for i in 0..<c.layers {
            let l = pre + "layers.\(i)."
            func linear(_ key: String, _ path: String, _ shape: [Int]) throws -> LinearLayer {
                let layer = LinearLayer(weight: try load(l + path + ".weight", shape, trains: fullLM))
                if let lora = adapterOptions, lora.targets.contains(key) {
                    let aName = l + path + ".lora_A.weight", bName = l + path + ".lora_B.weight"
                    let a: Tensor, b: Tensor
                    if let ia = initial[aName], let ib = initial[bName] {
                        guard ia.shape == [lora.rank, shape[1]], ib.shape == [shape[0], lora.rank] else {
                            throw TrainingError.badCheckpoint("adapter \(aName) has shape \(ia.shape), expected [\(lora.rank), \(shape[1])]")
                        }
                        a = ia.copy(); b = ib.copy()
                    } else {
                        a = Tensor(zeros: [lora.rank, shape[1]])
                        let bound = 1 / Float(shape[1]).squareRoot()
                        for j in 0..<a.count { a.data[j] = (2 * rng.nextUnit() - 1) * bound }
                        b = Tensor(zeros: [shape[0], lora.rank])
                    }
                    let pa = Parameter(name: aName, value: a, trainable: true), pb = Parameter(name: bName, value: b, trainable: true)
                    list.append(pa); list.append(pb)
                    layer.lora = LoRAAdapter(a: pa, b: pb, alpha: lora.alpha, dropout: lora.dropout, seed: rng.next())
                }
                return layer
            }
            let inNorm = RMSNormLayer(weight: try load(l + "input_layernorm.weight", [h], trains: fullLM), eps: c.rmsNormEps)
            let attn = CausalSelfAttention(
                q: try linear("q", "self_attn.q_proj", [qd, h]), k: try linear("k", "self_attn.k_proj", [kvd, h]),
                v: try linear("v", "self_attn.v_proj", [kvd, h]), o: try linear("o", "self_attn.o_proj", [h, qd]),
                heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            let postNorm = RMSNormLayer(weight: try load(l + "post_attention_layernorm.weight", [h], trains: fullLM), eps: c.rmsNormEps)
            let mlp = SwiGLUMLP(gate: try linear("gate", "mlp.gate_proj", [f, h]), up: try linear("up", "mlp.up_proj", [f, h]),
                                down: try linear("down", "mlp.down_proj", [h, f]))
            ls.append(DecoderLayer(inputNorm: inNorm, attention: attn, postNorm: postNorm, mlp: mlp))
        }
        layers = ls
        norm = RMSNormLayer(weight: try load(pre + "norm.weight", [h], trains: fullLM), eps: c.rmsNormEps)
        let headName = "language_model.lm_head.weight"
        if weights.has(headName) { head = LinearLayer(weight: try load(headName, [c.vocabSize, h], trains: fullLM)) }
        else if c.tiedEmbeddings { head = LinearLayer(weight: embed) }
        else { throw SafetensorsError.missingTensor(weights.folder, headName) }
        parameters = list
        rope = RotaryTable(positions: 0, headDim: c.headDim, theta: c.ropeTheta)
    }

    /// One sample's forward and backward pass. `ids` hold `config.imageTokenId` at image positions, filled in order
    /// from `features` (each [tokensPerImage, visionDim * layers], CLIP's selected hidden states); `labels[t]` is the
    /// target of position t (HF's convention: logits at t - 1 predict it), -100 where nothing is learned.
    /// Gradients of `scale` × (summed loss) are added to the trained parameters. Returns the summed loss and the
    /// number of labelled positions.
    @discardableResult
    public func accumulate(ids: [Int], labels: [Int], features: [Tensor], scale: Float) throws -> (loss: Double, tokens: Int) {
        let c = config.text, n = ids.count, h = c.hiddenSize
        guard labels.count == n else { throw TrainingError.badData("\(n) ids but \(labels.count) labels") }
        let imagePositions = ids.indices.filter { ids[$0] == config.imageTokenId }
        let featureRows = features.reduce(0) { $0 + $1.flatRows }
        guard imagePositions.count == featureRows else {
            throw TrainingError.badData("\(imagePositions.count) image positions but \(featureRows) image feature rows")
        }
        for id in ids where id != config.imageTokenId && (id < 0 || id >= c.vocabSize) {
            throw TrainingError.badData("token id \(id) is outside the vocabulary of \(c.vocabSize)")
        }
        if n > ropePositions {
            ropePositions = max(n, 2 * ropePositions)
            rope = RotaryTable(positions: ropePositions, headDim: c.headDim, theta: c.ropeTheta)
        }
        // Embeddings, with the projected image features at image positions.   [n, hidden]
        let x = Tensor(zeros: [n, h])
        for t in 0..<n where ids[t] != config.imageTokenId {
            (x.data + t * h).update(from: embed.value.data + ids[t] * h, count: h)
        }
        var projected: Tensor? = nil
        if !features.isEmpty {
            let width = features[0].columns
            let stacked = Tensor(zeros: [featureRows, width])
            var row = 0
            for f in features {
                guard f.columns == width else { throw TrainingError.badData("image features of different widths") }
                (stacked.data + row * width).update(from: f.data, count: f.count)
                row += f.flatRows
            }
            let p = projector.forward(stacked)   // [imageRows, hidden]
            for (r, t) in imagePositions.enumerated() { (x.data + t * h).update(from: p.data + r * h, count: h) }
            projected = p
        }
        var hidden = x
        for layer in layers { hidden = layer.forward(hidden, rope: rope) }
        // Only rows whose next token is labelled reach the head.
        let rows = (0..<max(0, n - 1)).filter { labels[$0 + 1] != CrossEntropy.ignoreIndex }
        let targets = rows.map { labels[$0 + 1] }
        for t in targets where t < 0 || t >= c.vocabSize { throw TrainingError.badData("label \(t) is outside the vocabulary") }
        let selected = Tensor(zeros: [rows.count, h])
        for (i, t) in rows.enumerated() { (selected.data + i * h).update(from: hidden.data + t * h, count: h) }
        var loss = 0.0
        let dHidden = Tensor(zeros: [n, h])
        // Stage 1 learns only through image positions: a text-only sample there has nothing to send back.
        let backward = !rows.isEmpty && (stage == .instruction || projected != nil)
        if !rows.isEmpty {
            let logits = head.forward(norm.forward(selected))
            loss = CrossEntropy.lossAndGradient(logits: logits, labels: targets, scale: scale)
            if backward, let dSel = head.backward(logits) {
                let dNormed = norm.backward(dSel)
                for (i, t) in rows.enumerated() { (dHidden.data + t * h).update(from: dNormed.data + i * h, count: h) }
            }
        }
        var d = dHidden
        if backward {
            for layer in layers.reversed() { d = layer.backward(d, rope: rope) }
            if let g = embed.grad {
                for t in 0..<n where ids[t] != config.imageTokenId {
                    let src = d.data + t * h, dst = g.data + ids[t] * h
                    for j in 0..<h { dst[j] += src[j] }
                }
            }
            if projected != nil {
                let dp = Tensor(zeros: [imagePositions.count, h])
                for (r, t) in imagePositions.enumerated() { (dp.data + r * h).update(from: d.data + t * h, count: h) }
                projector.backward(dp)
            }
        }
        release()
        return (loss, rows.count)
    }

    func release() {
        projector.release(); norm.release(); head.release()
        for l in layers { l.release() }
    }

    /// LoRA adapters whose dropout draws depend on the step, so that a resumed run draws the same masks.
    func reseedDropout(step: Int, seed: UInt64) {
        var i: UInt64 = 0
        for lin in layers.flatMap(\.projections) {
            lin.lora?.reseed(seed &+ UInt64(step) &* 0x1_0000_0001 &+ i)
            i += 1
        }
    }

    /// Each adapted projection: (weight name, its LoRA adapter).
    public var adapters: [(String, LoRAAdapter)] {
        layers.flatMap(\.projections).compactMap { lin in lin.lora.map { (lin.weight.name, $0) } }
    }
}
