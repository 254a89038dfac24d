// Stage-1 (feature alignment) data: image–caption pairs become single-turn samples, a brief-description instruction
// of our own phrasing plus the caption. LLaVA filtered CC3M by noun-phrase frequency before this (paper, section 4.1):
// count each noun phrase over all captions, drop phrases seen fewer than 3 times (rare concept–attribute mixes), and
// for phrases seen more than 100 times keep a random 100 of their captions; a caption survives if some phrase keeps it.
// LLaVA used spaCy's noun chunks; here a noun phrase is a run of words between function words and verbs — a heuristic
// with no tagger, good enough to find frequent and rare concepts.
import Foundation
import LlavaFormats
import LlavaGeneration

public struct CaptionPair: Sendable, Equatable {
    public var id: String
    public var image: String
    public var caption: String
    public init(id: String, image: String, caption: String) { self.id = id; self.image = image; self.caption = caption }

    /// JSONL with `image` and `caption` (or `captions`, whose first one is used), and an optional `id`
    /// (the image's file name without extension otherwise).
    public static func loadJSONL(_ url: URL) throws -> [CaptionPair] {
        var pairs: [CaptionPair] = []
        for (line, object) in try JSONLines.read(url) {
            func fail(_ why: String) -> CurationError { .badRecord(path: url.path, line: line, reason: why) }
            guard let image = object["image"] as? String else { throw fail("missing \"image\"") }
            guard let caption = (object["caption"] as? String) ?? (object["captions"] as? [String])?.first else {
                throw fail("missing \"caption\"")
            }
            let id = (object["id"] as? String) ?? (object["id"] as? NSNumber)?.stringValue
                ?? ((image as NSString).lastPathComponent as NSString).deletingPathExtension
            pairs.append(CaptionPair(id: id, image: image, caption: caption.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return pairs
    }
}

public enum NounPhrases {
    /// Words that end a noun phrase: articles, pronouns, prepositions, conjunctions, auxiliaries and common verbs.
    static let breakers: Set<String> = [
        "a", "an", "the", "this", "that", "these", "those", "some", "any", "each", "every", "his", "her", "its", "their",
        "our", "my", "your", "it", "they", "he", "she", "we", "you", "i", "them", "him", "there", "here",
        "of", "in", "on", "at", "by", "for", "with", "without", "from", "to", "into", "onto", "over", "under", "near",
        "next", "behind", "above", "below", "beside", "between", "through", "across", "along", "around", "up", "down",
        "out", "off", "inside", "outside", "against", "toward", "towards", "while", "as", "like", "than",
        "and", "or", "but", "nor", "so", "yet", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had",
        "do", "does", "did", "can", "could", "will", "would", "may", "might", "not", "no", "very", "just", "also",
        "sits", "sit", "stands", "stand", "looks", "look", "holds", "hold", "shows", "show", "lies", "lay", "lays",
        "walks", "walk", "rides", "ride", "plays", "play", "eats", "eat", "waits", "wait", "poses", "pose", "flies",
        "fly", "parked", "filled", "covered", "made", "topped", "seen", "taken", "set", "who", "which", "what", "where",
        "when", "how", "other", "another", "one", "two", "three", "four", "five", "several", "many", "few", "lot", "lots",
        "large", "small", "big",
    ]
    /// -ing and -ed words that are nouns or adjectives of a phrase, not verbs.
    static let keepers: Set<String> = [
        "building", "buildings", "clothing", "ceiling", "painting", "paintings", "wedding", "evening", "morning",
        "ring", "king", "thing", "things", "string", "wing", "wings", "swing", "spring", "sling", "ping", "bedding",
        "stuffed", "bed", "sled", "shed", "red", "skiing", "surfing", "parking", "dining", "living", "sailing", "fishing",
        "ceilings", "railing", "railings", "frosting", "icing", "awning", "pudding", "stocking", "stuffing",
    ]

    /// The noun phrases of one caption, lower-cased, each the last four words at most of a run.
    public static func extract(_ caption: String) -> [String] {
        let words = caption.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }.map(String.init)
        var phrases: [String] = []
        var run: [String] = []
        func flush() {
            if !run.isEmpty, run.contains(where: { $0.count > 2 }) { phrases.append(run.suffix(4).joined(separator: " ")) }
            run = []
        }
        for word in words {
            let verbish = !keepers.contains(word) && word.count > 4 && (word.hasSuffix("ing") || word.hasSuffix("ed"))
            if breakers.contains(word) || verbish || word.allSatisfy(\.isNumber) { flush() } else { run.append(word) }
        }
        flush()
        return Array(Set(phrases)).sorted()
    }

    /// Indices of the captions kept by LLaVA's frequency filter, in input order.
    public static func filter(_ captions: [String], minFrequency: Int = 3, maxPerPhrase: Int = 100, seed: UInt64 = 0) -> [Int] {
        var byPhrase: [String: [Int]] = [:]
        for (i, caption) in captions.enumerated() { for phrase in extract(caption) { byPhrase[phrase, default: []].append(i) } }
        var keep = Set<Int>()
        var rng = SeededGenerator(seed: seed)
        for phrase in byPhrase.keys.sorted() {   // sorted: the draws do not depend on dictionary order
            let members = byPhrase[phrase] ?? []
            guard members.count >= minFrequency else { continue }
            if members.count > maxPerPhrase {
                var shuffled = members
                shuffled.shuffle(using: &rng)
                keep.formUnion(shuffled.prefix(maxPerPhrase))
            } else {
                keep.formUnion(members)
            }
        }
        return keep.sorted()
    }
}

public enum CaptionData {
    /// Instructions asking for a brief description (swift-llava's own phrasings).
    public static let briefInstructions = [
        "Describe the image briefly.",
        "Give a short caption for this picture.",
        "Sum up the photo in one sentence.",
        "What does this image show, in a few words?",
        "Write a brief description of the picture.",
        "Caption this image concisely.",
        "Say in one line what is in the photo.",
        "Give a short summary of the image.",
        "Briefly, what is in this picture?",
        "Offer a concise description of the scene.",
    ]

    /// One stage-1 sample per pair; the instruction and the side of `<image>` are drawn per sample from the seed.
    public static func samples(_ pairs: [CaptionPair], seed: UInt64) -> [InstructSample] {
        pairs.map { pair in
            var rng = CurationPipeline.generator(seed: seed, key: "caption/\(pair.id)")
            let instruction = briefInstructions[Int(rng.next() % UInt64(briefInstructions.count))]
            let marker = InstructSample.imageMarker
            let human = rng.next() & 1 == 0 ? "\(marker)\n\(instruction)" : "\(instruction)\n\(marker)"
            return InstructSample(id: pair.id, image: pair.image,
                                  conversations: [.init(from: "human", value: human), .init(from: "gpt", value: pair.caption)])
        }
    }
}
