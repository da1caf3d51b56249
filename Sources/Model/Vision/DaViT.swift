// transformers models/florence2/modeling_florence2.py: Florence2VisionBackbone / Florence2VisionBlock (remote
// code: DaViT with `head` and `norms` deleted; forward_features_unpool). Key path: vision_tower.
import FlrCore

/// One DaViT block: `blocks.{stage}.{j}` = spatial block then channel block.
final class DaViTBlock {
  let spatialBlock: SpatialBlock
  let channelBlock: ChannelBlock

  init(_ w: Weights, config: VisionConfig, stage: Int, spatialDropPath: Float, channelDropPath: Float) {
    spatialBlock = SpatialBlock(w.child("spatial_block"), config: config, stage: stage, dropPath: spatialDropPath)
    channelBlock = ChannelBlock(w.child("channel_block"), config: config, stage: stage, dropPath: channelDropPath)
  }

  func forward(_ x: Tensor) -> Tensor { channelBlock.forward(spatialBlock.forward(x)) }
}

/// The vision tower: for each stage, patch embedding then its blocks. No final norm, no pooling (SPEC §3.7).
public final class DaViT {
  let convs: [ConvEmbed]
  let blocks: [[DaViTBlock]]
  public let config: VisionConfig

  init(_ w: Weights, config: VisionConfig) {
    self.config = config
    // Drop-path rates: linspace(0, drop_path_rate, 2·Σdepths); block b (counted over all stages) uses
    // r[2b] for its spatial and r[2b+1] for its channel sub-block (SPEC §3.15).
    let total = 2 * config.depths.reduce(0, +)
    let rates = (0..<total).map { total > 1 ? config.dropPathRate * Float($0) / Float(total - 1) : 0 }
    var convs: [ConvEmbed] = []
    var blocks: [[DaViTBlock]] = []
    var b = 0
    for i in 0..<config.dimEmbed.count {
      convs.append(ConvEmbed(w.child("convs").child(i), config: config, stage: i))
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
    self.convs = convs
    self.blocks = blocks
  }

  /// pixelValues [B, 3, H, W] (NCHW, as the processor makes them) -> last stage tokens [B, h, w, C_last]
  public func forward(_ pixelValues: Tensor) -> Tensor {
    var x = channelsLast(pixelValues)  // [B, H, W, 3]
    for (conv, stage) in zip(convs, blocks) {
      x = conv.forward(x)
      for block in stage { x = block.forward(x) }
    }
    return x
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
