// What the teacher model knows of an image: its captions and its objects' boxes.
// Reads LLaVA's caps/boxes JSONL (llava/eval/table/caps_boxes_coco2014_val_80.jsonl) and COCO's annotation files
// (captions_*.json + instances_*.json, boxes in pixels [x, y, w, h], normalised here as LLaVA did to [x1, y1, x2, y2]).
import Foundation
import LlavaFormats

public struct ImageAnnotations: Codable, Sendable, Equatable {
    public struct Instance: Codable, Sendable, Equatable {
        public var category: String
        public var bbox: [Double]   // [x1, y1, x2, y2], each in 0...1
        public init(category: String, bbox: [Double]) { self.category = category; self.bbox = bbox }
    }
    public var id: String
    public var image: String
    public var captions: [String]
    public var instances: [Instance]

    public init(id: String, image: String, captions: [String], instances: [Instance]) {
        self.id = id; self.image = image; self.captions = captions; self.instances = instances
    }

    /// One record per line; blank lines are skipped; a bad line is an error that names it.
    public static func loadJSONL(_ url: URL) throws -> [ImageAnnotations] {
        var records: [ImageAnnotations] = []
        var seen = Set<String>()
        for (line, object) in try JSONLines.read(url) {
            let record = try parseRecord(object, path: url.path, line: line)
            guard seen.insert(record.id).inserted else {
                throw CurationError.badRecord(path: url.path, line: line, reason: "duplicate id \(record.id)")
            }
            records.append(record)
        }
        return records
    }

    static func parseRecord(_ object: [String: Any], path: String, line: Int) throws -> ImageAnnotations {
        func fail(_ why: String) -> CurationError { .badRecord(path: path, line: line, reason: why) }
        let id: String
        if let s = object["id"] as? String { id = s } else if let n = object["id"] as? Int { id = String(n) } else {
            throw fail("missing \"id\"")
        }
        guard let image = object["image"] as? String else { throw fail("missing \"image\"") }
        guard let captions = object["captions"] as? [String] else { throw fail("\"captions\" must be a list of strings") }
        var instances: [Instance] = []
        for (i, item) in ((object["instances"] as? [Any]) ?? []).enumerated() {
            guard let inst = item as? [String: Any], let category = inst["category"] as? String,
                  let box = inst["bbox"] as? [Any], box.count == 4 else {
                throw fail("instance \(i) needs \"category\" and a four-number \"bbox\"")
            }
            let values = box.compactMap { ($0 as? NSNumber)?.doubleValue }
            guard values.count == 4, values.allSatisfy({ $0.isFinite }) else { throw fail("instance \(i): bbox is not four numbers") }
            instances.append(Instance(category: category, bbox: values))
        }
        return ImageAnnotations(id: id, image: image, captions: captions, instances: instances)
    }

    /// COCO 2014/2017 annotation files. Images keep the order of the captions file's `images` list; images with no
    /// caption are left out. Boxes become [x / W, y / H, (x + w) / W, (y + h) / H].
    public static func loadCOCO(captions captionsURL: URL, instances instancesURL: URL?) throws -> [ImageAnnotations] {
        func readObject(_ url: URL) throws -> [String: Any] {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw CurationError.unreadable(path: url.path, reason: error.localizedDescription)
            }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CurationError.unreadable(path: url.path, reason: "not a COCO annotation file (JSON object)")
            }
            return object
        }
        func intValue(_ any: Any?) -> Int? { (any as? NSNumber)?.intValue }

        let capsFile = try readObject(captionsURL)
        guard let images = capsFile["images"] as? [[String: Any]],
              let annotations = capsFile["annotations"] as? [[String: Any]] else {
            throw CurationError.unreadable(path: captionsURL.path, reason: "needs \"images\" and \"annotations\" lists")
        }
        var order: [Int] = []
        var info: [Int: (file: String, width: Double, height: Double)] = [:]
        for image in images {
            guard let id = intValue(image["id"]), let file = image["file_name"] as? String,
                  let w = intValue(image["width"]), let h = intValue(image["height"]), w > 0, h > 0 else {
                throw CurationError.unreadable(path: captionsURL.path, reason: "an image entry lacks id, file_name, width or height")
            }
            if info[id] == nil { order.append(id) }
            info[id] = (file, Double(w), Double(h))
        }
        var captions: [Int: [String]] = [:]
        for ann in annotations {
            guard let id = intValue(ann["image_id"]), let caption = ann["caption"] as? String else {
                throw CurationError.unreadable(path: captionsURL.path, reason: "a caption annotation lacks image_id or caption")
            }
            captions[id, default: []].append(caption.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var boxes: [Int: [Instance]] = [:]
        if let instancesURL {
            let instFile = try readObject(instancesURL)
            guard let anns = instFile["annotations"] as? [[String: Any]],
                  let cats = instFile["categories"] as? [[String: Any]] else {
                throw CurationError.unreadable(path: instancesURL.path, reason: "needs \"annotations\" and \"categories\" lists")
            }
            var names: [Int: String] = [:]
            for c in cats { if let id = intValue(c["id"]), let name = c["name"] as? String { names[id] = name } }
            for ann in anns {
                guard let imageID = intValue(ann["image_id"]), let catID = intValue(ann["category_id"]),
                      let name = names[catID], let box = ann["bbox"] as? [Any], box.count == 4 else {
                    throw CurationError.unreadable(path: instancesURL.path, reason: "an instance lacks image_id, a known category_id or bbox")
                }
                guard let size = info[imageID] else { continue }   // an image without captions: nothing to curate
                let v = box.compactMap { ($0 as? NSNumber)?.doubleValue }
                guard v.count == 4 else { throw CurationError.unreadable(path: instancesURL.path, reason: "a bbox is not four numbers") }
                boxes[imageID, default: []].append(Instance(category: name, bbox: [
                    v[0] / size.width, v[1] / size.height, (v[0] + v[2]) / size.width, (v[1] + v[3]) / size.height,
                ]))
            }
        }
        return order.compactMap { id in
            guard let caps = captions[id], let meta = info[id] else { return nil }
            let stem = (meta.file as NSString).deletingPathExtension
            let shortID = stem.split(separator: "_").last.map(String.init) ?? stem
            return ImageAnnotations(id: shortID, image: meta.file, captions: caps, instances: boxes[id] ?? [])
        }
    }
}
