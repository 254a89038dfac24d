// The curation pipeline over real HTTP on loopback against a scripted teacher that injects faults.
import Foundation
import LlavaCuration
import LlavaFormats
import LlavaTestSupport
import Testing

func images(_ names: [String]) -> [ImageAnnotations] {
    names.enumerated().map { i, name in
        ImageAnnotations(id: "img\(i)", image: "img\(i).jpg", captions: ["\(name) caption.", "Second caption of \(name)."],
                         instances: [.init(category: "thing", bbox: [0.1, 0.2, 0.3, 0.4])])
    }
}

func fastClient(_ server: ScriptedChatServer, timeout: Double = 5) throws -> OpenAIChatClient {
    var options = ChatClientOptions()
    options.timeout = timeout
    options.backoffBase = 0.01
    options.maxRetries = 3
    return try OpenAIChatClient(endpoint: server.baseURL, model: "teacher", apiKey: "sk-test", options: options)
}

func samples(_ folder: URL, _ kind: CurationKind) throws -> [InstructSample] {
    try InstructSample.decode(try Data(contentsOf: folder.appendingPathComponent(kind.outputFileName)), path: kind.outputFileName)
}

@Suite(.serialized) struct PipelineTests {
    @Test func faultsAreRetriedRejectsLoggedAndUsageSummed() async throws {
        let server = try await ScriptedChatServer.start { request, earlier in
            let key = request.key
            if key.hasPrefix("Alpha") && earlier == 0 { return .status(429, retryAfter: "0") }
            if key.hasPrefix("Bravo") && earlier < 2 { return .status(500) }
            if key.hasPrefix("Charlie") && earlier == 0 { return .delayed(20, .completion(scriptedTeacherReply(request))) }
            if key.hasPrefix("Delta") && earlier == 0 { return .raw("<html>not json</html>") }
            if key.hasPrefix("Echo") { return .completion("I would rather not.") }
            return .completion(scriptedTeacherReply(request))
        }
        // A timeout well above what a loaded CI machine needs for an instant reply, well below Charlie's 20 s.
        let client = try fastClient(server, timeout: 6)
        let out = try temporaryFolder()
        var settings = CurationSettings()
        settings.concurrency = 3
        settings.seed = 7
        let summary = try await CurationPipeline.run(
            images: images(["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]),
            settings: settings, client: client, meter: client.meter, output: out)
        await client.shutdown()
        await server.stop()

        #expect(summary.samples == ["conversation": 5, "detail": 6, "complex": 5])
        #expect(summary.rejected == ["conversation": 1, "detail": 0, "complex": 1])
        #expect(summary.pending == 0)
        #expect(summary.parseFailures == 2)
        // 18 first tries and at least 3 × (1 + 2 + 1 + 1) retries for the faults. A loaded machine (CI runs the model
        // suites beside this one on 2 cores) may let an instant reply overrun the timeout too, which is one more
        // honest retry: the counts are checked against the server's own log, exactly, and the faults as a floor.
        let logged = await server.log.requests
        #expect(logged.count >= 18 + 15)
        #expect(summary.requests == logged.count && summary.retries == logged.count - 18)
        for (prefix, tries) in [("Alpha", 2), ("Bravo", 3), ("Charlie", 2), ("Delta", 2), ("Echo", 1), ("Foxtrot", 1)] {
            #expect(logged.filter { $0.request.key.hasPrefix(prefix) }.count >= 3 * tries, "\(prefix)")
        }
        #expect(summary.promptTokens == 18 * 11 && summary.completionTokens == 18 * 7)
        #expect(summary.thisRun.requests == logged.count && summary.thisRun.retries == logged.count - 18)

        let conversation = try samples(out, .conversation)
        #expect(conversation.map(\.id) == ["img0", "img1", "img2", "img3", "img5"])   // input order, Echo rejected
        #expect(conversation[0].conversations.count == 4)
        #expect(conversation[0].conversations[1] == .init(from: "gpt", value: "Alpha caption."))
        let detail = try samples(out, .detail)
        #expect(detail.filter { $0.id != "img4" }.allSatisfy { $0.conversations[1].value.hasPrefix("The photo shows this: ") })
        let rejected = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("rejected.json"))) as? [[String: String]]
        #expect(rejected?.map { $0["id"] } == ["img4", "img4"])
        #expect(rejected?.first?["reply"] == "I would rather not.")
        let stats = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("stats.json"))) as? [String: Any]
        #expect((stats?["parse_failures"] as? Int) == 2 && (stats?["retries"] as? Int) == logged.count - 18)

        // Every request carried the key, the model, max_tokens and the system + few-shot + query messages.
        let first = try #require(await server.log.requests.first?.request)
        #expect(first.authorization == "Bearer sk-test" && first.model == "teacher" && first.maxTokens == 1024)
        #expect(first.messages.first?.role == "system" && first.messages.last?.role == "user")
    }

    @Test func retryAfterIsHonoured() async throws {
        let server = try await ScriptedChatServer.start { request, earlier in
            earlier == 0 ? .status(429, retryAfter: "1") : .completion(scriptedTeacherReply(request))
        }
        let client = try fastClient(server)
        var settings = CurationSettings()
        settings.kinds = [.detail]
        _ = try await CurationPipeline.run(images: images(["Alpha"]), settings: settings, client: client,
                                           meter: client.meter, output: try temporaryFolder())
        await client.shutdown()
        await server.stop()
        let times = await server.log.requests.map(\.time)
        #expect(times.count == 2)
        #expect(times[1].timeIntervalSince(times[0]) >= 0.95)   // backoff alone would wait ~0.01 s
    }

    @Test func aBadKeyStopsTheRunAndAFailedRequestIsRetriedOnTheNextRun() async throws {
        let unauthorised = try await ScriptedChatServer.start { _, _ in .status(401) }
        let client = try fastClient(unauthorised)
        let out = try temporaryFolder()
        await #expect(throws: ChatRequestError.self) {
            _ = try await CurationPipeline.run(images: images(["Alpha", "Bravo"]), settings: CurationSettings(),
                                               client: client, meter: client.meter, output: out)
        }
        await client.shutdown()
        #expect(await unauthorised.log.requests.count <= 4)   // stopped early, not 6 requests × retries
        await unauthorised.stop()

        // A 400 (say, a prompt over the teacher's context) fails that request only; the rest is written.
        let picky = try await ScriptedChatServer.start { request, _ in
            request.key.hasPrefix("Bravo") ? .status(400) : .completion(scriptedTeacherReply(request))
        }
        let client2 = try fastClient(picky)
        var settings = CurationSettings()
        settings.kinds = [.conversation]
        let first = try await CurationPipeline.run(images: images(["Alpha", "Bravo", "Charlie"]), settings: settings,
                                                   client: client2, meter: client2.meter, output: out)
        await client2.shutdown()
        await picky.stop()
        #expect(first.samples == ["conversation": 2] && first.pending == 1 && first.failedRequests == 1)

        let healed = try await ScriptedChatServer.start { request, _ in .completion(scriptedTeacherReply(request)) }
        let client3 = try fastClient(healed)
        let second = try await CurationPipeline.run(images: images(["Alpha", "Bravo", "Charlie"]), settings: settings,
                                                    client: client3, meter: client3.meter, output: out)
        await client3.shutdown()
        #expect(await healed.log.keys().map { $0.components(separatedBy: " ").first } == ["Bravo"])
        await healed.stop()
        #expect(second.samples == ["conversation": 3] && second.pending == 0)
        #expect(try samples(out, .conversation).map(\.id) == ["img0", "img1", "img2"])
    }

    @Test func aFinishedJobResumesWithoutRequestsAndACutJournalLineIsDropped() async throws {
        let server = try await ScriptedChatServer.start { request, _ in .completion(scriptedTeacherReply(request)) }
        let out = try temporaryFolder()
        var settings = CurationSettings()
        settings.seed = 42
        let set = images(["Alpha", "Bravo", "Charlie", "Delta"])
        let client = try fastClient(server)
        _ = try await CurationPipeline.run(images: set, settings: settings, client: client, meter: client.meter, output: out)
        let firstBytes = try Data(contentsOf: out.appendingPathComponent("complex.json"))
        #expect(await server.log.requests.count == 12)

        // A kill while writing leaves half a line; the rerun drops it and asks again for that one pair only.
        let journal = out.appendingPathComponent(CurationPipeline.journalName)
        var lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        let cut = lines.removeLast()
        try (lines.joined(separator: "\n") + "\n" + cut.prefix(cut.count / 2)).write(to: journal, atomically: true, encoding: .utf8)
        let again = try await CurationPipeline.run(images: set, settings: settings, client: client, meter: client.meter, output: out)
        #expect(await server.log.requests.count == 13)
        #expect(again.samples == ["conversation": 4, "detail": 4, "complex": 4])
        #expect(try Data(contentsOf: out.appendingPathComponent("complex.json")) == firstBytes)
        #expect(try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").count == 12)

        _ = try await CurationPipeline.run(images: set, settings: settings, client: client, meter: client.meter, output: out)
        #expect(await server.log.requests.count == 13)

        settings.seed = 43
        await #expect(throws: CurationError.self) {
            _ = try await CurationPipeline.run(images: set, settings: settings, client: client, meter: client.meter, output: out)
        }
        await client.shutdown()
        await server.stop()
    }
}

