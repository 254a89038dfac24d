// `llava train`: LLaVA's stage 1 (projector only, image–caption pairs) and stage 2 (projector + language model,
// full or LoRA, on instruction data), from a llava-hf folder to a llava-hf folder; resumable with --resume;
// Ctrl-C writes a checkpoint before it stops.
import ArgumentParser
import Foundation
import LlavaFormats
import LlavaTensor
import LlavaTraining

nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a llava-hf model: stage 1 (feature alignment) or stage 2 (instruction tuning).")

    @Option(help: "1: projector only, on captions (LLaVA's plain form). 2: projector + language model, on conversations.") var stage: Int
    @Option(help: "llava-hf checkpoint folder to start from.") var model: String
    @Option(help: "LLaVA-Instruct JSON (as `llava curate` writes it).") var data: String
    @Option(help: "Folder the samples' image paths are relative to.") var images: String?
    @Option(help: "Output folder: checkpoint/, log.jsonl, loss.svg, then the trained llava-hf model.") var output: String
    @Option(help: "Optimiser steps (default: --epochs).") var steps: Int?
    @Option(help: "Passes over the data (default 1).") var epochs: Int?
    @Option(help: "Samples per micro-batch.") var batchSize: Int = 1
    @Option(help: "Micro-batches per optimiser step.") var gradAccum: Int = 1
    @Option(help: "Peak learning rate (LLaVA: 1e-3 stage 1, 2e-5 stage 2, 2e-4 LoRA).") var lr: Float?
    @Option(help: "The projector's own learning rate (LLaVA's mm_projector_lr).") var projectorLr: Float?
    @Option(help: "cosine or constant, after linear warmup.") var schedule: String = "cosine"
    @Option(help: "Fraction of the steps spent warming up.") var warmupRatio: Double = 0.03
    @Option(help: "AdamW weight decay (never on biases or norm weights).") var weightDecay: Float = 0
    @Option(help: "AdamW epsilon.") var adamEpsilon: Float = 1e-8
    @Option(help: "AdamW beta1.") var adamBeta1: Float = 0.9
    @Option(help: "AdamW beta2.") var adamBeta2: Float = 0.999
    @Option(help: "Clip the gradients' total norm to this (0: no clipping).") var maxGradNorm: Float = 1
    @Option(help: "Positions per sample after image expansion; longer samples are cut.") var maxLength: Int = 2048
    @Option(help: "LoRA rank (stage 2; enables LoRA).") var loraRank: Int?
    @Option(help: "LoRA alpha (default 2 × rank).") var loraAlpha: Float?
    @Option(help: "LoRA dropout.") var loraDropout: Float = 0.05
    @Option(help: "LoRA target projections, comma-separated: q,k,v,o,gate,up,down.") var loraTargets: String = "q,k,v,o,gate,up,down"
    @Flag(help: "Visit the samples in the file's order.") var noShuffle = false
    @Option(help: "Seed for data order, LoRA initialisation and dropout.") var seed: UInt64 = 42
    @Option(help: "Write a checkpoint every N steps (always at the end).") var checkpointEvery: Int = 0
    @Flag(help: "Continue from the checkpoint in --output.") var resume = false
    @Option(help: "Threads.") var threads: Int?

    func run() throws {
        try runReportingErrors {
            guard let stageKind = TrainingStage(rawValue: stage) else { throw ValidationError("--stage must be 1 or 2") }
            guard let scheduleKind = ScheduleKind(rawValue: schedule) else { throw ValidationError("--schedule must be cosine or constant") }
            guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must not be negative") }
            if let threads { BLAS.setThreads(max(1, threads)); Parallel.threads = max(1, threads) }
            var o = TrainingOptions(stage: stageKind)
            o.steps = steps; o.epochs = epochs; o.batchSize = batchSize; o.gradAccum = gradAccum
            o.lr = lr ?? (stageKind == .alignment ? 1e-3 : (loraRank != nil ? 2e-4 : 2e-5))
            o.projectorLR = projectorLr; o.schedule = scheduleKind; o.warmupRatio = warmupRatio
            o.weightDecay = weightDecay; o.adamEpsilon = adamEpsilon; o.adamBeta1 = adamBeta1; o.adamBeta2 = adamBeta2; o.maxGradNorm = maxGradNorm; o.maxLength = maxLength
            o.shuffle = !noShuffle; o.seed = seed
            if let r = loraRank {
                let targets = loraTargets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                o.lora = LoRAOptions(rank: r, alpha: loraAlpha ?? Float(2 * r), dropout: loraDropout, targets: targets)
            } else if loraAlpha != nil {
                throw ValidationError("--lora-alpha needs --lora-rank")
            }
            var config = TrainingRunConfig(model: model, data: data, images: images, output: output, options: o)
            config.checkpointEvery = checkpointEvery
            config.resume = resume
            let run = try TrainingRun(config)
            let t = run.trainer
            let trained = t.optimizer.parameters.reduce(0) { $0 + $1.value.count }
            var note = "stage \(stage): \(run.data.count) samples, \(t.totalSteps) steps of \(batchSize)×\(gradAccum), "
            note += "\(trained) trained values in \(t.optimizer.parameters.count) tensors"
            if run.data.truncated > 0 { note += ", \(run.data.truncated) samples cut to --max-length \(maxLength)" }
            if run.data.mismatched > 0 { note += ", \(run.data.mismatched) masked whole (tokenization mismatch, as LLaVA does)" }
            if run.resumedFrom > 0 { note += "; resuming after step \(run.resumedFrom)" }
            FileHandle.standardError.write(Data((note + "\n").utf8))
            signal(SIGINT) { _ in interruptRequested = 1 }
            let bar = ProgressBar(label: "train", unit: "step")
            try run.run(onStep: { r in
                let extra = String(format: "loss %.4f · lr %.2e · %.0f tok/s", r.loss, r.lr, r.tokensPerSecond)
                bar.update(done: r.step, total: t.totalSteps, extra: extra, final: r.step == t.totalSteps)
            }, shouldStop: { interruptRequested != 0 })
            if interruptRequested != 0 && !t.finished {
                FileHandle.standardError.write(Data("stopped after step \(t.step); checkpoint written — rerun with --resume to continue\n".utf8))
                throw ExitCode(130)
            }
            let last = run.records.last.map { String(format: "%.4f", $0.loss) } ?? "-"
            FileHandle.standardError.write(Data("done: final loss \(last); model in \(output), curve in \(output)/loss.svg\n".utf8))
        }
    }
}

struct MergeLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-lora", abstract: "Fold LoRA adapters (and a trained projector) into a llava-hf model.")

    @Option(help: "The base llava-hf folder the adapters were trained on.") var model: String
    @Option(help: "Adapter folder: adapter_config.json, adapter_model.safetensors [, non_lora_trainables.safetensors].") var adapter: String
    @Option(help: "Output llava-hf folder.") var output: String

    func run() throws {
        try runReportingErrors {
            guard URL(fileURLWithPath: model).standardizedFileURL != URL(fileURLWithPath: output).standardizedFileURL else {
                throw ValidationError("--output must not be the model folder")
            }
            let base = try LlavaFormats.WeightStore(folder: model)
            let merged = try HFExport.mergedTensors(base: base, adapter: URL(fileURLWithPath: adapter))
            try HFExport.write(source: base, replaced: merged, to: URL(fileURLWithPath: output))
            FileHandle.standardError.write(Data("merged \(merged.count) tensors into \(output)\n".utf8))
        }
    }
}
