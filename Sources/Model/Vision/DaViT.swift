// transformers models/florence2/modeling_florence2.py: Florence2VisionBackbone / Florence2VisionBlock (remote
// code: DaViT with `head` and `norms` deleted; forward_features_unpool). Key path: vision_tower.
import FlrCore

/// One DaViT block: `blocks.{stage}.{j}` = spatial block then channel block.
final class DaViTBlock {
  let spatialBlock: SpatialBlock
  let channelBlock: ChannelBlock

  init(_ w: Weights, config: VisionConfig, stage: Int, spatialDropPath: Float, channelDropPath: Float) {
    w.module("MySequential")
    spatialBlock = SpatialBlock(w.child("spatial_block"), config: config, stage: stage, dropPath: spatialDropPath)
    channelBlock = ChannelBlock(w.child("channel_block"), config: config, stage: stage, dropPath: channelDropPath)
  }

  func forward(_ x: Tensor) -> Tensor { channelBlock.forward(spatialBlock.forward(x)) }

  struct Saved {
    let spatial: SpatialBlock.Saved
    let channel: ChannelBlock.Saved
  }

  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let (h, spatial) = spatialBlock.forwardTrain(x, ctx: ctx)
    let (y, channel) = channelBlock.forwardTrain(h, ctx: ctx)
    return (y, Saved(spatial: spatial, channel: channel))
  }

  /// A checkpoint recompute: forwardTrain's Saved without the block's output (the channel block's fc2 is skipped).
  func savedWithoutOutput(_ x: Tensor, ctx: TrainingContext) -> Saved {
    let (h, spatial) = spatialBlock.forwardTrain(x, ctx: ctx)
    return Saved(spatial: spatial, channel: channelBlock.savedWithoutOutput(h, ctx: ctx))
  }

  func backward(_ dy: Tensor, _ s: Saved) -> Tensor {
    spatialBlock.backward(channelBlock.backward(dy, s.channel), s.spatial)
  }
}

/// The vision tower: for each stage, patch embedding then its blocks. No final norm, no pooling (SPEC §3.7).
public final class DaViT {
  let convs: [ConvEmbed]
  let blocks: [[DaViTBlock]]
  public let config: VisionConfig

  init(_ w: Weights, config: VisionConfig) {
    w.module("DaViT")
    self.config = config
    // Drop-path rates: linspace(0, drop_path_rate, 2·Σdepths); block b (counted over all stages) uses
    // r[2b] for its spatial and r[2b+1] for its channel sub-block (SPEC §3.15).
    let total = 2 * config.depths.reduce(0, +)
    let rates = (0..<total).map { total > 1 ? config.dropPathRate * Float($0) / Float(total - 1) : 0 }
    let stages = 0..<config.dimEmbed.count
    w.child("convs").module("ModuleList")
    convs = stages.map { ConvEmbed(w.child("convs").child($0), config: config, stage: $0) }
    w.child("blocks").module("ModuleList")
    var blocks: [[DaViTBlock]] = []
    var b = 0
    for i in stages {
      w.child("blocks").child(i).module("MySequential")
      var stage: [DaViTBlock] = []
      for j in 0..<config.depths[i] {
        stage.append(
          DaViTBlock(
            w.child("blocks").child(i).child(j), config: config, stage: i, spatialDropPath: rates[2 * b],
            channelDropPath: rates[2 * b + 1]))
        b += 1
      }
      blocks.append(stage)
    }
    self.blocks = blocks
  }

  /// pixelValues [B, 3, H, W] (NCHW, as the processor makes them) -> last stage tokens [B, h, w, C_last]
  public func forward(_ pixelValues: Tensor) -> Tensor {
    var x = channelsLast(pixelValues)  // [B, H, W, 3]
    for i in convs.indices { x = stage(i, x) }
    return x
  }

  /// Stage i's inference forward: x [B, H, W, C_{i-1}] -> [B, h, w, C_i]
  func stage(_ i: Int, _ x: Tensor) -> Tensor {
    var h = convs[i].forward(x)
    for block in blocks[i] { h = block.forward(h) }
    return h
  }

  /// One stage's activations: its patch embedding's, then its blocks' (each kept, or only its input with
  /// checkpointing). `blocks` is consumed by backward, last first, so each block's activations are freed once
  /// used.
  struct StageSaved {
    let embed: ConvEmbed.Saved
    var blocks: [LayerActivations<DaViTBlock.Saved>]
  }

  /// Stage i's forward, keeping what its backward needs. `recompute`: keep only each block's input (and the
  /// random stream's state), recomputed block by block in backward, so at most one block's activations live;
  /// with `keepingLast` too, the last block's activations are kept (the tower's top block: backward reaches it
  /// first, so recomputing it would only rebuild what the forward just freed).
  func stageTrain(_ i: Int, _ x: Tensor, ctx: TrainingContext, recompute: Bool = false, keepingLast: Bool = false)
    -> (Tensor, StageSaved)
  {
    var (h, embed) = convs[i].forwardTrain(x, ctx: ctx)
    var saved: [LayerActivations<DaViTBlock.Saved>] = []
    for (j, block) in blocks[i].enumerated() {
      let recomputed = recompute && !(keepingLast && j == blocks[i].count - 1)
      if recomputed { saved.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, s) = block.forwardTrain(h, ctx: ctx)
      if !recomputed { saved.append(.kept(s)) }
      h = y
    }
    return (h, StageSaved(embed: embed, blocks: saved))
  }

  /// dy [B, h, w, C_i] -> dx, the stage input's gradient (for stage 0: channels-last pixels); nil without
  /// `inputGradient` (the lowest stage backward reaches). Empties `s.blocks` as it goes.
  func stageBackward(_ i: Int, _ dy: Tensor, _ s: inout StageSaved, ctx: TrainingContext, inputGradient: Bool = true)
    -> Tensor?
  {
    var d = dy
    for block in blocks[i].reversed() {
      guard let activations = s.blocks.popLast() else { break }
      d = block.backward(d, activations.saved(ctx) { block.savedWithoutOutput($0, ctx: ctx) })
    }
    return convs[i].backward(d, s.embed, inputGradient: inputGradient)
  }
}

/// [B, C, H, W] -> [B, H, W, C]
func channelsLast(_ x: Tensor) -> Tensor {
  let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let y = Tensor(uninitialized: [b, h, w, c])
  Threads.parallelFor(b * h) { by in
    let bi = by / h, yy = by % h
    for ci in 0..<c {
      let src = x.data + ((bi * c + ci) * h + yy) * w
      let dst = y.data + (by * w) * c + ci
      for xx in 0..<w { dst[xx * c] = src[xx] }
    }
  }
  return y
}

/// [B, H, W, C] -> [B, C, H, W] (the gradient of `channelsLast`)
func channelsFirst(_ x: Tensor) -> Tensor { x.permuted([0, 3, 1, 2]) }
