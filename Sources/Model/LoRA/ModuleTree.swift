// PEFT's view of the model: `model.named_modules()` of the remote-code Florence2ForConditionalGeneration
// (modeling_florence2.py), path by path in the original naming, with a handle on every Linear and Conv2d so
// a LoRA layer can be swapped in and out. Only Linear / Conv2d slots can be adapted; every other module is
// listed with its torch type so a target that hits it gets PEFT's kind of error.
import FlrCore

/// One module as PEFT sees it.
public struct ModuleEntry {
  public enum Kind {
    case linear(LinearSlot)
    case conv2d(Conv2dSlot)
    /// Any other torch module (LayerNorm, PreNorm, depthwise Conv2d, Embedding, containers …), by type name.
    case other(String)
  }
  /// Dotted path in the original (remote-code) naming, e.g. `vision_tower.convs.0.proj`.
  public let path: String
  public let kind: Kind

  public var typeName: String {
    switch kind {
    case .linear: "Linear"
    case .conv2d: "Conv2d"
    case .other(let t): t
    }
  }
}

/// Read/replace one Linear attribute of a module object.
public struct LinearSlot {
  public let get: () -> LinearLayer
  public let set: (LinearLayer) -> Void
}

/// Read/replace one Conv2d attribute of a module object.
public struct Conv2dSlot {
  public let get: () -> Conv2dLayer
  public let set: (Conv2dLayer) -> Void
}

extension Florence2 {
  /// The LM head's module path (original naming; native: `lm_head`).
  public static let lmHeadPath = "language_model.lm_head"