@Suite struct ChatClientTests {
    @Test func endpointForms() throws {
        let a = try OpenAIChatClient(endpoint: "http://127.0.0.1:9/v1/", model: "m", apiKey: nil)
        let b = try OpenAIChatClient(endpoint: "http://127.0.0.1:9/v1/chat/completions", model: "m", apiKey: nil)
        #expect(a.url == "http://127.0.0.1:9/v1/chat/completions" && b.url == a.url)
        #expect(throws: CurationError.self) { try OpenAIChatClient(endpoint: "ftp://x/v1", model: "m", apiKey: nil) }
        #expect(throws: CurationError.self) { try OpenAIChatClient(endpoint: "not a url", model: "m", apiKey: nil) }
    }

    @Test func unreachableEndpointFailsAfterRetries() async throws {
        var options = ChatClientOptions()
        options.backoffBase = 0.01
        options.maxRetries = 2
        options.timeout = 2   // a refused connection fails at once; the pool does not retry it (retryConnectionEstablishment)
        let client = try OpenAIChatClient(endpoint: "http://127.0.0.1:9/v1", model: "m", apiKey: nil, options: options)
        do {
            _ = try await client.complete([ChatMessage(role: "user", content: "hi")], temperature: nil, maxTokens: nil)
            Issue.record("expected a failure")
        } catch let failure as ChatRequestError {
            #expect(failure.attempts == 3)
            if case .transport = failure.error {} else { Issue.record("expected a transport error, got \(failure.error)") }
        }
        let (requests, retries) = (await client.meter.requests, await client.meter.retries)
        #expect(requests == 3 && retries == 2)
        await client.shutdown()
    }
}
