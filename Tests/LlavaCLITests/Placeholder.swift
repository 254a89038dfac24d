import Testing
@Suite struct CLIPlaceholder { @Test func nothing() { #expect(Bool(true)) } }
