// The text half of a training step (remote code Florence2ForConditionalGeneration.forward after
// _encode_image): merge [image features ‖ prompt embeddings], BART encoder, decoder, SPEC §3.14 loss, and the
// backward of all of it down to the image features. `trainingStep(pixelValues:)` calls it after the tower; a
// trainer that adapts no vision module and has vision drop path off calls it directly with cached features.
import FlrCore

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

    let prompt = languageModel.embedTokens(ids, rows: b)
    let positioned = Tensor(zeros: [b, s, d])  // merged + positions: the merge itself is not needed in backward
    for i in 0..<b {
      (positioned.data + i * s * d).update(from: imageFeatures.data + i * n * d, count: n * d)
      (positioned.data + (i * s + n) * d).update(from: prompt.data + i * t * d, count: t * d)
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
    h = decoder.embed(decoderIds, rows: b, firstPosition: 0, shared: languageModel.shared)
    _ = ctx.dropout(h, p: text.dropout)  // frozen embeddings: the mask is not needed for backward
    // A LoRA on lm_head alone: its A/B gradients come from dLogits and the decoder output, so nothing below the
    // head is differentiated (no decoder activations kept, no d hidden). Same random stream as the full path.
    let headOnly = reach == .decoder && languageModel.lmHead is LoRALinear && !decoderHasLoRA
    var decoderLayers: [LayerActivations<BartDecoderLayerSaved>] = []
    for layer in decoder.layers {
      if textRecompute && !headOnly { decoderLayers.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, saved) = layer.forwardTrain(h, encoderOutput: encoderOutput, batch: b, config: text, ctx: ctx)
      if !textRecompute && !headOnly { decoderLayers.append(.kept(saved)) }
      h = y
    }
    let hidden = h
    let v = languageModel.vocabSize
    let dLogits = Tensor(zeros: Array(hidden.shape.dropLast()) + [v])
    let loss = targets.withUnsafeBufferPointer { ids in
      let logits = languageModel.logits(hidden)
      return CrossEntropy.forwardBackward(
        logits: logits.data, targets: ids.baseAddress!, rows: targets.count, vocab: v, dlogits: dLogits.data)
    }
    var result = TrainingStep(loss: loss, keptTokens: kept)

    // MARK: backward, top down
    Profile.pass = .backward  // a profile counts plain GEMMs from here on as backward's
    // lm_head: frozen (tied) weight; a LoRA on it takes its A/B gradients from dLogits here.
    if headOnly, let head = languageModel.lmHead as? LoRALinear {
      head.accumulateGradients(dout: dLogits, input: hidden, dinput: nil)
      return result
    }
    var dh = languageModel.logitsBackward(dLogits, hidden: hidden)
    let dEncoderOutput = Tensor(zeros: encoderOutput.shape)
    // Each layer's activations are popped as backward reaches them, so they are freed once used.
    for layer in decoder.layers.reversed() {
      guard let activations = decoderLayers.popLast() else { break }
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
    for layer in encoder.layers.reversed() {
      guard let activations = encoderLayers.popLast() else { break }
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
    return result
  }
}

extension Florence2 {
  /// Some decoder Linear carries a LoRA layer (its gradient needs the decoder's backward).
  var decoderHasLoRA: Bool {
    namedModules().contains { entry in
      guard entry.path.hasPrefix("language_model.model.decoder."), case .linear(let slot) = entry.kind else {
        return false
      }
      return slot.get() is LoRALinear
    }
  }
}
