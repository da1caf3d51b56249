// Remote code modeling_florence2.py: Florence2ForConditionalGeneration (transformers 5:
// Florence2ForConditionalGeneration / Florence2Model). Children, by their original key names:
// vision_tower, image_projection + image_proj_norm + image_pos_embed + visual_temporal_embed (ImageProjector),
// language_model.
import FlrCheckpoints
import FlrCore
import Foundation

public final class Florence2 {
  public let config: FlorenceConfig
  public let visionTower: DaViT
  public let imageProjector: ImageProjector
  public let languageModel: LanguageModel
  /// Every module path, Linear / Conv2d slot and tensor key, as building recorded them (ModuleRecord).
  public let modules: ModuleRecord

  /// Builds every module from `weights` and checks that they fit: one error lists every missing, unexpected
  /// or mis-shaped tensor. Nothing is kept when it throws.
  public init(config: FlorenceConfig, weights: Weights) throws {
    try config.validate()
    self.config = config
    visionTower = DaViT(weights.child("vision_tower"), config: config.vision)
    imageProjector = ImageProjector(weights, config: config)
    languageModel = LanguageModel(weights.child("language_model"), config: config.text)
    modules = weights.store.record
    try weights.finish()
  }

  /// A folder, or a hub id such as `microsoft/Florence-2-base-ft` resolved in the local Hugging Face cache
  /// exactly as huggingface_hub does (flr never downloads; the error says how to fetch it).
  /// `quantize: .nf4` stores every Linear but lm_head as NF4 (Florence2+NF4.swift).
  /// `precision` holds the frozen weights in bf16 or int8 (Florence2+Precision.swift).
  public static func load(
    _ reference: String, revision: String? = nil, quantize: WeightQuantization = .none,
    precision: WeightPrecision = .fp32
  ) throws -> Florence2 {
    try load(folder: HubCache.resolve(reference, revision: revision), quantize: quantize, precision: precision)
  }

  /// A snapshot folder: config.json plus model.safetensors / sharded / pytorch_model.bin, either naming.
  public static func load(folder: String, quantize: WeightQuantization = .none, precision: WeightPrecision = .fp32)
    throws -> Florence2
  {
    let config = try FlorenceConfig.load(URL(fileURLWithPath: folder).appendingPathComponent("config.json"))
    let set = try CheckpointSet.open(folder: folder)
    let file = set.files.first ?? folder
    let nf4 = quantize == .nf4 || BitsAndBytesCheckpoint.isQuantized(set)
    if nf4 && precision != .fp32 {
      throw ModelError(
        file: file,
        "precision=\(precision.rawValue) does not combine with NF4 (its Linears are already 4-bit); "
          + "use one or the other")
    }
    // A bitsandbytes 4-bit checkpoint (`save model … quantized`) loads as NF4 whatever `quantize` says.
    if BitsAndBytesCheckpoint.isQuantized(set) {
      return try BitsAndBytesCheckpoint.load(set, config: config, file: file)
    }
    let sources = try CheckpointNaming.canonicalSources(set.tensors, config: config, file: file)
    let model = try Florence2(config: config, weights: Weights(file: file, sources: sources))
    if quantize == .nf4 { try model.quantizeLinearsNF4(sourceDType: set.torchWeightDType) }
    try model.convertWeights(to: precision)
    return model
  }

  /// Random weights at `config`'s shapes (benchmarks, memory checks).
  public static func random(config: FlorenceConfig, seed: UInt64 = 0) throws -> Florence2 {
    try Florence2(config: config, weights: Weights(randomSeed: seed))
  }

  // MARK: forward (SPEC §3)

  /// pixelValues [B, 3, 768, 768] -> image features [B, 577, d]
  public func imageFeatures(pixelValues: Tensor) throws -> Tensor {
    guard pixelValues.rank == 4, pixelValues.shape[1] == 3 else {
      throw ModelError(file: "pixel values", "expected [B, 3, H, W], got \(pixelValues.shape)")
    }
    return try imageProjector.forward(visionTower.forward(pixelValues))
  }

