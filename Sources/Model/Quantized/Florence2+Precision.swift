// `load MODEL precision=fp32|bf16|int8`: the frozen weights in reduced precision, converted in one pass over
// the Linear and Conv2d slots of `namedModules()` after an fp32 load.
//   bf16: every Linear (DaViT, BART, lm_head) as BF16LinearLayer, every Conv2d (the patch embeddings) as
//         BF16Conv2dLayer.
//   int8: the text side (BART Linears and lm_head: memory-bound decoding, where a quarter of the bytes pays)
//         as Int8LinearLayer; the vision side (compute-bound) as in bf16 where the kernels have bf16 dot
//         products (twice the fp32 rate, and closer image features), else its Linears as int8 too (the patch
//         convs stay bf16).
// LayerNorm, softmax, attention scores, GELU, residuals, embeddings, the depthwise convs and image_projection
// stay fp32. lm_head gets its own reduced copy of the tied embedding; the embedding lookups keep fp32. bf16 and
// int8 decoding keep the cross-attention keys/values as bf16 (prepareDecoding).
import FlrCheckpoints
import FlrCore

/// The precision the frozen weights are held and multiplied in.
public enum WeightPrecision: String, Sendable, CaseIterable {
  case fp32, bf16, int8

  /// Also accepts torch's names (`float32`, `bfloat16`), as the one-shot `--dtype` flags give them.
  public init?(name: String) {
    switch name.lowercased() {
    case "fp32", "float32", "float": self = .fp32
    case "bf16", "bfloat16": self = .bf16
    case "int8", "qint8": self = .int8
    default: return nil
    }
  }
}

/// What a conversion changed.
public struct PrecisionSummary: Sendable, CustomStringConvertible {
  public var precision = WeightPrecision.fp32
  public var bf16Layers = 0, int8Layers = 0, bf16Convs = 0
  public var fp32Bytes = 0  // the converted Linear and Conv2d weights as fp32
  public var storedBytes = 0  // the same weights as stored now

  public var description: String {
    let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
    var parts: [String] = []
    if bf16Layers > 0 { parts.append("\(bf16Layers) Linear weights as bf16") }
    if int8Layers > 0 { parts.append("\(int8Layers) \(parts.isEmpty ? "Linear weights " : "")as int8") }
    if bf16Convs > 0 { parts.append("\(bf16Convs) conv weights as bf16") }
    return parts.joined(separator: ", ") + ": \(mb(storedBytes)) (fp32 \(mb(fp32Bytes)))"
  }
}

extension Florence2 {
  /// Converts the frozen fp32 weights to `precision` (fp32: nothing to do). Convert before attaching LoRA and
  /// not on an NF4 model: a slot holding anything but a plain layer is an error.
  @discardableResult
  public func convertWeights(to precision: WeightPrecision) throws -> PrecisionSummary {
    var summary = PrecisionSummary(precision: precision)
    if precision == .fp32 { return summary }
    // int8's vision Linears: bf16 where the kernels multiply bf16 natively (AVX512_BF16, twice sgemm's rate, and
    // closer image features); int8 elsewhere, where bf16 computes below fp32 speed and the integer dot products
    // run at about twice sgemm's rate.
    let visionInt8 = precision == .int8 && !KernelPath.hasNativeBF16
    for entry in namedModules() {
      let textSide = entry.path.hasPrefix("language_model.")
      switch entry.kind {
      case .linear(let slot):
        let layer = slot.get()
        guard type(of: layer) == LinearLayer.self else {
          throw ModelError(
            file: entry.path,
            "holds \(type(of: layer)); precision=\(precision.rawValue) converts an fp32 model before any adapter "
              + "or quantize=nf4")
        }
        let converted: LinearLayer
        if precision == .int8 && (textSide || visionInt8) {
          let q = Int8LinearLayer(converting: layer)
          summary.int8Layers += 1
          summary.storedBytes += q.stored.residentBytes
          converted = q
        } else {
          let h = BF16LinearLayer(converting: layer)
          summary.bf16Layers += 1
          summary.storedBytes += h.stored.residentBytes
          converted = h
        }
        summary.fp32Bytes += layer.weight.count * 4
        slot.set(converted)
      case .conv2d(let slot):
        let conv = slot.get()
        guard type(of: conv) == Conv2dLayer.self else {
          throw ModelError(
            file: entry.path,
            "holds \(type(of: conv)); precision=\(precision.rawValue) converts an fp32 model before any adapter")
        }
        let h = BF16Conv2dLayer(converting: conv)
        summary.bf16Convs += 1
        summary.storedBytes += h.stored.residentBytes
        summary.fp32Bytes += conv.weight.count * 4
        slot.set(h)
      case .other:
        break
      }
    }
    // The replaced fp32 weights went to the activation buffer pool (up to 1 GB); free them for real.
    let poolLimit = TensorBuffer.poolLimitBytes
    TensorBuffer.poolLimitBytes = 0
    TensorBuffer.poolLimitBytes = poolLimit
    return summary
  }

  /// The precision the Linear weights are held in (fp32 for a plain or NF4 model).
  public var weightPrecision: WeightPrecision {
    var sawBF16 = false
    for entry in namedModules() {
      guard case .linear(let slot) = entry.kind else { continue }
      var layer = slot.get()
      if let lora = layer as? LoRALinear { layer = lora.base }
      if layer is Int8LinearLayer { return .int8 }
      if layer is BF16LinearLayer { sawBF16 = true }
    }
    return sawBF16 ? .bf16 : .fp32
  }
}

extension Florence2 {
  /// torch's name for the weight dtype of the checkpoint in `folder` ("float32", "bfloat16", "float16").
  public static func checkpointDType(folder: String) throws -> String {
    try CheckpointSet.open(folder: folder).torchWeightDType
  }
}
