// `llava forward`: one forward pass over a raw prompt, everything written to a safetensors file.
import ArgumentParser
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTensor

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forward",
        abstract: "Write input_ids, pixel_values, image_features and logits for a raw prompt.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "An image (JPEG or PNG); repeatable.") var image: [String] = []
    @Option(help: "The prompt, used verbatim; each <image> marks an image.") var prompt: String
    @Option(help: "Output .safetensors file.") var output: String
    @Option(help: ArgumentHelp("Also write every intermediate tensor, under llama.cpp's graph names, to this file.", visibility: .hidden))
    var trace: String?

    func run() throws {
        try runReportingErrors {
            let images = try loadImages(image)
            let model = try modelOptions.load()
            let ids = try model.tokenize(prompt, images: images.count)
            let limit = model.language.config.maxPositions
            guard ids.count <= limit else { throw ModelError.contextOverflow(needed: ids.count, limit: limit) }
            let pixels = try images.map { try model.pixelValues($0) }
            let features = try pixels.map { try model.imageFeatures(pixels: $0) }
            let x = try model.embeddings(ids: ids, imageFeatures: features)
            var traced: [SafetensorsEntry] = []
            if trace != nil { model.language.trace = { name, t in traced.append(.float32(name, t.copy())) } }
            let cache = KVCache(config: model.language.config, capacity: ids.count)
            let logits = model.language.logits(try model.language.forward(x, cache: cache))
            var entries: [SafetensorsEntry] = [.int64("input_ids", shape: [ids.count], ids)]
            let side = model.vision?.tower.config.inputSize ?? 0
            entries.append(.float32("pixel_values", shape: [pixels.count, 3, side, side], pixels.flatMap { $0.scalars }))
            let hidden = model.language.config.hiddenSize
            let rows = features.reduce(0) { $0 + $1.flatRows }
            entries.append(.float32("image_features", shape: [rows, hidden], features.flatMap { $0.scalars }))
            entries.append(.float32("logits", logits))
            try SafetensorsWriter.write(entries, metadata: ["prompt": prompt], to: URL(fileURLWithPath: output))
            if let trace {
                var seen = Set<String>()
                let unique = traced.reversed().filter { seen.insert($0.name).inserted }
                try SafetensorsWriter.write(unique, to: URL(fileURLWithPath: trace))
            }
        }
    }
}
