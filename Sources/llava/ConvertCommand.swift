// `llava convert`: a llava-hf checkpoint folder to a GGUF language model and an mmproj GGUF.
import ArgumentParser
import Foundation
import LlavaModels
import LlavaTensor

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert",
        abstract: "Convert a llava-hf checkpoint folder to GGUF files that llama.cpp loads.")

    @Option(help: "The llava-hf checkpoint folder.") var model: String
    @Option(help: "Where to write the language model GGUF.") var outfile: String
    @Option(help: "Where to write the vision part (mmproj) GGUF.") var mmprojOutfile: String
    @Option(help: "Language model weight type: f32, f16, q8_0 or q4_0.") var type: String = "f16"
    @Option(help: "Vision weight type: f32 or f16.") var visionType: String = "f16"

    func run() throws {
        try runReportingErrors {
            let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "q8_0": .q8_0, "q4_0": .q4_0]
            guard let t = types[type.lowercased()] else { throw ValidationError("--type must be one of f32, f16, q8_0, q4_0") }
            guard let vt = types[visionType.lowercased()], vt == .f32 || vt == .f16 else {
                throw ValidationError("--vision-type must be f32 or f16")
            }
            try Converter.convertLlavaHF(folder: model, languageModel: URL(fileURLWithPath: outfile),
                                         mmproj: URL(fileURLWithPath: mmprojOutfile), type: t, visionType: vt) { step in
                FileHandle.standardError.write(Data("\r\u{1B}[Kconverting \(step)".utf8))
            }
            FileHandle.standardError.write(Data("\r\u{1B}[Kwrote \(outfile) and \(mmprojOutfile)\n".utf8))
        }
    }
}
