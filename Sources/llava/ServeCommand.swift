// `llava serve`: the OpenAI-compatible API and the web chat (DESIGN.md's contract), on 127.0.0.1 by default.
import ArgumentParser
import Foundation
import LlavaServer
import LlavaVision
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the OpenAI-compatible API and a web chat.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed at start).") var port: Int = 8080
    @Option(help: "Require this key as 'Authorization: Bearer KEY' on /v1/*.") var apiKey: String?
    @Option(help: "Conversations served at once (each keeps its own KV cache).") var parallel: Int = 1
    @Option(help: "Requests that may wait for a slot; more get 503.") var queue: Int = 16
    @Option(help: "Context size per slot, in tokens.") var ctxSize: Int = 4096
    @Option(help: "Largest request body, in MB.") var maxBodyMb: Int = 32
    @Option(help: "Name the model is served under (default: the model file or folder name).") var modelName: String?
    @Flag(help: "Fetch http(s) image URLs (off: only data: URIs are accepted).") var allowRemoteImages = false
    @Option(help: "Most pixels an uploaded image may declare (PIL's decompression-bomb limit by default).")
    var maxImagePixels: Int = ImageDecoder.defaultMaxPixels

    func run() async throws {
        try await runReportingErrorsAsync {
            guard (0...65535).contains(port), parallel > 0, queue >= 0, ctxSize > 1, maxBodyMb > 0,
                  maxImagePixels > 0 else {
                throw ValidationError("--port 0…65535, --parallel > 0, --queue >= 0, --ctx-size > 1, "
                                      + "--max-body-mb > 0, --max-image-pixels > 0")
            }
            let model = try modelOptions.load()
            var options = ServerOptions()
            options.host = host; options.port = port; options.apiKey = apiKey; options.parallel = parallel
            options.queueLimit = queue; options.contextSize = ctxSize; options.maxBodyBytes = maxBodyMb << 20
            options.allowRemoteImages = allowRemoteImages
            options.maxImagePixels = maxImagePixels
            options.modelName = modelName ?? URL(fileURLWithPath: modelOptions.model).deletingPathExtension().lastPathComponent
            let server = LlavaServer(model: model, options: options)
            let name = options.modelName, host = self.host
            let app = server.application { port in
                FileHandle.standardError.write(Data("llava serve: \(name) on http://\(host):\(port) (web chat at /, API at /v1)\n".utf8))
            }
            do { try await app.runService() } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
        }
    }
}
