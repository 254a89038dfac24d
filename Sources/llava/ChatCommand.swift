// `llava chat`: a conversation at the terminal. Lines starting with /image PATH attach an image to
// the next turn; /exit or end of input quits.
import ArgumentParser
import Foundation
import LlavaGeneration
import LlavaModels
import LlavaTokenizer
import LlavaVision

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Talk with the model about an image.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "An image for the first turn.") var image: String?
    @Option(help: "A system line.") var system: String?
    @OptionGroup var sampling: SamplingArguments

    func run() throws {
        try runReportingErrors {
            let options = try sampling.options()
            let model = try modelOptions.load()
            let generator = Generator(model: model)
            var pending: [RGBImage] = try image.map { [try ImageDecoder.decode(path: $0)] } ?? []
            var images: [RGBImage] = []
            var messages: [ChatMessage] = system.map { [ChatMessage(role: .system, text: $0)] } ?? []
            let interactive = isatty(0) != 0
            while true {
                if interactive { writeOut("> ") }
                guard let line = readLine(strippingNewline: true) else { break }
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                if trimmed == "/exit" || trimmed == "/quit" { break }
                if trimmed.hasPrefix("/image ") {
                    do { pending.append(try ImageDecoder.decode(path: String(trimmed.dropFirst(7)).trimmingCharacters(in: .whitespaces))) }
                    catch { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
                    continue
                }
                messages.append(ChatMessage(role: .user, text: trimmed, images: pending.count))
                images += pending
                pending = []
                let prompt = model.chatTemplate.render(messages)
                do {
                    let r = try generator.generate(prompt: prompt, images: images, options: options) { writeOut($0) }
                    writeOut("\n")
                    messages.append(ChatMessage(role: .assistant, text: r.text.trimmingCharacters(in: .whitespaces)))
                } catch {
                    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                    messages.removeLast()
                }
            }
        }
    }
}
