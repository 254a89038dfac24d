// `llava chat`: a conversation at the terminal. Lines starting with /image PATH attach an image to
// the next turn; /exit or end of input quits.
import ArgumentParser
import Foundation
import LlavaGeneration
import LlavaModels
import LlavaVision

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Talk with the model about an image.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "An image for the first turn.") var image: String?
    @Option(help: "A system line.") var system: String?
    @OptionGroup var sampling: SamplingArguments

    @Option(help: "Positions of KV cache the conversation keeps (at most the model's).") var context: Int = 4096
    @Flag(help: "After each answer, one line on stderr: prompt tokens, how many came from the cache, timings.")
    var timings = false

    func run() throws {
        try runReportingErrors {
            let options = try sampling.options()
            guard context >= 2 else { throw ValidationError("--context must be at least 2") }
            let model = try modelOptions.load()
            // Earlier turns stay in the cache: a turn computes only its own tokens, an image is encoded once.
            let chat = Conversation(model: model, system: system, options: options, contextSize: context)
            var pending: [RGBImage] = try image.map { [try ImageDecoder.decode(path: $0)] } ?? []
            let interactive = isatty(0) != 0
            while true {
                if interactive { writeOut("> ") }
                guard let line = readLine(strippingNewline: true) else { break }
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                if trimmed == "/exit" || trimmed == "/quit" { break }
                if trimmed.hasPrefix("/image ") {
                    let path = String(trimmed.dropFirst(7)).trimmingCharacters(in: .whitespaces)
                    do { pending.append(try ImageDecoder.decode(path: path)) }
                    catch { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
                    continue
                }
                do {
                    let r = try chat.respond(to: trimmed, images: pending, onText: { writeOut($0) })
                    writeOut("\n")
                    pending = []
                    if timings {
                        let format = "[prompt %d tokens, %d from the cache; encode %.0f ms, prefill %.0f ms, "
                            + "%d tokens at %.1f tok/s]\n"
                        let line = String(format: format, r.promptTokens, r.cachedTokens, r.imageEncodeMs, r.prefillMs,
                                          r.tokenIds.count, r.decodeTokensPerSecond)
                        FileHandle.standardError.write(Data(line.utf8))
                    }
                } catch {
                    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                }
            }
        }
    }
}
