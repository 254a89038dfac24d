// `llava`: the command line, one subcommand per job, thin over the libraries (DESIGN.md's contract).
import ArgumentParser
import Foundation
import LlavaTensor

@main
struct LlavaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llava",
        abstract: "LLaVA (Large Language and Vision Assistant) on a plain CPU.",
        subcommands: [GenerateCommand.self, ChatCommand.self, ForwardCommand.self, TokenizeCommand.self, ConvertCommand.self, BenchCommand.self, InitRandomCommand.self, CurateCommand.self, EvalCommand.self, ServeCommand.self, TrainCommand.self, MergeLoRACommand.self, ScenesCommand.self])
}

/// Errors leave as one clear line on stderr and exit status 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try CPULevel.validateEnvironment()
        try body()
    } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        let hint = cliHint(error).map { " (\($0))" } ?? ""
        FileHandle.standardError.write(Data("error: \(error)\(hint)\n".utf8))
        throw ExitCode(1)
    }
}

func writeOut(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}
