// The CLIP / LLaVA image processor as HF transformers' PIL backend runs it
// (LlavaImageProcessorPil, CLIPImageProcessor): transparency composited over white (convert_to_rgb; the GGUF and
// original-release loaders turn that off, as their references drop alpha), optional pad-to-square with the mean colour
// (LLaVA-1.5's "pad" mode), shortest-edge resize with PIL bicubic, centre crop, rescale
// (in double, then float32), normalise (in float32). Output is [3, H, W] float32, channels first.
import Foundation
import LlavaFormats
import LlavaTensor

public struct ImageProcessorConfig: Sendable, Equatable {
    public enum Size: Sendable, Equatable {
        case shortestEdge(Int)
        case exact(height: Int, width: Int)
    }
    public var size: Size = .shortestEdge(336)
    public var cropHeight = 336
    public var cropWidth = 336
    public var doResize = true
    public var doCenterCrop = true
    public var doRescale = true
    public var rescaleFactor = 1.0 / 255.0
    public var doNormalize = true
    public var mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public var std: [Float] = [0.26862954, 0.26130258, 0.27577711]
    public var doPad = false
    public var resample: ResampleFilter = .bicubic
    /// HF's `do_convert_rgb`: an image with transparency is composited over opaque white first. llama.cpp's mtmd
    /// (stb_image, 3 channels) and the original LLaVA (PIL convert("RGB")) drop alpha instead: false for them.
    public var compositeAlpha = true

    public init() {}

    /// From `preprocessor_config.json` (flat) or the `image_processor` object of `processor_config.json`.
    public init(json: JSONValue) throws {
        if let s = json["size"] {
            if let e = s["shortest_edge"]?.int { size = .shortestEdge(e) }
            else if let h = s["height"]?.int, let w = s["width"]?.int { size = .exact(height: h, width: w) }
            else if let e = s.int { size = .shortestEdge(e) }
            else { throw ImageProcessorError.badConfig("size \(s)") }
        }
        if let c = json["crop_size"] {
            if let h = c["height"]?.int, let w = c["width"]?.int { cropHeight = h; cropWidth = w }
            else if let e = c.int { cropHeight = e; cropWidth = e }
            else { throw ImageProcessorError.badConfig("crop_size \(c)") }
        } else if case .shortestEdge(let e) = size { cropHeight = e; cropWidth = e }
        doResize = json["do_resize"]?.bool ?? true
        doCenterCrop = json["do_center_crop"]?.bool ?? true
        doRescale = json["do_rescale"]?.bool ?? true
        rescaleFactor = json["rescale_factor"]?.double ?? (1.0 / 255.0)
        doNormalize = json["do_normalize"]?.bool ?? true
        if let m = json["image_mean"]?.array { mean = m.compactMap { $0.double.map(Float.init) } }
        if let s = json["image_std"]?.array { std = s.compactMap { $0.double.map(Float.init) } }
        guard mean.count == 3, std.count == 3 else { throw ImageProcessorError.badConfig("image_mean/image_std need 3 values") }
        doPad = json["do_pad"]?.bool ?? false
        compositeAlpha = json["do_convert_rgb"]?.bool ?? true
        if let r = json["resample"]?.int {
            guard let f = ResampleFilter(rawValue: r) else { throw ImageProcessorError.badConfig("resample \(r)") }
            resample = f
        }
    }

    /// The size of the processed image.
    public var outputSize: (height: Int, width: Int) {
        if doCenterCrop { return (cropHeight, cropWidth) }
        if case .exact(let h, let w) = size { return (h, w) }
        if case .shortestEdge(let e) = size { return (e, e) }
        return (cropHeight, cropWidth)
    }
}

public enum ImageProcessorError: Error, CustomStringConvertible, Equatable {
    case badConfig(String)
    public var description: String {
        switch self { case .badConfig(let s): return "bad image processor config: \(s)" }
    }
}

public struct CLIPImageProcessor: Sendable {
    public let config: ImageProcessorConfig
    public init(config: ImageProcessorConfig) { self.config = config }

    /// [3, H, W]
    public func process(_ input: RGBImage) -> Tensor {
        var image = config.compositeAlpha ? input.compositedOverWhite() : input
        if config.doPad { image = padToSquare(image) }
        if config.doResize { image = resize(image) }
        var chw = toChannelsFirst(image)  // [3, h, w] bytes as float (0...255)
        var h = image.height, w = image.width
        if config.doCenterCrop { (chw, h, w) = centerCrop(chw, h, w) }
        let t = Tensor(zeros: [3, h, w])
        let plane = h * w
        for c in 0..<3 {
            let mean = config.mean[c], std = config.std[c]
            for i in 0..<plane {
                var v = chw[c * plane + i]
                if config.doRescale { v = Float(Double(v) * config.rescaleFactor) }
                if config.doNormalize { v = (v - mean) / std }
                t.data[c * plane + i] = v
            }
        }
        return t
    }

    /// Pads to a square with the mean colour (each channel int(mean * 255)), the image centred.
    public func padToSquare(_ image: RGBImage) -> RGBImage {
        let (w, h) = (image.width, image.height)
        if w == h { return image }
        let side = max(w, h)
        let fill = config.mean.map { UInt8(clamping: Int(Double($0) * 255)) }
        var out = RGBImage(width: side, height: side, fill: (fill[0], fill[1], fill[2]))
        let top = w > h ? (side - h) / 2 : 0
        let left = w > h ? 0 : (side - w) / 2
        for y in 0..<h {
            for x in 0..<w {
                let s = (y * w + x) * 3, d = ((y + top) * side + x + left) * 3
                out.pixels[d] = image.pixels[s]; out.pixels[d + 1] = image.pixels[s + 1]; out.pixels[d + 2] = image.pixels[s + 2]
            }
        }
        return out
    }

    public func resize(_ image: RGBImage) -> RGBImage {
        let (h, w): (Int, Int)
        switch config.size {
        case .exact(let eh, let ew): (h, w) = (eh, ew)
        case .shortestEdge(let e):
            // transformers' get_resize_output_image_size: the long side truncated to an integer.
            let short = min(image.width, image.height), long = max(image.width, image.height)
            let newLong = Int(Double(e) * Double(long) / Double(short))
            (h, w) = image.width <= image.height ? (newLong, e) : (e, newLong)
        }
        return PILResample.resize(image, width: w, height: h, filter: config.resample)
    }

    func toChannelsFirst(_ image: RGBImage) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            out[i] = Float(image.pixels[3 * i])
            out[plane + i] = Float(image.pixels[3 * i + 1])
            out[2 * plane + i] = Float(image.pixels[3 * i + 2])
        }
        return out
    }

    /// transformers' center_crop: offsets by floor division; where the image is smaller than the crop
    /// it is zero-padded first, which amounts to reading zeros outside it.
    func centerCrop(_ chw: [Float], _ h: Int, _ w: Int) -> ([Float], Int, Int) {
        let ch = config.cropHeight, cw = config.cropWidth
        let offY = Int((Double(h - ch) / 2).rounded(.down)), offX = Int((Double(w - cw) / 2).rounded(.down))
        var out = [Float](repeating: 0, count: 3 * ch * cw)
        for c in 0..<3 {
            for y in 0..<ch {
                let sy = y + offY
                if sy < 0 || sy >= h { continue }
                for x in 0..<cw {
                    let sx = x + offX
                    if sx < 0 || sx >= w { continue }
                    out[(c * ch + y) * cw + x] = chw[(c * h + sy) * w + sx]
                }
            }
        }
        return (out, ch, cw)
    }
}
