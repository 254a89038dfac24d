// `--parallel N` conversation slots and a bounded queue in front of them. A request takes the idle slot whose
// KV cache already holds the longest prefix of its prompt (so a chat that resends its history lands where its
// history is); when every slot is busy it waits in line, and when the line is full it is turned away (503).
import Foundation
import LlavaGeneration
import LlavaModels

public actor SlotPool {
    public struct Stats: Sendable { public var idle: Int, busy: Int, queued: Int, served: Int, cancelled: Int, rejected: Int }

    final class Slot: @unchecked Sendable {   // owned by one request at a time
        let session: ChatSession
        let queue: DispatchQueue
        init(session: ChatSession, index: Int) {
            self.session = session
            queue = DispatchQueue(label: "llava.slot.\(index)")
        }
    }

    private var idle: [Slot]
    private var waiters: [CheckedContinuation<Slot, Never>] = []
    private let queueLimit: Int
    private let total: Int
    private var served = 0, cancelled = 0, rejected = 0

    init(model: LlavaModel, parallel: Int, queueLimit: Int, contextSize: Int) {
        idle = (0..<parallel).map { Slot(session: ChatSession(model: model, contextSize: contextSize), index: $0) }
        total = parallel
        self.queueLimit = queueLimit
    }

    func acquire(ids: [Int], images: [ChatSession.Image]) async throws -> Slot {
        if !idle.isEmpty {
            let best = idle.indices.max { idle[$0].session.reusablePrefix(ids: ids, images: images) < idle[$1].session.reusablePrefix(ids: ids, images: images) } ?? 0
            return idle.remove(at: best)
        }
        guard waiters.count < queueLimit else {
            rejected += 1
            throw APIError(status: 503, message: "all \(total) slots are busy and \(queueLimit) requests are waiting; retry later",
                           type: "server_overloaded", code: "overloaded", retryAfter: 1)
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func release(_ slot: Slot, cancelled wasCancelled: Bool) {
        served += 1
        if wasCancelled { cancelled += 1 }
        if waiters.isEmpty { idle.append(slot) } else { waiters.removeFirst().resume(returning: slot) }
    }

    public func stats() -> Stats {
        Stats(idle: idle.count, busy: total - idle.count, queued: waiters.count, served: served, cancelled: cancelled, rejected: rejected)
    }
}