  /// Every module in named_modules() order (parents before children, shared modules once).
  public func namedModules() -> [ModuleEntry] {
    var list: [ModuleEntry] = []
    func other(_ path: String, _ type: String) { list.append(ModuleEntry(path: path, kind: .other(type))) }
    func linear(_ path: String, _ get: @escaping () -> LinearLayer, _ set: @escaping (LinearLayer) -> Void) {
      list.append(ModuleEntry(path: path, kind: .linear(LinearSlot(get: get, set: set))))
    }
    func preNorm(_ path: String, norm: Bool, dropPath: Bool) {
      other(path, "PreNorm")
      if norm { other(path + ".norm", "LayerNorm") }
    }
    func dropPathEntry(_ path: String, _ rate: Float) {
      other(path + ".drop_path", rate > 0 ? "DropPath" : "Identity")
    }
    func mlp(_ path: String, _ ffn: Mlp) {
      other(path + ".fn", "Mlp")
      other(path + ".fn.net", "Sequential")
      linear(path + ".fn.net.fc1", { ffn.fc1 }, { ffn.fc1 = $0 })
      other(path + ".fn.net.act", "GELU")
      linear(path + ".fn.net.fc2", { ffn.fc2 }, { ffn.fc2 = $0 })
    }
    func depthwise(_ path: String) {
      other(path, "PreNorm")
      other(path + ".fn", "DepthWiseConv2d")
      other(path + ".fn.dw", "Conv2d (depthwise, groups = channels)")
    }

    // vision_tower (DaViT)
    other("vision_tower", "DaViT")
    other("vision_tower.convs", "ModuleList")
    for (i, conv) in visionTower.convs.enumerated() {
      let p = "vision_tower.convs.\(i)"
      other(p, "ConvEmbed")
      list.append(
        ModuleEntry(path: p + ".proj", kind: .conv2d(Conv2dSlot(get: { conv.proj }, set: { conv.proj = $0 }))))
      other(p + ".norm", "LayerNorm")
    }
    other("vision_tower.blocks", "ModuleList")
    for (s, stage) in visionTower.blocks.enumerated() {
      other("vision_tower.blocks.\(s)", "MySequential")
      for (b, block) in stage.enumerated() {
        let p = "vision_tower.blocks.\(s).\(b)"
        other(p, "MySequential")
        let sp = block.spatialBlock, sb = p + ".spatial_block"
        other(sb, "SpatialBlock")
        depthwise(sb + ".conv1")
        preNorm(sb + ".window_attn", norm: true, dropPath: true)
        other(sb + ".window_attn.fn", "WindowAttention")
        let wa = sp.windowAttn
        linear(sb + ".window_attn.fn.qkv", { wa.qkv }, { wa.qkv = $0 })
        linear(sb + ".window_attn.fn.proj", { wa.proj }, { wa.proj = $0 })
        other(sb + ".window_attn.fn.softmax", "Softmax")
        dropPathEntry(sb + ".window_attn", sp.dropPath)
        depthwise(sb + ".conv2")
        preNorm(sb + ".ffn", norm: true, dropPath: true)
        mlp(sb + ".ffn", sp.ffn)
        dropPathEntry(sb + ".ffn", sp.dropPath)

        let ch = block.channelBlock, cb = p + ".channel_block"
        other(cb, "ChannelBlock")
        depthwise(cb + ".conv1")
        preNorm(cb + ".channel_attn", norm: true, dropPath: true)
        other(cb + ".channel_attn.fn", "ChannelAttention")
        let ca = ch.channelAttn
        linear(cb + ".channel_attn.fn.qkv", { ca.qkv }, { ca.qkv = $0 })
        linear(cb + ".channel_attn.fn.proj", { ca.proj }, { ca.proj = $0 })
        dropPathEntry(cb + ".channel_attn", ch.dropPath)
        depthwise(cb + ".conv2")
        preNorm(cb + ".ffn", norm: true, dropPath: true)
        mlp(cb + ".ffn", ch.ffn)
        dropPathEntry(cb + ".ffn", ch.dropPath)
      }
    }
    // image side (image_projection is a bare Parameter, not a module)
    other("image_proj_norm", "LayerNorm")
    other("image_pos_embed", "LearnedAbsolutePositionEmbedding2D")
    other("image_pos_embed.row_embeddings", "Embedding")
    other("image_pos_embed.column_embeddings", "Embedding")
    other("visual_temporal_embed", "PositionalEmbeddingCosine1D")

    // language_model (BART)
    func attention(_ p: String, _ a: BartAttention) {
      other(p, "Florence2Attention")
      linear(p + ".k_proj", { a.kProj }, { a.kProj = $0 })
      linear(p + ".v_proj", { a.vProj }, { a.vProj = $0 })
      linear(p + ".q_proj", { a.qProj }, { a.qProj = $0 })
      linear(p + ".out_proj", { a.outProj }, { a.outProj = $0 })
    }
    other("language_model", "Florence2LanguageForConditionalGeneration")
    other("language_model.model", "Florence2LanguageModel")
    other("language_model.model.shared", "Embedding")
    for (side, layerCount) in [
      ("encoder", languageModel.encoder.layers.count), ("decoder", languageModel.decoder.layers.count),
    ] {
      let p = "language_model.model.\(side)"
      other(p, side == "encoder" ? "Florence2Encoder" : "Florence2Decoder")
      // embed_tokens is `shared` (listed once, above)
      other(p + ".embed_positions", "Florence2LearnedPositionalEmbedding")
      other(p + ".layers", "ModuleList")
      for i in 0..<layerCount {
        let lp = "\(p).layers.\(i)"
        if side == "encoder" {
          let layer = languageModel.encoder.layers[i]
          other(lp, "Florence2EncoderLayer")
          attention(lp + ".self_attn", layer.selfAttn)
          other(lp + ".self_attn_layer_norm", "LayerNorm")
          other(lp + ".activation_fn", "GELUActivation")
          linear(lp + ".fc1", { layer.fc1 }, { layer.fc1 = $0 })
          linear(lp + ".fc2", { layer.fc2 }, { layer.fc2 = $0 })
        } else {
          let layer = languageModel.decoder.layers[i]
          other(lp, "Florence2DecoderLayer")
          attention(lp + ".self_attn", layer.selfAttn)
          other(lp + ".activation_fn", "GELUActivation")
          other(lp + ".self_attn_layer_norm", "LayerNorm")
          attention(lp + ".encoder_attn", layer.encoderAttn)
          other(lp + ".encoder_attn_layer_norm", "LayerNorm")
          linear(lp + ".fc1", { layer.fc1 }, { layer.fc1 = $0 })
          linear(lp + ".fc2", { layer.fc2 }, { layer.fc2 = $0 })
        }
        other(lp + ".final_layer_norm", "LayerNorm")
      }
      other(p + ".layernorm_embedding", "LayerNorm")
    }
    // nn.Linear(d, V, bias=False) tied to `shared` (SPEC §2.4). A LoRA on it adapts the output projection only;
    // the embedding lookups keep reading `shared` (as PEFT's lora.Linear on a tied lm_head does).
    let lm = languageModel
    linear(Self.lmHeadPath, { lm.lmHead }, { lm.lmHead = $0 })
    return list
  }
}
