// LlavaModel.load: the layout picked from what is at the path, the options applied, and typed errors that name the
// problem without CLI flags (the CLI's hints are checked in CLITests).
import Foundation
import LlavaFormats
import LlavaModels
import LlavaTokenizer
import Testing

@Suite struct ModelLoadingTests {
    @Test func ggufFileWithOptions() throws {
        try #require(FileManager.default.fileExists(atPath: smolPath), "run scripts/fetch-test-models.sh")
        let m = try LlavaModel.load(smolPath, options: LoadOptions(kvCache: .q8_0, flashAttention: .off))
        #expect(m.vision == nil && m.language.config.layers == 30 && m.language.config.hiddenSize == 576)
        #expect(m.language.flashAttention == .off && m.language.kvCacheType == .q8_0)
        #expect(m.chatTemplate.kind == .chatml)
        // Defaults: llama.cpp's (flash attention on, the reference's cache type).
        let d = try LlavaModel.load(smolPath)
        #expect(d.language.flashAttention == .on && d.language.kvCacheType == .reference)
    }

    @Test func llavaHFFolder() throws {
        let folder = Fixtures.root.appendingPathComponent("llava-hf/tiny-gqa-crop").path
        let m = try LlavaModel.load(folder)
        let vision = try #require(m.vision)
        #expect(m.tokensPerImage == vision.tokensPerImage && m.tokensPerImage > 0 && m.imageTokenId != nil)
        #expect(throws: LoadError.visionFileWithFolder(folder: folder)) {
            try LlavaModel.load(folder, options: LoadOptions(mmproj: smolPath))
        }
    }

    @Test func typedErrorsInLibraryTerms() throws {
        #expect(throws: LoadError.notFound("/no/such/model.gguf")) { try LlavaModel.load("/no/such/model.gguf") }
        #expect(throws: LoadError.badThreads(0)) {
            try LlavaModel.load("/no/such/model.gguf", options: LoadOptions(threads: 0))
        }
        // A template this library does not render: the folder's own text, refused by name.
        let src = Fixtures.root.appendingPathComponent("llava-hf/tiny-gqa-crop")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
                  "tokenizer_config.json"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f),
                                                       withDestinationURL: src.appendingPathComponent(f))
        }
        try Data(#"{"chat_template": "{{ 'unheard of' }}"}"#.utf8).write(to: dir.appendingPathComponent("chat_template.json"))
        #expect(throws: LoadError.unknownChatTemplate(source: dir.path)) { try LlavaModel.load(dir.path) }
        // ... unless the caller chooses one.
        let chosen = try #require(ChatTemplate(name: "llava-1.5"))
        #expect(try LlavaModel.load(dir.path, options: LoadOptions(template: chosen)).chatTemplate.kind == .llava15)
        for e in [LoadError.unknownChatTemplate(source: "x"), .needsVisionTower(config: "c", tower: "t"),
                  .visionFileWithFolder(folder: "f")] {
            #expect(!"\(e)".contains("--"), "\(e)")
        }
    }
}
