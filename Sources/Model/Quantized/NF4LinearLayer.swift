// bitsandbytes' Linear4bit (nf4, blocks of 64, double-quantized absmax; OPTIMIZERS.md §7) as a LinearLayer:
// the frozen weight lives only as NF4 codes (about 1/7 of its fp32 bytes). Forward and backward multiply by
// it without expanding it (NF4Matmul.swift: a fused kernel for a decoder step's few rows, L2-sized expanded
// tiles and sgemm for many rows). Every weight value used is bitsandbytes' dequantize_4bit (NF4[code] ·
// absmax, fp32): a quantized model computes what the fp32 model computes with its weights replaced by their
// dequantized values, up to the order of fp32 sums. (bitsandbytes then casts to bf16, the reference script's compute
// dtype; flr computes in fp32 throughout, so that cast is the one deliberate difference.)
import FlrCore

public final class NF4LinearLayer: FrozenReducedLinear<NF4Tensor> {
  /// The NF4 weight [out, in] (bitsandbytes' name for it).
  public var quantized: NF4Tensor { stored }
  /// The torch dtype the weight had in its checkpoint ("float32", "bfloat16", "float16"); written into
  /// quant_state when saved, as transformers records it.
  public let sourceDType: String

  /// Quantizes `base`'s fp32 weight; the bias stays fp32 (as in Linear4bit). Throws for non-finite weights.
  public init(quantizing base: LinearLayer, sourceDType: String = "float32") throws {
    self.sourceDType = sourceDType
    super.init(
      stored: try NF4Tensor(quantizing: base.weight.data, shape: [base.outFeatures, base.inFeatures]),
      bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }

  /// From a stored NF4 weight (a bitsandbytes checkpoint) and its bias.
  public init(quantized: NF4Tensor, bias: Tensor?, sourceDType: String) throws {
    guard quantized.shape.count == 2 else {
      throw QuantizationError("NF4 weight has shape \(quantized.shape), expected [out, in]")
    }
    self.sourceDType = sourceDType
    super.init(stored: quantized, bias: bias, in: quantized.shape[1], out: quantized.shape[0])
  }

  /// Bytes this layer keeps resident for its weight (codes + double-quantized absmax) and bias.
  public var residentBytes: Int { quantized.residentBytes + (bias?.count ?? 0) * 4 }

  /// The whole weight in fp32 [out, in] (tests, merging); forward/backward never build it as a Tensor.
  public func dequantizedWeight() -> Tensor {
    let w = Tensor(zeros: [outFeatures, inFeatures])
    quantized.dequantizeFast(into: w.data)
    return w
  }
}
