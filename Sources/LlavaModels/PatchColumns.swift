// The patch embedding's input as a matrix (im2col): one row per non-overlapping p×p patch of a [C, size, size]
// image, laid out [C, p, p] like a Conv2d(kernel = stride = p) weight, so the conv becomes one product. Pixels past
// the last whole patch are dropped, as the strided conv drops them. Shared by the CLIP and DINOv2 towers.
import LlavaTensor

enum PatchColumns {
    /// pixels [C, size, size] -> [side², C·p·p], side = size / p
    static func make(_ pixels: Tensor, channels ch: Int, size: Int, patch p: Int) -> Tensor {
        let side = size / p
        let cols = Tensor(zeros: [side * side, ch * p * p])
        for py in 0..<side {
            for px in 0..<side {
                let row = cols.data + (py * side + px) * ch * p * p
                var k = 0
                for cc in 0..<ch {
                    for y in 0..<p {
                        let src = pixels.data + (cc * size + py * p + y) * size + px * p
                        for x in 0..<p { row[k] = src[x]; k += 1 }
                    }
                }
            }
        }
        return cols
    }
}
