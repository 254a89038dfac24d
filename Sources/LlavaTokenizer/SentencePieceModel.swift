// SentencePiece's `tokenizer.model` (a ModelProto protobuf) read into an SPM tokenizer: pieces with
// their scores and types (sentencepiece_model.proto: pieces = 1 {piece = 1, score = 2, type = 3},
// trainer_spec = 2 {unk_id = 40, bos_id = 41, eos_id = 42}, normalizer_spec = 3 {add_dummy_prefix = 3}).
// The original LLaVA releases ship this file rather than a tokenizer.json.
import Foundation

public enum SentencePieceModel {
    public static func load(path: String) throws -> GGUFTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.unreadable(path, "file not found") }
        let bytes = [UInt8](data)
        var tokens: [String] = [], scores: [Float] = [], types: [GGUFTokenType] = []
        var bos = 1, eos = 2, dummyPrefix = true
        var r = ProtoReader(bytes: bytes[...], path: path)
        while let (field, wire) = try r.key() {
            switch (field, wire) {
            case (1, 2):
                var p = ProtoReader(bytes: try r.lengthDelimited(), path: path)
                var piece = "", score: Float = 0, type = GGUFTokenType.normal
                while let (f, w) = try p.key() {
                    switch (f, w) {
                    case (1, 2): piece = String(decoding: try p.lengthDelimited(), as: UTF8.self)
                    case (2, 5): score = Float(bitPattern: try p.fixed32())
                    case (3, 0): type = GGUFTokenType(rawValue: Int(Int32(truncatingIfNeeded: try p.varint()))) ?? .normal
                    default: try p.skip(w)
                    }
                }
                tokens.append(piece); scores.append(score); types.append(type)
            case (2, 2):
                var t = ProtoReader(bytes: try r.lengthDelimited(), path: path)
                while let (f, w) = try t.key() {
                    switch (f, w) {
                    case (41, 0): bos = Int(Int32(truncatingIfNeeded: try t.varint()))
                    case (42, 0): eos = Int(Int32(truncatingIfNeeded: try t.varint()))
                    default: try t.skip(w)
                    }
                }
            case (3, 2):
                var nspec = ProtoReader(bytes: try r.lengthDelimited(), path: path)
                while let (f, w) = try nspec.key() {
                    if f == 3 && w == 0 { dummyPrefix = try nspec.varint() != 0 } else { try nspec.skip(w) }
                }
            default: try r.skip(wire)
            }
        }
        guard !tokens.isEmpty else { throw TokenizerError.unreadable(path, "no pieces (not a SentencePiece model?)") }
        return try GGUFTokenizer(kind: .spm, tokens: tokens, types: types, scores: scores, merges: [], pre: "default",
                                 bos: bos >= 0 ? bos : nil, eos: eos >= 0 ? [eos] : [], addBos: true, addEos: false,
                                 addSpacePrefix: dummyPrefix)
    }
}

/// Just enough protobuf wire format to walk a message, every length checked.
struct ProtoReader {
    var bytes: ArraySlice<UInt8>
    let path: String

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard let b = bytes.first, shift < 64 else { throw TokenizerError.unreadable(path, "truncated varint") }
            bytes = bytes.dropFirst()
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    mutating func key() throws -> (Int, Int)? {
        if bytes.isEmpty { return nil }
        let k = try varint()
        return (Int(k >> 3), Int(k & 7))
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let n = try varint()
        guard n <= UInt64(bytes.count) else { throw TokenizerError.unreadable(path, "field longer than the file") }
        let out = bytes.prefix(Int(n))
        bytes = bytes.dropFirst(Int(n))
        return out
    }

    mutating func fixed32() throws -> UInt32 {
        guard bytes.count >= 4 else { throw TokenizerError.unreadable(path, "truncated fixed32") }
        let s = bytes.startIndex
        let v = UInt32(bytes[s]) | UInt32(bytes[s + 1]) << 8 | UInt32(bytes[s + 2]) << 16 | UInt32(bytes[s + 3]) << 24
        bytes = bytes.dropFirst(4)
        return v
    }

    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard bytes.count >= 8 else { throw TokenizerError.unreadable(path, "truncated") }; bytes = bytes.dropFirst(8)
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw TokenizerError.unreadable(path, "unknown protobuf wire type \(wire)")
        }
    }
}
