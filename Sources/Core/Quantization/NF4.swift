// bitsandbytes NF4 4-bit weights (`functional.quantize_4bit(quant_type="nf4", blocksize=64,
// compress_statistics=True)` and `dequantize_4bit`; OPTIMIZERS.md §7.2–7.4), byte-compatible with bitsandbytes
// 0.50.2: blocks of 64 consecutive row-major values, absmax per block, x = w·(1/absmax) clamped to [-1, 1]
// (the short last block divides by absmax, as bitsandbytes' CPU path does), code = bucketize against the fp32
// midpoints of the NF4 table (an exact midpoint goes to the lower code), two codes per byte with the even
// element in the high nibble, an odd count padded with a 0.0 (code 7). The absmax vector is double-quantized:
// offset = mean(absmax), (absmax − offset) as 8-bit blockwise codes (block 256, signed dynamic map).

public struct NF4Tensor: Sendable {
  public static let blockSize = 64
  public static let absmaxBlockSize = 256
  public let shape: [Int]
  public let count: Int
  /// (count + 1) / 2 bytes: code[2j] << 4 | code[2j+1].
  public let packed: [UInt8]
  /// Double-quantized absmax (bitsandbytes' `weight.absmax`, `nested_absmax`, `offset`).
  public let absmaxCodes: [UInt8]
  public let absmaxScales: [Float]
  public let absmaxOffset: Float

  public var blockCount: Int { (count + Self.blockSize - 1) / Self.blockSize }
  /// Bytes held: codes, absmax codes and scales (what the quantized weight costs in memory).
  public var residentBytes: Int { packed.count + absmaxCodes.count + absmaxScales.count * 4 + 4 }

  /// Quantizes `shape.reduce(1, *)` fp32 values. Throws for an empty tensor or non-finite values.
  public init(quantizing w: UnsafePointer<Float>, shape: [Int]) throws {
    let n = shape.reduce(1, *)
    guard n > 0 else { throw QuantizationError("NF4: cannot quantize an empty tensor \(shape)") }
    if let bad = (0..<n).first(where: { !w[$0].isFinite }) {
      throw QuantizationError("NF4: tensor \(shape) holds a non-finite value at flat index \(bad)")
    }
    var packed = [UInt8](repeating: 0, count: (n + 1) / 2)
    let absmax = Self.quantizeCodes(w, count: n, into: &packed)
    self.shape = shape
    self.count = n
    self.packed = packed
    (absmaxCodes, absmaxScales, absmaxOffset) = Self.doubleQuantize(absmax)
  }

  /// From stored parts (a checkpoint); NF4Serialized checks them.
  init(shape: [Int], packed: [UInt8], absmaxCodes: [UInt8], absmaxScales: [Float], absmaxOffset: Float) {
    self.shape = shape
    self.count = shape.reduce(1, *)
    self.packed = packed
    self.absmaxCodes = absmaxCodes
    self.absmaxScales = absmaxScales
    self.absmaxOffset = absmaxOffset
  }

  /// Per-64-block absmax of the input and the packed codes (`quantize_4bit`, compress_statistics=False).
  public static func quantizeCodes(_ w: UnsafePointer<Float>, count n: Int, into packed: inout [UInt8]) -> [Float] {
    let table = QuantizationMaps.nf4
    let bounds = (0..<15).map { (table[$0] + table[$0 + 1]) / 2 }
    let blocks = (n + blockSize - 1) / blockSize
    var absmax = [Float](repeating: 0, count: blocks)
    let full = n - n % blockSize
    for b in 0..<blocks {
      let start = b * blockSize, end = min(n, start + blockSize)
      var amax: Float = 0
      for j in start..<end { amax = max(amax, abs(w[j])) }
      let scaled: (Float) -> Float
      if end <= full {
        absmax[b] = amax
        let inv = 1 / max(amax, 1e-38)
        scaled = { $0 * inv }
      } else {
        absmax[b] = max(amax, 1e-38)  // the tail's absmax is stored clamped
        let am = absmax[b]
        scaled = { $0 / am }
      }
      for j in start..<end {
        let x = min(max(scaled(w[j]), -1), 1)
        var code = 0  // torch.bucketize(right=False): number of bounds strictly below x
        while code < 15 && bounds[code] < x { code += 1 }
        if j & 1 == 0 { packed[j >> 1] = UInt8(code << 4) } else { packed[j >> 1] |= UInt8(code) }
      }
    }
    if n & 1 == 1 { packed[n >> 1] |= 7 }  // padding 0.0 → code 7
    return absmax
  }

  /// offset = mean(absmax); codes/scales = 8-bit blockwise quantization of absmax − offset (block 256).
  public static func doubleQuantize(_ absmax: [Float]) -> (codes: [UInt8], scales: [Float], offset: Float) {
    let offset = Float(absmax.reduce(0.0) { $0 + Double($1) } / Double(absmax.count))
    let centered = absmax.map { $0 - offset }
    var codes = [UInt8](repeating: 0, count: absmax.count)
    var scales = [Float](repeating: 0, count: (absmax.count + absmaxBlockSize - 1) / absmaxBlockSize)
    centered.withUnsafeBufferPointer { c in
      codes.withUnsafeMutableBufferPointer { q in
        scales.withUnsafeMutableBufferPointer { s in
          Blockwise8bit.quantizeBlockwise(
            c.baseAddress!, count: centered.count, blockSize: absmaxBlockSize, code: QuantizationMaps.signed,
            codes: q.baseAddress!, absmax: s.baseAddress!)
        }
      }
    }
    return (codes, scales, offset)
  }

  /// absmax_b = signed[code_b] · scale[b / 256] + offset (fp32), as `dequantize_blockwise(...) + offset`.
  public func absmax() -> [Float] {
    absmaxCodes.indices.map {
      QuantizationMaps.signed[Int(absmaxCodes[$0])] * absmaxScales[$0 / Self.absmaxBlockSize] + absmaxOffset
    }
  }

  /// Dequantizes values [start, start + n) into `out` (fp32, NF4[code] · absmax); callers go block by block so
  /// the whole weight is never expanded at once.
  public func dequantize(from start: Int, count n: Int, into out: UnsafeMutablePointer<Float>) {
    let table = QuantizationMaps.nf4
    var blockIndex = -1
    var scale: Float = 0
    for j in start..<(start + n) {
      let b = j / Self.blockSize
      if b != blockIndex {
        blockIndex = b
        scale =
          QuantizationMaps.signed[Int(absmaxCodes[b])] * absmaxScales[b / Self.absmaxBlockSize] + absmaxOffset
      }
      let byte = packed[j >> 1]
      let code = j & 1 == 0 ? byte >> 4 : byte & 0xF
      out[j - start] = table[Int(code)] * scale
    }
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
                var lut = (
                  Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                  Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0)
                )
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
