// Remote code Florence2ForConditionalGeneration.forward(pixel_values, input_ids, labels) in training: the
// SPEC §3.14 loss and one backward pass through every module down to `options.reach`. Base weights are
// frozen; adapted LinearLayer/Conv2dLayer subclasses accumulate their own gradients in their backward.
//
// The activations backward reads are the `...Saved` structs each module's forwardTrain returns; this file
// holds them for the whole step (`StepActivations`), or, with checkpointing, only each layer's input.
import FlrCore

/// Loss and the input-side gradients of one training step (nil where backward did not reach).
public struct TrainingStep {
  public var loss: Float
  /// d loss / d logits was formed for this many label tokens (labels != -100).
  public var keptTokens: Int
  public var encoderOutput: Tensor?  // [B, S, d]
  public var inputsEmbeds: Tensor?  // [B, S, d]: the merged [image features ‖ prompt embeddings]
  public var imageFeatures: Tensor?  // [B, 577, d]
  public var visionOutput: Tensor?  // [B, h, w, C_last]: the DaViT output tokens
  public var pixelValues: Tensor?  // [B, 3, H, W]
}

extension Florence2 {
  /// Forward + backward for pixel values [B, 3, H, W], prompts [B][T] (equal lengths) and labels [B][L]
  /// (-100 = ignored; decoder input = shift_right(labels) with start 2, SPEC §3.14).
  public func trainingStep(pixelValues: Tensor, promptIds: [[Int32]], labels: [[Int32]], options: TrainingOptions)
    throws -> TrainingStep
  {
    guard pixelValues.rank == 4, pixelValues.shape[1] == 3 else {
      throw ModelError(file: "pixel values", "expected [B, 3, H, W], got \(pixelValues.shape)")
    }
    let b = pixelValues.shape[0]
    guard labels.count == b, promptIds.count == b else {
      throw ModelError(file: "labels", "\(labels.count) label rows and \(promptIds.count) prompts for \(b) images")
    }
    let ctx = TrainingContext(options: options)
    let reach = options.reach
    let text = config.text, d = languageModel.dim
    let lowestStage: Int = {
      switch reach {
      case .pixels: 0
      case .vision(let s): max(0, min(4, s))
      default: 4
      }
    }()
    let visionRecompute = options.checkpointing == .all

    // MARK: vision tower: stages below `lowestStage` need no backward
    var x = channelsLast(pixelValues)
    var stages: [DaViTStageSaved] = []
    for i in 0..<visionTower.convs.count {
      if i >= lowestStage || options.dropout {
        let (y, saved) = visionTower.stageTrain(i, x, ctx: ctx, recompute: visionRecompute)
        if i >= lowestStage { stages.append(saved) }
        x = y
      } else {
        x = visionTower.convs[i].forward(x)
        for block in visionTower.blocks[i] { x = block.forward(x) }
      }
    }
    let (imageFeatures, projectorNorm) = try imageProjector.forwardTrain(x)

    // MARK: merge and encoder
    let ids = try flatten(promptIds, rows: b, what: "prompt ids")
    let t = ids.count / b, n = imageFeatures.shape[1], s = n + t
    let prompt = languageModel.embedTokens(ids, rows: b)
    let merged = Tensor(zeros: [b, s, d])
    for i in 0..<b {
      (merged.data + i * s * d).update(from: imageFeatures.data + i * n * d, count: n * d)
      (merged.data + (i * s + n) * d).update(from: prompt.data + i * t * d, count: t * d)
    }
    let encoder = languageModel.encoder
    guard s <= encoder.embedPositions.maxPositions else {
      throw ModelError(
        file: "encoder input", "\(s) tokens exceed max_position_embeddings \(encoder.embedPositions.maxPositions)")
    }
    let positioned = merged.copy()
    for i in 0..<b {
      for p in 0..<s {
        Elementwise.addInPlace(positioned.data + (i * s + p) * d, encoder.embedPositions.row(p), count: d)
      }
    }
    let (encoderEmbedded, encoderEmbedNorm) = encoder.layernormEmbedding.forwardTrain(positioned)
    let encoderEmbedMask = ctx.dropout(encoderEmbedded, p: text.dropout)
    let textRecompute = options.checkpointing != .none
    var h = encoderEmbedded
    var encoderLayers: [LayerActivations<BartEncoderLayerSaved>] = []
    for layer in encoder.layers {
      if textRecompute { encoderLayers.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, saved) = layer.forwardTrain(h, batch: b, config: text, ctx: ctx)
      if !textRecompute && reach >= .encoder { encoderLayers.append(.kept(saved)) }
      h = y
    }
    let encoderOutput = h

    // MARK: decoder and loss
    let decoderIds = try flatten(decoderInputIds(labels: labels), rows: b, what: "decoder input ids")
    let targets = try flatten(labels, rows: b, what: "labels", allowIgnore: true)
    let decoder = languageModel.decoder
    let tl = decoderIds.count / b
    guard tl <= decoder.embedPositions.maxPositions else {
      throw ModelError(
        file: "labels", "\(tl) tokens exceed max_position_embeddings \(decoder.embedPositions.maxPositions)")
    }
    let kept = targets.filter { $0 != -100 }.count
    guard kept > 0 else { throw ModelError(file: "labels", "every label is -100: the loss is undefined") }
    h = decoder.embed(decoderIds, rows: b, firstPosition: 0, shared: languageModel.shared)
    _ = ctx.dropout(h, p: text.dropout)  // frozen embeddings: the mask is not needed for backward
    var decoderLayers: [LayerActivations<BartDecoderLayerSaved>] = []
    for layer in decoder.layers {
      if textRecompute { decoderLayers.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, saved) = layer.forwardTrain(h, encoderOutput: encoderOutput, batch: b, config: text, ctx: ctx)
      if !textRecompute { decoderLayers.append(.kept(saved)) }
      h = y
    }
    let hidden = h
    let logits = languageModel.logits(hidden)
    let dLogits = Tensor(zeros: logits.shape)
    let v = languageModel.vocabSize
    let loss = targets.withUnsafeBufferPointer {
      CrossEntropy.forwardBackward(
        logits: logits.data, targets: $0.baseAddress!, rows: targets.count, vocab: v, dlogits: dLogits.data)
    }
    var result = TrainingStep(loss: loss, keptTokens: kept)

    // MARK: backward, top down
    var dh = Tensor(zeros: hidden.shape)
    Linear.backward(
      dinp: dh.data, dweight: nil, dbias: nil, dout: dLogits.data, inp: hidden.data, weight: languageModel.shared.data,
      rows: hidden.count / d, inFeatures: d, outFeatures: v)
    let dEncoderOutput = Tensor(zeros: encoderOutput.shape)
    for (layer, activations) in zip(decoder.layers, decoderLayers).reversed() {
      let saved: BartDecoderLayerSaved
      switch activations {
      case .kept(let s): saved = s
      case .recompute(let input, let rng):
        ctx.rng = rng
        saved = layer.forwardTrain(input, encoderOutput: encoderOutput, batch: b, config: text, ctx: ctx).1
      }
      dh = layer.backward(dh, saved, dEncoderOutput: dEncoderOutput)
    }
    result.encoderOutput = dEncoderOutput
    guard reach >= .encoder else { return result }

    dh = dEncoderOutput
    for (layer, activations) in zip(encoder.layers, encoderLayers).reversed() {
      let saved: BartEncoderLayerSaved
      switch activations {
      case .kept(let s): saved = s
      case .recompute(let input, let rng):
        ctx.rng = rng
        saved = layer.forwardTrain(input, batch: b, config: text, ctx: ctx).1
      }
      dh = layer.backward(dh, saved)
    }
    let dMerged = encoder.layernormEmbedding.backward(dropoutBackward(dh, mask: encoderEmbedMask), encoderEmbedNorm)
    result.inputsEmbeds = dMerged
    guard reach >= .vision(stage: 4) else { return result }

    let dFeatures = Tensor(zeros: imageFeatures.shape)
    for i in 0..<b { (dFeatures.data + i * n * d).update(from: dMerged.data + i * s * d, count: n * d) }
    result.imageFeatures = dFeatures
    var dx = imageProjector.backward(dFeatures, projectorNorm, gridSide: x.shape[1])
    result.visionOutput = dx
    for (i, saved) in zip(lowestStage..<visionTower.convs.count, stages).reversed() {
      dx = visionTower.stageBackward(i, dx, saved, ctx: ctx)
    }
    if reach == .pixels { result.pixelValues = channelsFirst(dx) }
    return result
  }
}
