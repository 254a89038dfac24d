// Curation's pure parts: symbolic context, reply parsing, prompt folders, annotation loaders, caption filter.
import Foundation
import LlavaCuration
import LlavaFormats
import Testing

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("llava-curation-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let sampleImage = ImageAnnotations(
    id: "000000000042", image: "000000000042.jpg",
    captions: ["A red bicycle leans on a wall. ", "A bike by a brick wall."],
    instances: [.init(category: "bicycle", bbox: [0.12345, 0.0, 1.0, 0.6666666]),
                .init(category: "person", bbox: [0.1235, 0.0005, 0.9999, 0.37])])

@Suite struct SymbolicContextTests {
    @Test func coordinatesPrintAsPythonReprOfRound3() {
        // Values checked with CPython: repr(round(x, 3)).
        let cases: [(Double, String)] = [(0.37, "0.37"), (1.0, "1.0"), (0.0, "0.0"), (0.12345, "0.123"),
                                         (0.1235, "0.123"), (0.0005, "0.001"), (0.9999, "1.0"), (0.6666666, "0.667")]
        for (x, expected) in cases { #expect(SymbolicContext.formatCoordinate(x) == expected) }
    }

    @Test func captionsThenBoxesForDescriptionAndReasoning() {
        #expect(SymbolicContext.text(for: sampleImage, includeBoxes: true) == """
            A red bicycle leans on a wall.
            A bike by a brick wall.

            bicycle: [0.123, 0.0, 1.0, 0.667]
            person: [0.123, 0.001, 1.0, 0.37]
            """)
        #expect(SymbolicContext.text(for: sampleImage, includeBoxes: false) == "A red bicycle leans on a wall.\nA bike by a brick wall.")
    }
}

@Suite struct ReplyParserTests {
    @Test func llavaForm() throws {
        let pairs = try ReplyParser.qaPairs("Question:\nWhat colour?\n===\nAnswer:\nRed.\n===\nQuestion:\nHow many?\n===\nAnswer:\nTwo.\n\nBoth are small.")
        #expect(pairs == [QAPair(question: "What colour?", answer: "Red."), QAPair(question: "How many?", answer: "Two.\n\nBoth are small.")])
    }

    @Test(arguments: [
        "Here is a conversation:\n\nQuestion: What colour?\nAnswer: Red.\nQuestion: How many?\nAnswer: Two.",
        "**Question:** What colour?\n**Answer:** Red.\n\n**Question:** How many?\n**Answer:** Two.",
        "Q: What colour?\nA: Red.\nQ: How many?\nA: Two.",
        "Question 1: What colour?\nAnswer 1: Red.\n---\nQuestion 2: How many?\nAnswer 2: Two.",
        "User: What colour?\nAssistant: Red.\nUser: How many?\nAssistant: Two.",
        "Question:\nWhat colour?\n===\nRed.\n===\nQuestion:\nHow many?\n===\nTwo.\n",
        "Question:\r\nWhat colour?\r\n===\r\nAnswer:\r\nRed.\r\n===\r\nQuestion:\r\nHow many?\r\n===\r\nAnswer:\r\nTwo.",
    ])
    func tolerantForms(_ reply: String) throws {
        #expect(try ReplyParser.qaPairs(reply) == [QAPair(question: "What colour?", answer: "Red."),
                                                   QAPair(question: "How many?", answer: "Two.")])
    }

    @Test func answersMayContainLinesThatLookLikeProse() throws {
        let pairs = try ReplyParser.qaPairs("Question:\nWhy?\n===\nAnswer:\nA man rides. Question marks aside, it rains.")
        #expect(pairs == [QAPair(question: "Why?", answer: "A man rides. Question marks aside, it rains.")])
    }

    @Test func brokenRepliesAreRejectedWhole() {
        #expect(throws: ReplyParseError.empty) { try ReplyParser.qaPairs("  \n ") }
        #expect(throws: ReplyParseError.noQuestions) { try ReplyParser.qaPairs("A nice photo of a cat.") }
        #expect(throws: ReplyParseError.unanswered(question: "How many?")) {
            try ReplyParser.qaPairs("Question: What?\nAnswer: This.\nQuestion: How many?")
        }
        #expect(throws: ReplyParseError.answerWithoutQuestion) { try ReplyParser.qaPairs("Answer: Red.") }
        #expect(throws: ReplyParseError.emptyTurn) { try ReplyParser.qaPairs("Question:\nWhat?\n===\nAnswer:") }
        #expect(throws: ReplyParseError.empty) { try ReplyParser.description(" \n") }
    }

    @Test func descriptionDropsItsLabel() throws {
        #expect(try ReplyParser.description("Description: A cat sits.\n") == "A cat sits.")
    }

    @Test func samplesPlaceTheImageMarkerBySeed() throws {
        let reply = ChatCompletion(text: "Question: What?\nAnswer: This.", finishReason: "stop", promptTokens: 1, completionTokens: 1, attempts: 1)
        var sides = Set<Bool>()
        for seed in UInt64(0)..<16 {
            let s = try CurationPipeline.sample(kind: .conversation, image: sampleImage, reply: reply, seed: seed)
            let again = try CurationPipeline.sample(kind: .conversation, image: sampleImage, reply: reply, seed: seed)
            #expect(s == again)
            let first = s.conversations[0].value
            #expect(first == "<image>\nWhat?" || first == "What?\n<image>")
            sides.insert(first.hasPrefix("<image>"))
            #expect(s.conversations[1] == .init(from: "gpt", value: "This."))
        }
        #expect(sides.count == 2)
        let detail = try CurationPipeline.sample(kind: .detail, image: sampleImage,
            reply: ChatCompletion(text: "A bike.", finishReason: "stop", promptTokens: 1, completionTokens: 1, attempts: 1), seed: 3)
        let instruction = detail.conversations[0].value.replacingOccurrences(of: "<image>", with: "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(CurationPipeline.detailInstructions.contains(instruction))
        #expect(throws: ReplyParseError.truncated) {
            try CurationPipeline.sample(kind: .detail, image: sampleImage,
                reply: ChatCompletion(text: "A bi", finishReason: "length", promptTokens: 1, completionTokens: 1, attempts: 1), seed: 0)
        }
    }
}

@Suite struct PromptFolderTests {
    @Test func originalLayoutLoadsInOrder() throws {
        let root = try temporaryFolder()
        let folder = root.appendingPathComponent("detail_description")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "SYSTEM".write(to: folder.appendingPathComponent("system_message.txt"), atomically: true, encoding: .utf8)
        for (n, caps, conv) in [("001", "caps B", "conv B"), ("000", "caps A", "conv A")] {
            try caps.write(to: folder.appendingPathComponent("\(n)_caps.txt"), atomically: true, encoding: .utf8)
            try conv.write(to: folder.appendingPathComponent("\(n)_conv.txt"), atomically: true, encoding: .utf8)
        }
        let sets = try PromptSet.load(root: root, kinds: [.detail])
        let messages = try #require(sets[.detail]).messages(context: "QUERY")
        #expect(messages.map(\.role) == ["system", "user", "assistant", "user", "assistant", "user"])
        #expect(messages.map(\.content) == ["SYSTEM", "caps A", "conv A", "caps B", "conv B", "QUERY"])

        try FileManager.default.removeItem(at: folder.appendingPathComponent("001_conv.txt"))
        #expect(throws: CurationError.self) { try PromptSet.load(root: root, kinds: [.detail]) }
        #expect(throws: CurationError.self) { try PromptSet.load(root: root, kinds: [.conversation]) }
    }

    @Test func builtInPromptsAskForTheParsedForms() {
        for kind in CurationKind.allCases {
            let set = PromptSet.builtIn(kind)
            #expect(!set.examples.isEmpty)
            for example in set.examples where kind != .detail {
                #expect((try? ReplyParser.qaPairs(example.response))?.isEmpty == false)
            }
            #expect(set.examples.allSatisfy { $0.context.contains(": [") == kind.usesBoxes })
        }
    }
}

@Suite struct AnnotationLoaderTests {
    @Test func capsBoxesJSONL() throws {
        let dir = try temporaryFolder()
        let file = dir.appendingPathComponent("caps.jsonl")
        try """
            {"id": "1", "image": "1.jpg", "captions": ["a"], "instances": [{"category": "cat", "bbox": [0.1, 0.2, 0.3, 0.4]}]}

            {"id": 2, "image": "2.jpg", "captions": ["b", "c"], "instances": []}
            """.write(to: file, atomically: true, encoding: .utf8)
        let records = try ImageAnnotations.loadJSONL(file)
        #expect(records.map(\.id) == ["1", "2"])
        #expect(records[0].instances == [.init(category: "cat", bbox: [0.1, 0.2, 0.3, 0.4])])

        for bad in ["{\"id\": \"1\", \"image\": \"1.jpg\"}", "{\"id\": \"1\", \"image\": \"x\", \"captions\": [], \"instances\": [{\"category\": \"c\", \"bbox\": [1, 2]}]}"] {
            try bad.write(to: file, atomically: true, encoding: .utf8)
            #expect(throws: CurationError.self) { try ImageAnnotations.loadJSONL(file) }
        }
        try "{\"id\": \"1\", \"image\": \"1.jpg\", \"captions\": []}\nnot json".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: JSONLinesError(path: file.path, line: 2, reason: "not a JSON object")) { try ImageAnnotations.loadJSONL(file) }
        #expect(throws: JSONLinesError.self) { try ImageAnnotations.loadJSONL(dir.appendingPathComponent("missing.jsonl")) }
    }

    @Test func cocoFilesNormaliseBoxes() throws {
        let dir = try temporaryFolder()
        let caps = dir.appendingPathComponent("captions_val2014.json")
        let inst = dir.appendingPathComponent("instances_val2014.json")
        try """
            {"images": [{"id": 9, "file_name": "COCO_val2014_000000000009.jpg", "width": 640, "height": 480},
                        {"id": 7, "file_name": "COCO_val2014_000000000007.jpg", "width": 100, "height": 100},
                        {"id": 5, "file_name": "COCO_val2014_000000000005.jpg", "width": 10, "height": 10}],
             "annotations": [{"image_id": 9, "id": 1, "caption": "A dog. "}, {"image_id": 7, "id": 2, "caption": "A cat."},
                             {"image_id": 9, "id": 3, "caption": "Another dog."}]}
            """.write(to: caps, atomically: true, encoding: .utf8)
        try """
            {"categories": [{"id": 18, "name": "dog"}],
             "annotations": [{"image_id": 9, "category_id": 18, "bbox": [64, 48, 320, 240]}]}
            """.write(to: inst, atomically: true, encoding: .utf8)
        let records = try ImageAnnotations.loadCOCO(captions: caps, instances: inst)
        #expect(records.map(\.id) == ["000000000009", "000000000007"])
        #expect(records[0].captions == ["A dog.", "Another dog."])
        #expect(records[0].instances == [.init(category: "dog", bbox: [0.1, 0.1, 0.6, 0.6])])
        #expect(records[1].instances.isEmpty)
        #expect(throws: CurationError.self) { try ImageAnnotations.loadCOCO(captions: inst, instances: nil) }
    }
}

@Suite struct CaptionFilterTests {
    @Test func nounPhrasesSplitAtFunctionWordsAndVerbs() {
        #expect(NounPhrases.extract("A man riding a brown horse on the beach.") == ["beach", "brown horse", "man"])
        #expect(NounPhrases.extract("Two dogs are playing in the snow near a building") == ["building", "dogs", "snow"])
    }

    @Test func rarePhrasesDropFrequentOnesAreCapped() {
        var captions = (0..<6).map { _ in "a dog" }                   // "dog" 6×: capped at 4
        captions += ["a zebra"]                                       // rare: dropped
        captions += (0..<3).map { _ in "a cat" }                      // exactly the minimum: kept
        let kept = NounPhrases.filter(captions, minFrequency: 3, maxPerPhrase: 4, seed: 1)
        #expect(!kept.contains(6))
        #expect(kept.filter { $0 < 6 }.count == 4)
        #expect(Set(kept).isSuperset(of: [7, 8, 9]))
        #expect(kept == NounPhrases.filter(captions, minFrequency: 3, maxPerPhrase: 4, seed: 1))
        #expect(NounPhrases.filter(captions, minFrequency: 1, maxPerPhrase: 100) == Array(0..<10))
    }

    @Test func stageOneSamples() {
        let samples = CaptionData.samples([CaptionPair(id: "a", image: "a.jpg", caption: "A cat.")], seed: 0)
        #expect(samples.count == 1)
        let human = samples[0].conversations[0].value
        #expect(human.contains("<image>"))
        #expect(CaptionData.briefInstructions.contains(human.replacingOccurrences(of: "<image>", with: "").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(samples[0].conversations[1] == .init(from: "gpt", value: "A cat."))
    }
}
