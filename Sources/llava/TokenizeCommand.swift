// `llava tokenize`: text to token ids with a checkpoint's tokenizer.
import ArgumentParser
import Foundation
import LlavaFormats
import LlavaTokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Print the token ids of a text.")

    @Option(help: "A checkpoint folder, a tokenizer.json, or a GGUF (a vocabulary-only one will do).") var model: String
    @Option(help: "The text.") var text: String?
    @Option(help: "Read the text from this file, byte for byte.") var file: String?
    @Flag(help: "Add no BOS/EOS.") var noSpecial = false
    @Flag(help: "Print {\"ids\": [...]}.") var json = false

    func run() throws {
        try runReportingErrors {
            let input: String
            switch (text, file) {
            case (let t?, nil): input = t
            case (nil, let f?):
                guard let d = FileManager.default.contents(atPath: f) else { throw ValidationError("cannot read \(f)") }
                guard let s = String(data: d, encoding: .utf8) else { throw ValidationError("\(f) is not UTF-8 text") }
                input = s
            default: throw ValidationError("give exactly one of --text and --file")
            }
            let tok: any Tokenizer
            if model.hasSuffix(".gguf") { tok = try GGUFTokenizer(gguf: GGUFFile(path: model)) }
            else { tok = try TokenizerJSON.loadAny(path: model) }
            let ids = tok.encode(input, addSpecialTokens: !noSpecial)
            if json { writeOut("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))]}\n") }
            else { writeOut(ids.map(String.init).joined(separator: " ") + "\n") }
        }
    }
}
