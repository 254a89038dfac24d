// A whole file mapped into memory, read-only to us and copy-on-write to the kernel,
// so tensors can point straight into it.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum FileError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .notFound(let p): return "file not found: \(p)"
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        }
    }
}

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeMutableRawPointer
    public let size: Int

    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FileError.notFound(path) }
        if isDir.boolValue { throw FileError.unreadable(path, "is a directory") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.unreadable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError.unreadable(path, String(cString: strerror(errno))) }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            return
        }
        // MAP_PRIVATE + PROT_WRITE: pages stay shared with the page cache until written, and we never write.
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw FileError.unreadable(path, "mmap failed: \(String(cString: strerror(errno)))") }
        base = p
    }

    deinit {
        if size == 0 { base.deallocate() } else { munmap(base, size) }
    }

    /// Tells the kernel we are done with these bytes for now (they were copied elsewhere): their pages leave this
    /// process's resident set and are read from the file again only if touched. Whole pages inside the range only.
    public func release(_ start: UnsafeRawPointer, count: Int) {
        guard size > 0, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (Int(bitPattern: start) + page - 1) / page * page
        let hi = (Int(bitPattern: start) + count) / page * page
        guard hi > lo, lo >= Int(bitPattern: base), hi <= Int(bitPattern: base) + size else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED)
    }

    /// These bytes will be read a little at a time in no order (embedding rows): no read-ahead and no mapping of
    /// neighbouring pages on a fault, so only the pages actually read become resident.
    public func adviseRandomAccess(_ start: UnsafeRawPointer, count: Int) {
        guard size > 0, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = Int(bitPattern: start) / page * page
        let hi = min(Int(bitPattern: base) + size, (Int(bitPattern: start) + count + page - 1) / page * page)
        guard hi > lo, lo >= Int(bitPattern: base) else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_RANDOM)
    }

    public func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}