  /// [image features ‖ prompt embeddings] -> encoder output [B, 577 + T, d]. All prompts have the same length
  /// T; pad ids take part unmasked, as in the remote code (SPEC §3.9).
  public func encode(imageFeatures: Tensor, promptIds: [[Int32]]) throws -> Tensor {
    let b = imageFeatures.shape[0]
    let ids = try flatten(promptIds, rows: b, what: "prompt ids")
    return try languageModel.encoder.forward(merge(imageFeatures: imageFeatures, promptIds: ids, rows: b), batch: b)
  }

  /// image features [B, N, d], prompt ids [B·T] -> inputs_embeds [B, N + T, d] = [features ‖ embed(prompt)]
  /// (_merge_input_ids_with_image_features without an attention mask).
  func merge(imageFeatures: Tensor, promptIds ids: [Int32], rows b: Int) -> Tensor {
    let n = imageFeatures.shape[1], d = languageModel.dim, t = ids.count / max(b, 1)
    let prompt = languageModel.embedTokens(ids, rows: b)  // [B, T, d]
    let merged = Tensor(uninitialized: [b, n + t, d])
    for i in 0..<b {
      (merged.data + i * (n + t) * d).update(from: imageFeatures.data + i * n * d, count: n * d)
      (merged.data + (i * (n + t) + n) * d).update(from: prompt.data + i * t * d, count: t * d)
    }
    return merged
  }

  /// Teacher forcing: decoder input ids [B][T] and encoder output [B, S, d] -> logits [B, T, V]
  public func decode(decoderInputIds: [[Int32]], encoderOutput: Tensor) throws -> Tensor {
    let b = encoderOutput.shape[0]
    let ids = try flatten(decoderInputIds, rows: b, what: "decoder input ids")
    let hidden = try languageModel.decoder.forward(
      ids, batch: b, encoderOutput: encoderOutput, shared: languageModel.shared)
    return languageModel.logits(hidden)
  }

  /// The remote code's training forward: logits [B, T, V] for `labels` (-100 = ignored) and their loss.
  public func forward(pixelValues: Tensor, promptIds: [[Int32]], labels: [[Int32]]) throws -> (
    logits: Tensor, loss: Float
  ) {
    let encoderOutput = try encode(imageFeatures: imageFeatures(pixelValues: pixelValues), promptIds: promptIds)
    let logits = try decode(decoderInputIds: decoderInputIds(labels: labels), encoderOutput: encoderOutput)
    return (logits, try loss(logits: logits, labels: labels))
  }

  /// shift_tokens_right: [decoder_start] + labels[:-1], -100 -> pad (SPEC §3.14).
  public func decoderInputIds(labels: [[Int32]]) -> [[Int32]] {
    let start = Int32(config.text.decoderStartTokenId), pad = Int32(config.text.padTokenId)
    return labels.map { row in
      guard !row.isEmpty else { return [] }
      return ([start] + row.dropLast()).map { $0 == -100 ? pad : $0 }
    }
  }

  /// Mean cross-entropy over labels != -100, logit t against label t (no further shift; SPEC §3.14).
  public func loss(logits: Tensor, labels: [[Int32]]) throws -> Float {
    let v = languageModel.vocabSize
    let targets = try flatten(labels, rows: labels.count, what: "labels", allowIgnore: true)
    guard targets.count * v == logits.count else {
      throw ModelError(file: "labels", "\(targets.count) labels for logits of shape \(logits.shape)")
    }
    return targets.withUnsafeBufferPointer {
      CrossEntropy.forwardBackward(
        logits: logits.data, targets: $0.baseAddress!, rows: targets.count, vocab: v,
        dlogits: nil)
    }
  }

  /// Rows of equal length, ids inside the vocabulary (-100 allowed for labels), flattened.
  func flatten(_ rows: [[Int32]], rows expected: Int, what: String, allowIgnore: Bool = false) throws -> [Int32] {
    guard rows.count == expected, let width = rows.first?.count, rows.allSatisfy({ $0.count == width }) else {
      throw ModelError(file: what, "expected \(expected) rows of equal length, got lengths \(rows.map(\.count))")
    }
    let v = Int32(languageModel.vocabSize)
    let flat = rows.flatMap { $0 }
    if let bad = flat.first(where: { ($0 < 0 || $0 >= v) && !(allowIgnore && $0 == -100) }) {
      throw ModelError(file: what, "token id \(bad) is outside the vocabulary (ids 0 to \(v - 1))")
    }
    return flat
  }
}
