// Remote code Florence2ForConditionalGeneration.forward(pixel_values, input_ids, labels) in training: the
// SPEC §3.14 loss and one backward pass through every module down to `options.reach`. Base weights are
// frozen; a layer with trainable parameters in a slot (an adapter) accumulates its own gradients in its
// backward.
//
// Two entries, one code path: `trainingStep(pixelValues:)` runs the vision tower and projector, then the text
// step (`trainingStep(imageFeatures:)`: merge [image features ‖ prompt embeddings], BART encoder, decoder,
// loss, and the backward of all of it down to the image features), then the vision backward from the image
// features' gradient. A trainer that adapts no vision module and has vision drop path off calls the text step
// directly with cached features. The activations backward reads are the `Saved` structs each module's
// forwardTrain returns; with checkpointing, only each layer's input (but for the last layers, which backward reaches
// first).
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
    defer { Profile.pass = .forward }  // the text step turns a profile's plain GEMMs to backward
    let reach = options.reach
    let lowestStage: Int = {
      switch reach {
      case .pixels: 0
      case .vision(let s): max(0, min(4, s))
      default: 4
      }
    }()

    // MARK: vision tower: stages below `lowestStage` need no backward (nor their drop path draws, when off)
    var x = channelsLast(pixelValues)
    var stages: [DaViT.StageSaved] = []
    for i in 0..<visionTower.convs.count {
      if i >= lowestStage || options.visionDropout {
        let recompute = options.checkpointing.recomputes(visionStage: i)
        let top = i == visionTower.convs.count - 1
        let (y, saved) = visionTower.stageTrain(i, x, ctx: ctx, recompute: recompute, keepingLast: top)
        if i >= lowestStage { stages.append(saved) }
        x = y
      } else {
        x = visionTower.stage(i, x)
      }
    }
    let gridSide = x.shape[1]
    let (imageFeatures, projectorNorm) = try imageProjector.forwardTrain(x)
    x = Tensor(zeros: [0])  // the tower output is not needed again: the projector keeps its own copy

    // MARK: merge, encoder, decoder, loss and their backward (the random stream continues from the tower's)
    var result = try textStep(imageFeatures: imageFeatures, promptIds: promptIds, labels: labels, ctx: ctx)

    // MARK: vision backward, top down
    guard reach >= .vision(stage: 4), let dFeatures = result.imageFeatures else { return result }
    var dx = imageProjector.backward(dFeatures, projectorNorm, gridSide: gridSide)
    result.visionOutput = dx
    for i in (lowestStage..<visionTower.convs.count).reversed() {
      guard var saved = stages.popLast() else { break }  // freed stage by stage
      // Below the lowest stage nothing needs a gradient: its patch conv forms only its own parameters'.
      let inputGradient = i > lowestStage || reach == .pixels
      guard let d = visionTower.stageBackward(i, dx, &saved, ctx: ctx, inputGradient: inputGradient) else { break }
      dx = d
    }
    if reach == .pixels { result.pixelValues = channelsFirst(dx) }
    return result
  }
}

extension Florence2 {
  /// Forward + backward from image features [B, N, d] (what `imageFeatures(pixelValues:)` returns), prompts
  /// [B][T] (equal lengths) and labels [B][L] (-100 = ignored). The step's `imageFeatures` holds d loss / d
  /// image features when `options.reach` is a vision reach; nothing below the features is run. Equal to
  /// `trainingStep(pixelValues:)` when `options.visionDropout` is off (the random stream then starts here).
  public func trainingStep(imageFeatures: Tensor, promptIds: [[Int32]], labels: [[Int32]], options: TrainingOptions)
    throws -> TrainingStep
  {
    guard imageFeatures.rank == 3, imageFeatures.shape[2] == languageModel.dim else {
      throw ModelError(
        file: "image features", "expected [B, N, \(languageModel.dim)], got \(imageFeatures.shape)")
    }
    let b = imageFeatures.shape[0]
    guard labels.count == b, promptIds.count == b else {
      throw ModelError(file: "labels", "\(labels.count) label rows and \(promptIds.count) prompts for \(b) images")
    }
    defer { Profile.pass = .forward }
    return try textStep(
      imageFeatures: imageFeatures, promptIds: promptIds, labels: labels, ctx: TrainingContext(options: options))
  }

