// The learning-rate factor of each optimiser step, as transformers' schedulers compute it: linear warmup over
// ceil(total * warmupRatio) steps from 0, then a half cosine to 0 (get_cosine_schedule_with_warmup) or constant
// (get_constant_schedule_with_warmup). Step numbers count from 0, as the scheduler's do.
import Foundation

public enum ScheduleKind: String, Sendable, Codable, CaseIterable {
    case cosine, constant
}

public struct LearningRateSchedule: Sendable, Equatable {
    public let kind: ScheduleKind
    public let totalSteps: Int
    public let warmupSteps: Int

    public init(kind: ScheduleKind, totalSteps: Int, warmupRatio: Double) {
        self.kind = kind; self.totalSteps = totalSteps
        warmupSteps = Int((Double(totalSteps) * warmupRatio).rounded(.up))
    }

    public func factor(step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant: return 1
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
