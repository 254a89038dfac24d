// Options for talking to an OpenAI-compatible endpoint, shared by `curate` and `eval judge`.
import ArgumentParser
import Foundation
import LlavaCuration

struct ChatClientArguments: ParsableArguments {
    @Option(help: "Environment variable holding the API key.") var apiKeyEnv: String?
    @Option(help: "Seconds before a request is abandoned and retried.") var timeout: Double = 300
    @Option(help: "Retries per request on 429, 5xx, timeouts and dropped connections.") var maxRetries: Int = 6
    @Option(help: "First retry delay in seconds (doubles after, with jitter).") var retryDelay: Double = 1

    /// Called from the commands' run (inside their one-line error reporting), not as ArgumentParser's validate().
    func check() throws {
        // A week at most: inf or a huge value would not fit the clock's integer nanoseconds.
        guard timeout > 0, timeout <= ChatClientOptions.longestTimeout, maxRetries >= 0, retryDelay >= 0,
              retryDelay.isFinite else {
            throw ValidationError("--timeout must be positive (at most \(Int(ChatClientOptions.longestTimeout)) s), "
                                  + "--max-retries and --retry-delay not negative")
        }
    }

    /// The key from the named environment variable; naming one that is unset is an error, not an empty key.
    func apiKey() throws -> String? {
        guard let apiKeyEnv else { return nil }
        guard let value = ProcessInfo.processInfo.environment[apiKeyEnv], !value.isEmpty else {
            throw CurationError.badArgument("environment variable \(apiKeyEnv) (--api-key-env) is not set")
        }
        return value
    }

    func options(connections: Int) -> ChatClientOptions {
        var options = ChatClientOptions()
        options.timeout = timeout
        options.maxRetries = maxRetries
        options.backoffBase = retryDelay
        options.connections = connections
        return options
    }
}