  /// The shared text forward + backward; `ctx` carries the random stream on from the tower when there is one.
  func textStep(imageFeatures: Tensor, promptIds: [[Int32]], labels: [[Int32]], ctx: TrainingContext) throws
    -> TrainingStep
  {
    let options = ctx.options, reach = options.reach
    let text = config.text, d = languageModel.dim
    let b = imageFeatures.shape[0]

    // MARK: merge and encoder
    let ids = try flatten(promptIds, rows: b, what: "prompt ids")
    let t = ids.count / b, n = imageFeatures.shape[1], s = n + t
    let encoder = languageModel.encoder
    guard s <= encoder.embedPositions.maxPositions else {
      throw ModelError(
        file: "encoder input", "\(s) tokens exceed max_position_embeddings \(encoder.embedPositions.maxPositions)")
    }
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

    // merged + positions: the merge itself is not needed in backward
    let positioned = encoder.positioned(merge(imageFeatures: imageFeatures, promptIds: ids, rows: b))
    let (encoderEmbedded, encoderEmbedNorm) = encoder.layernormEmbedding.forwardTrain(positioned)
    let encoderEmbedMask = ctx.dropout(encoderEmbedded, p: text.dropout)
    let textRecompute = options.checkpointing.recomputesText
    var h = encoderEmbedded
    // With checkpointing, each layer but the last of the encoder and of the decoder keeps only its input: the
    // last one's activations are what the forward has just made, and its backward comes next (the encoder's after
    // the decoder's, whose activations are small), so recomputing them would only rebuild what was freed.
    var encoderLayers: [LayerActivations<BartEncoderLayer.Saved>] = []
    for (j, layer) in encoder.layers.enumerated() {
      let recompute = textRecompute && j < encoder.layers.count - 1
      if recompute && reach >= .encoder { encoderLayers.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, saved) = layer.forwardTrain(h, batch: b, config: text, ctx: ctx)
      if !recompute && reach >= .encoder { encoderLayers.append(.kept(saved)) }
      h = y
    }
    let encoderOutput = h

    // MARK: decoder and loss
    h = decoder.embed(decoderIds, rows: b, firstPosition: 0, shared: languageModel.shared)
    _ = ctx.dropout(h, p: text.dropout)  // frozen embeddings: the mask is not needed for backward
    // A LoRA on lm_head alone: its A/B gradients come from dLogits and the decoder output, so nothing below the
    // head is differentiated (no decoder activations kept, no d hidden). Same random stream as the full path.
    let headOnly =
      reach == .decoder && languageModel.lmHead.hasTrainableParameters
      && !trainable(under: "language_model.model.decoder.")
    var decoderLayers: [LayerActivations<BartDecoderLayer.Saved>] = []
    for (j, layer) in decoder.layers.enumerated() {
      let recompute = textRecompute && j < decoder.layers.count - 1
      if recompute && !headOnly { decoderLayers.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, saved) = layer.forwardTrain(h, encoderOutput: encoderOutput, batch: b, config: text, ctx: ctx)
      if !recompute && !headOnly { decoderLayers.append(.kept(saved)) }
      h = y
    }
    let hidden = h
    let v = languageModel.vocabSize
    let dLogits = Tensor(uninitialized: Array(hidden.shape.dropLast()) + [v])  // every row written by the loss
    var headSaved = LayerSaved()
    let loss = targets.withUnsafeBufferPointer { ids in
      let (logits, saved) = languageModel.logitsTrain(hidden, ctx: ctx)  // freed once the loss is formed
      headSaved = saved
      return CrossEntropy.forwardBackward(
        logits: logits.data, targets: ids.baseAddress!, rows: targets.count, vocab: v, dlogits: dLogits.data)
    }
    var result = TrainingStep(loss: loss, keptTokens: kept)

    // MARK: backward, top down
    Profile.pass = .backward  // a profile counts plain GEMMs from here on as backward's
    // lm_head: frozen (tied) weight; a LoRA on it takes its A/B gradients from dLogits here.
    if headOnly {
      languageModel.lmHead.accumulateParameterGradients(dout: dLogits, input: hidden, saved: headSaved)
      return result
    }
    var dh = languageModel.logitsBackward(dLogits, hidden: hidden, saved: headSaved)
    let dEncoderOutput = Tensor(zeros: encoderOutput.shape)
    // Each layer's activations are popped as backward reaches them, so they are freed once used.
    for layer in decoder.layers.reversed() {
      guard let activations = decoderLayers.popLast() else { break }
      let saved = activations.saved(ctx) {
        layer.forwardTrain($0, encoderOutput: encoderOutput, batch: b, config: text, ctx: ctx).1
      }
      dh = layer.backward(dh, saved, dEncoderOutput: dEncoderOutput)
    }
    result.encoderOutput = dEncoderOutput
    guard reach >= .encoder else { return result }

    dh = dEncoderOutput
    for layer in encoder.layers.reversed() {
      guard let activations = encoderLayers.popLast() else { break }
      dh = layer.backward(dh, activations.saved(ctx) { layer.forwardTrain($0, batch: b, config: text, ctx: ctx).1 })
    }
    let dMerged = encoder.layernormEmbedding.backward(dropoutBackward(dh, mask: encoderEmbedMask), encoderEmbedNorm)
    result.inputsEmbeds = dMerged
    guard reach >= .vision(stage: 4) else { return result }

    let dFeatures = Tensor(uninitialized: imageFeatures.shape)
    for i in 0..<b { (dFeatures.data + i * n * d).update(from: dMerged.data + i * s * d, count: n * d) }
    result.imageFeatures = dFeatures
    return result
  }

  /// Some Linear / Conv2d slot under `prefix` holds a layer with trainable parameters (its gradient needs the
  /// backward through that part).
  func trainable(under prefix: String) -> Bool {
    modules.entries.contains { entry in
      guard entry.path.hasPrefix(prefix) else { return false }
      switch entry.kind {
      case .linear(let slot): return slot.get().hasTrainableParameters
      case .conv2d, .other: return false
      }
    }
  }
}
