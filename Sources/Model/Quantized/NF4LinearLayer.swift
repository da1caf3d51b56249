// bitsandbytes' Linear4bit (nf4, blocks of 64, double-quantized absmax; OPTIMIZERS.md §7) as a LinearLayer:
// the frozen weight lives only as NF4 codes (about 1/7 of its fp32 bytes) and is expanded into a per-layer
// temporary just for the matrix product, forward and backward, so at most one layer's fp32 weight exists at
// a time. The expansion is bitsandbytes' dequantize_4bit (NF4[code] · absmax, fp32), and the product is the
// same Linear kernel the fp32 model runs: a quantized model computes exactly what the fp32 model computes
// with its weights replaced by their dequantized values. (bitsandbytes then casts to bf16, the seed's compute
// dtype; flr computes in fp32 throughout, so that cast is the one deliberate difference.)
import FlrCore

public final class NF4LinearLayer: LinearLayer {
  public let quantized: NF4Tensor  // [out, in]
  /// The torch dtype the weight had in its checkpoint ("float32", "bfloat16", "float16"); written into
  /// quant_state when saved, as transformers records it.
  public let sourceDType: String

  /// Quantizes `base`'s fp32 weight; the bias stays fp32 (as in Linear4bit). Throws for non-finite weights.
  public init(quantizing base: LinearLayer, sourceDType: String = "float32") throws {
    quantized = try NF4Tensor(quantizing: base.weight.data, shape: [base.outFeatures, base.inFeatures])
    self.sourceDType = sourceDType
    // No fp32 weight is kept: `weight` is an empty tensor; forward/backward use `quantized`.
    super.init(weight: Tensor(zeros: [0]), bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }

  /// From a stored NF4 weight (a bitsandbytes checkpoint) and its bias.
  public init(quantized: NF4Tensor, bias: Tensor?, sourceDType: String) throws {
    guard quantized.shape.count == 2 else {
      throw QuantizationError("NF4 weight has shape \(quantized.shape), expected [out, in]")
    }
    self.quantized = quantized
    self.sourceDType = sourceDType
    super.init(weight: Tensor(zeros: [0]), bias: bias, in: quantized.shape[1], out: quantized.shape[0])
  }

  /// Bytes this layer keeps resident for its weight (codes + double-quantized absmax) and bias.
  public var residentBytes: Int { quantized.residentBytes + (bias?.count ?? 0) * 4 }

  /// The whole weight in fp32 [out, in] (tests, merging); forward/backward never build it as a Tensor.
  public func dequantizedWeight() -> Tensor {
    let w = Tensor(zeros: [outFeatures, inFeatures])
    quantized.dequantizeFast(into: w.data)
    return w
  }

  /// x [..., in] -> [..., out]
  public override func forward(_ x: Tensor) -> Tensor {
    let rows = x.count / inFeatures
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    Scratch.withFloats(outFeatures * inFeatures) { w in
      quantized.dequantizeFast(into: w)
      Linear.forward(
        out: y.data, inp: x.data, weight: w, bias: bias?.data, rows: rows, inFeatures: inFeatures,
        outFeatures: outFeatures)
    }
    return y
  }

  /// dout [..., out], input [..., in] -> dinput [..., in] = dout · W_deq (MatMul4Bit: the 4-bit weight is
  /// frozen, no weight or bias gradient).
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    Scratch.withFloats(outFeatures * inFeatures) { w in
      quantized.dequantizeFast(into: w)
      Linear.backward(
        dinp: dinput.data, dweight: nil, dbias: nil, dout: dout.data, inp: input.data, weight: w,
        rows: input.count / inFeatures, inFeatures: inFeatures, outFeatures: outFeatures)
    }
    return dinput
  }
}

extension NF4Tensor {
  /// All `count` values into `out`, bit-identical to `dequantize(from:count:into:)` (same fp32 products),
  /// block by block: each 64-block's 16 possible values are computed once and the codes index them; blocks
  /// are split over the worker threads.
  public func dequantizeFast(into out: UnsafeMutablePointer<Float>) {
    let n = count, bs = Self.blockSize, abs2 = Self.absmaxBlockSize, offset = absmaxOffset
    packed.withUnsafeBufferPointer { packedBuf in
      absmaxCodes.withUnsafeBufferPointer { codes in
        absmaxScales.withUnsafeBufferPointer { scales in
          QuantizationMaps.nf4.withUnsafeBufferPointer { table in
            QuantizationMaps.signed.withUnsafeBufferPointer { signed in
              let p = packedBuf.baseAddress!
              Threads.parallelChunks(blockCount, grain: 256) { blocks in
                var lut = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                  Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                withUnsafeMutableBytes(of: &lut) { raw in
                  let l = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                  for b in blocks {
                    let scale = signed[Int(codes[b])] * scales[b / abs2] + offset
                    for c in 0..<16 { l[c] = table[c] * scale }
                    let start = b * bs, end = Swift.min(n, start + bs)
                    // blocks start at even indices (64 is even), so pairs never straddle a block
                    var j = start
                    while j + 1 < end {
                      let byte = p[j >> 1]
                      out[j] = l[Int(byte >> 4)]
                      out[j + 1] = l[Int(byte & 0xF)]
                      j += 2
                    }
                    if j < end { out[j] = l[Int(p[j >> 1] >> 4)] }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
