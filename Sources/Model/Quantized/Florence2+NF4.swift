// `load MODEL quantize=nf4` (the reference script's --quantize): transformers' BitsAndBytesConfig(load_in_4bit, nf4,
// double quant) replaces every nn.Linear by Linear4bit except the tied lm_head (OPTIMIZERS.md §7.1). In flr
// the Linears are the LinearLayer slots of `namedModules()` (DaViT qkv/proj/fc1/fc2, BART q/k/v/out_proj,
// fc1/fc2). lm_head is a slot too (LoRA may wrap it) but is skipped: tied to the shared embedding, it stays
// fp32 like the convs, norms, embeddings and image_projection, and a LoRA on it sits on the fp32 head.
import FlrCheckpoints
import FlrCore

/// How the frozen base Linear weights are held.
public enum WeightQuantization: String, Sendable, CaseIterable {
  case none, nf4
}

/// What quantizing changed: Linear weights replaced and their bytes before/after.
public struct QuantizationSummary: Sendable, CustomStringConvertible {
  public var layers = 0
  public var fp32Bytes = 0  // the replaced weights as fp32
  public var nf4Bytes = 0  // the same weights as NF4 codes + double-quantized absmax

  public var description: String {
    let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
    return "\(layers) Linear weights as NF4: \(mb(nf4Bytes)) (fp32 \(mb(fp32Bytes)), "
      + String(format: "%.2fx smaller)", Double(fp32Bytes) / Double(max(nf4Bytes, 1)))
  }
}

extension Florence2 {
  /// Replaces every plain Linear by an NF4LinearLayer quantized from its fp32 weight, one layer at a time (the
  /// fp32 weight is freed as its layer is replaced). Quantize before attaching LoRA: a slot holding an
  /// adapter is an error. `sourceDType` is the checkpoint's weight dtype, recorded for `save model … quantized`.
  @discardableResult
  public func quantizeLinearsNF4(sourceDType: String = "float32") throws -> QuantizationSummary {
    var summary = QuantizationSummary()
    for entry in namedModules() {
      guard case .linear(let slot) = entry.kind, entry.path != Self.lmHeadPath else { continue }
      let layer = slot.get()
      if layer is NF4LinearLayer { continue }
      guard type(of: layer) == LinearLayer.self else {
        throw ModelError(
          file: entry.path, "holds \(type(of: layer)); quantize the base model before attaching an adapter")
      }
      let q: NF4LinearLayer
      do { q = try NF4LinearLayer(quantizing: layer, sourceDType: sourceDType) } catch {
        throw ModelError(file: entry.path, "cannot quantize: \(error)")
      }
      slot.set(q)
      summary.layers += 1
      summary.fp32Bytes += layer.weight.count * 4
      summary.nf4Bytes += q.quantized.residentBytes
    }
    // The replaced fp32 weights went to the activation buffer pool (up to 1 GB); free them for real.
    let poolLimit = TensorBuffer.poolLimitBytes
    TensorBuffer.poolLimitBytes = 0
    TensorBuffer.poolLimitBytes = poolLimit
    return summary
  }

  /// The NF4 Linear layers by their original (remote-code) module path.
  public func nf4Layers() -> [(path: String, layer: NF4LinearLayer)] {
    namedModules().compactMap { entry in
      guard case .linear(let slot) = entry.kind, let q = slot.get() as? NF4LinearLayer else { return nil }
      return (entry.path, q)
    }
  }
}

extension CheckpointSet {
  /// torch's name for the dtype most floating tensors of the checkpoint have ("float32", "bfloat16", "float16").
  var torchWeightDType: String {
    var counts: [CheckpointDType: Int] = [:]
    for t in tensors.values where t.dtype.isConvertibleToFloat32 { counts[t.dtype, default: 0] += 1 }
    switch counts.max(by: { $0.value < $1.value })?.key {
    case .bf16: return "bfloat16"
    case .f16: return "float16"
    default: return "float32"
    }
  }
}
