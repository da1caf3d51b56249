// Remote code Florence2ForConditionalGeneration.forward(pixel_values, input_ids, labels) in training: the
// SPEC §3.14 loss and one backward pass through every module down to `options.reach`. Base weights are
// frozen; adapted LinearLayer/Conv2dLayer subclasses accumulate their own gradients in their backward.
//
// Two entries, one code path: `trainingStep(pixelValues:)` runs the vision tower and projector, then the text
// step below (`trainingStep(imageFeatures:)`, Florence2+TextTraining.swift), then the vision backward from the
// image features' gradient. The activations backward reads are the `...Saved` structs each module's
// forwardTrain returns; with checkpointing, only each layer's input.
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
    defer { Profile.pass = .forward }  // textStep turns a profile's plain GEMMs to backward
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
    var stages: [DaViTStageSaved] = []
    for i in 0..<visionTower.convs.count {
      if i >= lowestStage || options.visionDropout {
        let recompute = options.checkpointing.recomputes(visionStage: i)
        let (y, saved) = visionTower.stageTrain(i, x, ctx: ctx, recompute: recompute)
        if i >= lowestStage { stages.append(saved) }
        x = y
      } else {
        x = visionTower.convs[i].forward(x)
        for block in visionTower.blocks[i] { x = block.forward(x) }
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
      dx = visionTower.stageBackward(i, dx, &saved, ctx: ctx)
    }
    if reach == .pixels { result.pixelValues = channelsFirst(dx) }
    return result
  }
}
