import FlrCheckpoints
import FlrGenerate
import FlrModel
import FlrProcessor
import FlrTokenizer
import Foundation

// What `load` keeps resident: the Florence-2 weights, the tokenizer from the same folder, and the
// generator that captions with them.

public final class LoadedModel: @unchecked Sendable {
  /// The folder the weights came from.
  public let folder: String
  /// What the user typed (`microsoft/Florence-2-base-ft` or a path).
  public let source: String
  public let revision: String?
  public let model: Florence2
  public let tokenizer: BartTokenizer
  /// Prompt -> ids, images -> pixel values, ids -> caption text (the tokenizer's).
  public let processor: Florence2Processor
  public let generator: Generator
  /// What `precision=` converted at load (nil: loaded at fp32).
  public internal(set) var precisionSummary: PrecisionSummary?
  /// torch's name for the checkpoint's weight dtype ("float32", "bfloat16", "float16").
  public internal(set) var checkpointDType = "float32"
  /// LoRA adapters resident beside the model (`lora`, `load adapter=`, `use`); they swap layers in place.
  public private(set) lazy var adapters = LoRAAdapters(model: model)

  public init(folder: String, source: String, revision: String?, model: Florence2, tokenizer: BartTokenizer) {
    self.folder = folder
    self.source = source
    self.revision = revision
    self.model = model
    self.tokenizer = tokenizer
    processor = Florence2Processor(tokenizer: tokenizer)
    generator = Generator(model: model, tokenizer: tokenizer)
  }

  /// Resolves `source` (folder, or hub id in the local cache) and loads weights and tokenizer.
  public static func load(
    _ source: String, revision: String?, quantize: WeightQuantization = .none, precision: WeightPrecision = .fp32
  ) throws -> LoadedModel {
    let folder = try HubCache.resolve(source, revision: revision)
    let model = try Florence2.load(folder: folder, quantize: quantize)
    let tokenizer = try BartTokenizer(folder: URL(fileURLWithPath: folder))
    let loaded = LoadedModel(folder: folder, source: source, revision: revision, model: model, tokenizer: tokenizer)
    loaded.checkpointDType = (try? Florence2.checkpointDType(folder: folder)) ?? "float32"
    if precision != .fp32 {
      if quantize == .nf4 || !model.nf4Layers().isEmpty {
        throw ShellError(
          "precision=\(precision.rawValue) does not combine with NF4 (its Linears are already 4-bit); use one or the other"
        )
      }
      loaded.precisionSummary = try model.convertWeights(to: precision)
    }
    return loaded
  }

  /// Short name for the prompt: the hub id's last part or the folder's name, without `Florence-2-`.
  public var displayName: String {
    let trimmed = source.hasSuffix("/") ? String(source.dropLast()) : source
    let last = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    return last.hasPrefix("Florence-2-") ? String(last.dropFirst("Florence-2-".count)) : last
  }
}
