// Tensor: a shape over contiguous float32 storage.
//
// Storage is either owned (allocated here) or borrowed from memory someone else keeps alive,
// such as a memory-mapped safetensors file, so f32 weights are used in place and never copied.
// Compute is float32 throughout, as HF transformers computes a float32 checkpoint.

/// Contiguous float32 memory with a lifetime.
public final class FloatStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    private let owner: AnyObject?
    private let owned: Bool

    /// Fresh zeroed memory.
    public init(count: Int) {
        let n = Swift.max(count, 1)
        base = .allocate(capacity: n)
        base.initialize(repeating: 0, count: n)
        self.count = count
        owner = nil
        owned = true
    }

    /// Memory owned by `owner` (for example a mapped file); kept alive as long as this storage.
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.base = base
        self.count = count
        self.owner = owner
        owned = false
    }

    deinit {
        if owned { base.deallocate() }
    }
}

public struct Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public let storage: FloatStorage

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var data: UnsafeMutablePointer<Float> { storage.base }
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: storage.base, count: count) }

    /// Zeros of the given shape.
    public init(zeros shape: [Int]) {
        self.shape = shape
        storage = FloatStorage(count: shape.reduce(1, *))
    }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { storage.base.update(from: s, count: values.count) }
        }
    }

    public init(shape: [Int], storage: FloatStorage) {
        precondition(shape.reduce(1, *) <= storage.count, "shape \(shape) exceeds storage of \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// The same storage seen with another shape of equal size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    public var scalars: [Float] { Array(buffer) }

    public subscript(flat index: Int) -> Float {
        get { storage.base[index] }
        nonmutating set { storage.base[index] = newValue }
    }

    /// A deep copy.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Rows [start, start+length) of a tensor seen as [rows, cols], copied.
    public func rows(_ start: Int, _ length: Int) -> Tensor {
        let cols = count / shape[0]
        let t = Tensor(zeros: [length] + Array(shape.dropFirst()))
        t.data.update(from: data + start * cols, count: length * cols)
        return t
    }

    /// Last-dimension size; the tensor is treated as [count / cols, cols].
    public var columns: Int { shape.last ?? 1 }
    public var flatRows: Int { columns == 0 ? 0 : count / columns }
}
