// libFuzzer entry point for every parser that reads a stranger's bytes (issue 17): model files people download,
// images and requests users send, replies teacher and judge models write. One binary; LLAVA_FUZZ_TARGET names the
// parser. Each target calls the same public entry the program uses (the loaders that take paths get a scratch
// file, as a user's file reaches them) and then uses what it parsed a little, so a bad offset or count that parsing
// let through is touched. Any error thrown is the right outcome; a trap, a sanitizer report or a leak is a defect.
//
// Built by scripts/sanitize.sh address / scripts/fuzz.sh (LLAVA_FUZZ=1 adds this target to the package).
import CFuzzDriver
import Foundation
import LlavaCuration
import LlavaEval
import LlavaFormats
import LlavaServer
import LlavaTokenizer
import LlavaVision

#if canImport(Glibc)
import Glibc
#endif

/// Where the path-taking loaders find their input: tmpfs when there is one, one folder per process.
let scratchDirectory: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = "\(base)/llava-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

func scratch(_ name: String, _ data: Data) -> String {
    let path = scratchDirectory + "/" + name
    try? data.write(to: URL(fileURLWithPath: path))
    return path
}

/// The most pixels a fuzzed image may declare: enough for every seed, small enough that libFuzzer's RSS limit
/// measures leaks rather than legitimately large images.
let fuzzMaxPixels = 1 << 22

let sampleText = "Hello <image> world! Ünïcödé 漢字 🙂 \n\t  12345 <|im_start|>user"

nonisolated(unsafe) let targets: [String: (Data) -> Void] = [
    "safetensors": { data in
        guard let file = try? SafetensorsFile(path: scratch("input.safetensors", data)) else { return }
        for name in file.names.prefix(16) {
            if let t = try? file.tensor(name) { _ = t.buffer.prefix(4).reduce(0, +) }
            _ = try? file.integers(name)
        }
    },
    "gguf": { data in
        guard let file = try? GGUFFile(path: scratch("input.gguf", data)) else { return }
        for name in file.tensorOrder.prefix(16) {
            guard let info = file.tensors[name], info.byteCount > 0 else { continue }
            _ = file.raw(info).load(as: UInt8.self)
            _ = file.raw(info).advanced(by: info.byteCount - 1).load(as: UInt8.self)
        }
        if let tok = try? GGUFTokenizer(gguf: file) {
            _ = tok.decode(tok.encode(sampleText, addSpecialTokens: true), skipSpecialTokens: false)
        }
    },
    "tokenizer-json": { data in
        let dir = scratchDirectory + "/tokenizer"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = scratch("tokenizer/tokenizer.json", data)
        guard let tok = try? TokenizerJSON.loadAny(path: dir) else { return }
        _ = tok.decode(tok.encode(sampleText, addSpecialTokens: true), skipSpecialTokens: true)
    },
    "sentencepiece": { data in
        guard let tok = try? SentencePieceModel.load(path: scratch("tokenizer.model", data)) else { return }
        _ = tok.decode(tok.encode(sampleText, addSpecialTokens: true), skipSpecialTokens: false)
    },
    "jpeg": { data in _ = try? ImageDecoder.decode(data: data, name: "input", maxPixels: fuzzMaxPixels) },
    "png": { data in
        guard let image = try? ImageDecoder.decode(data: data, name: "input", maxPixels: fuzzMaxPixels) else { return }
        _ = image.compositedOverWhite()
    },
    "chat-request": { data in
        guard let request = try? ChatCompletionRequest.parse(data) else { return }
        for message in request.messages {
            for (i, url) in message.imageURLs.enumerated() {
                _ = try? ImageSource.decodeDataURI(url, index: i, maxPixels: fuzzMaxPixels)
            }
        }
    },
    "curation-reply": { data in
        let reply = String(decoding: data, as: UTF8.self)
        _ = try? ReplyParser.qaPairs(reply)
        _ = try? ReplyParser.description(reply)
    },
    "judge-score": { data in _ = ScoreParser.scores(String(decoding: data, as: UTF8.self)) },
    "instruct-json": { data in _ = try? InstructSample.decode(data, path: "input.json") },
]

nonisolated(unsafe) var selected: ((Data) -> Void)?

/// One input: libFuzzer calls this for every mutation it tries.
func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    selected?(data)
    return 0
}

@main struct LlavaFuzzMain {
    static func main() {
        let name = ProcessInfo.processInfo.environment["LLAVA_FUZZ_TARGET"] ?? ""
        guard let target = targets[name] else {
            let known = targets.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("LLAVA_FUZZ_TARGET must name a target: \(known)\n".utf8))
            exit(2)
        }
        selected = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(llava_fuzz_run(&argc, &argv, fuzzOneInput))
    }
}
