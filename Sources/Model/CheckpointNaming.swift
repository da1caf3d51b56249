// The one place checkpoint quirks are handled (mlx-swift-examples' `sanitize`): transformers-5 (native) names
// are renamed to the original remote-code names the modules bind (SPEC §6.1), the native transposed
// `image_projection` is flagged for a transpose, the four tied embedding names collapse onto `shared`, and
// the two buffers the reference can rebuild (`final_logits_bias`, `visual_temporal_embed`) are filled in
// when a file leaves them out.
import FlrCheckpoints
import FlrCore
import Foundation

public enum CheckpointNaming {
  public static let shared = "language_model.model.shared.weight"
  /// Every name `shared` may be stored under (tie_word_embeddings), in the order a loader prefers them.
  public static let tiedEmbeddingNames = [
    shared, "language_model.model.encoder.embed_tokens.weight",
    "language_model.model.decoder.embed_tokens.weight", "language_model.lm_head.weight",
  ]
  public static let finalLogitsBias = "language_model.final_logits_bias"
  public static let temporalTable = "visual_temporal_embed.pos_idx_to_embed"

  /// Native (transformers 5) key -> original key; nil when `name` is not a native key.
  public static func originalName(ofNative name: String) -> String? {
    if name == "lm_head.weight" { return "language_model.lm_head.weight" }
    if let rest = name.dropPrefix("model.language_model.") { return "language_model.model." + rest }
    if let rest = name.dropPrefix("model.multi_modal_projector.") {
      if rest == "image_projection.weight" { return "image_projection" }
      if let r = rest.dropPrefix("image_position_embed.") { return "image_pos_embed." + r }
      return rest  // image_proj_norm.*, visual_temporal_embed.*
    }
    guard let rest = name.dropPrefix("model.vision_tower.") else { return nil }
    if rest.hasPrefix("convs.") { return "vision_tower." + rest.replacingFirst(".conv.", with: ".proj.") }
    // blocks.{s}.{b}.{spatial|channel}_block.{module}.{tensor}
    var parts = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard parts.count >= 6, parts[0] == "blocks" else { return "vision_tower." + rest }
    let kind = parts[3]  // spatial_block / channel_block
    let attention = kind == "spatial_block" ? "window_attn" : "channel_attn"
    let module = parts[4]
    let tail = parts[5...].joined(separator: ".")
    let head = parts[0...3].joined(separator: ".")
    let mapped: String
    switch module {
    case "conv1", "conv2": mapped = "\(module).fn.dw.\(tail)"
    case "norm1": mapped = "\(attention).norm.\(tail)"
    case "norm2": mapped = "ffn.norm.\(tail)"
    case "window_attn", "channel_attn": mapped = "\(module).fn.\(tail)"
    case "ffn": mapped = "ffn.fn.net.\(tail)"
    default:
      parts[0] = "blocks"
      return "vision_tower." + rest
    }
    return "vision_tower.\(head).\(mapped)"
  }

  /// The checkpoint's tensors under the names the modules bind. `file` names the source in errors.
  public static func canonicalSources(
    _ tensors: [String: CheckpointTensor], config: FlorenceConfig, file: String
  ) throws -> [String: WeightSource] {
    var sources: [String: WeightSource] = [:]
    var renamedFrom: [String: String] = [:]
    for name in tensors.keys.sorted() {
      let tensor = tensors[name]!
      let original = originalName(ofNative: name)
      let key = original ?? name
      if let earlier = renamedFrom[key] {
        throw ModelError(file: file, "tensors '\(earlier)' and '\(name)' both stand for '\(key)'")
      }
      renamedFrom[key] = name
      sources[key] = .checkpoint(tensor, transposed: original == "image_projection")
    }
    // An untied head (tie_word_embeddings false) keeps its own `lm_head.weight`.
    let head = tiedEmbeddingNames[3]
    let untiedHead = config.text.tieWordEmbeddings ? nil : sources.removeValue(forKey: head)
    // Tied embeddings: bind one of them as `shared`; the others must agree in shape and are then dropped.
    let present = tiedEmbeddingNames.filter { sources[$0] != nil }
    if let first = present.first, let chosen = sources[first] {
      for name in present.dropFirst() where sources[name]!.shape == chosen.shape { sources[name] = nil }
      sources[first] = nil
      sources[shared] = chosen
    }
    if let untiedHead { sources[head] = untiedHead }
    if sources[finalLogitsBias] == nil {  // native files have none; the remote code's is all zeros
      sources[finalLogitsBias] = .tensor(Tensor(zeros: [1, config.text.vocabSize]))
    }
    if sources[temporalTable] == nil {
      let v = config.vision
      sources[temporalTable] = .tensor(
        cosineTemporalTable(positions: v.maxTemporalEmbeddings, dim: v.dimEmbed.last ?? 0))
    }
    return sources
  }

  /// The fixed sinusoid `visual_temporal_embed.pos_idx_to_embed` [positions, dim]: even channels
  /// sin(p·ω_i), odd channels cos(p·ω_i), ω_i = exp(-ln(10000)·i/(dim/2)) (native get_sinusoid_embeddings).
  public static func cosineTemporalTable(positions: Int, dim: Int) -> Tensor {
    let table = Tensor(zeros: [positions, dim])
    let half = dim / 2
    guard half > 0 else { return table }
    let step = Float(log(10000.0)) / Float(half)
    for p in 0..<positions {
      for i in 0..<half {
        let angle = Float(p) * Float(exp(Double(Float(i) * -step)))
        table.data[p * dim + 2 * i] = sin(angle)
        table.data[p * dim + 2 * i + 1] = cos(angle)
      }
    }
    return table
  }
}

extension String {
  fileprivate func dropPrefix(_ prefix: String) -> String? {
    hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
  }
  fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
    guard let r = range(of: target) else { return self }
    return replacingCharacters(in: r, with: replacement)
  }
}
